"""Keras callbacks for training flows."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from tfp_flows.bijectors.act_norm import ActNorm
from tfp_flows.internal import checks
from tfp_flows.internal.keras import keras
from tfp_flows.internal.types import FlowInputs
from tfp_flows.internal.types import TensorLike

__all__ = ["ActNormInitializer", "SampleGridLogger", "tile_images"]


class ActNormInitializer(keras.callbacks.Callback):
    """Initializes every ActNorm of a `FlowModel` from data when training begins.

    Args:
      data: a batch (array/tensor, or `(x, context)`), or a `tf.data.Dataset`
        whose first element is used. Skipped if the ActNorms are already
        initialized (e.g. restored from a checkpoint), so resuming never
        re-initializes.
    """

    def __init__(self, data: FlowInputs | tf.data.Dataset):
        super().__init__()
        self.data = data

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Initializes the ActNorms unless all of them are initialized already."""
        acts = [m for m in self.model.flow.submodules if isinstance(m, ActNorm)]
        if acts and all(bool(a.is_initialized) for a in acts):
            return
        data = self.data
        if isinstance(data, tf.data.Dataset):
            data = next(iter(data))
        self.model.initialize_act_norms(data)


def tile_images(images: TensorLike, ncols: int = 8) -> np.ndarray:
    """Tiles `[N, H, W, C]` images into one `[rows * H, ncols * W, C]` grid.

    Empty cells (when `N` is not a multiple of `ncols`) are black.

    Args:
      images: `N` images of shape `[H, W, C]`.
      ncols: images per row (at most `N` are used).

    Returns:
      The grid, of the dtype of `images`.

    Raises:
      ValueError: `images` not of rank 4, or `ncols` not a positive integer.

    #### Examples

    >>> tile_images(np.zeros((5, 2, 3, 1)), ncols=2).shape
    (6, 6, 1)
    """
    owner = "tile_images"
    ncols = checks.check_positive_int(ncols, "ncols", owner)
    x = np.asarray(images)
    if x.ndim != 4 or x.shape[0] < 1:
        raise ValueError(
            f"{owner}: argument `images` must have shape [N >= 1, H, W, C]; got "
            f"shape {list(x.shape)}."
        )
    n, h, w, c = x.shape
    ncols = min(ncols, n)
    rows = -(-n // ncols)
    grid = np.zeros((rows * ncols, h, w, c), x.dtype)
    grid[:n] = x
    grid = grid.reshape(rows, ncols, h, w, c).transpose(0, 2, 1, 3, 4)
    return grid.reshape(rows * h, ncols * w, c)


class SampleGridLogger(keras.callbacks.Callback):
    """Writes a grid of samples to TensorBoard (`tf.summary.image`) each epoch.

    Args:
      log_dir: TensorBoard folder; the images go to `log_dir/samples`.
      sample_fn: called with the model, returns images `[N, H, W, C]` (C = 1
        or 3) with values in `[0, 1]` (clipped).
      every: write after every `every`-th epoch (and always after the last).
      name: the image's tag in TensorBoard.
      ncols: images per row of the grid.

    Raises:
      ImportError: the `tensorboard` package is not installed (TensorFlow's
        `tf.summary.image` needs it).
      ValueError: `every` or `ncols` not a positive integer.
      TypeError: `sample_fn` not callable.

    #### Examples

    >>> import tempfile
    >>> callback = SampleGridLogger(  # doctest: +SKIP
    ...     tempfile.mkdtemp(), lambda model: np.zeros((4, 2, 2, 1)), every=5
    ... )
    """

    def __init__(
        self,
        log_dir: str | os.PathLike[str],
        sample_fn: Callable[[keras.Model], TensorLike],
        *,
        every: int = 1,
        name: str = "samples",
        ncols: int = 8,
    ):
        super().__init__()
        owner = "SampleGridLogger"
        if importlib.util.find_spec("tensorboard") is None:
            raise ImportError(
                f"{owner}: tf.summary.image needs the tensorboard package, which is "
                "not installed (pip install 'tfp_flows[tensorboard]')."
            )
        self.log_dir = os.fspath(log_dir)
        self.sample_fn = checks.check_callable(sample_fn, "sample_fn", owner)
        self.every = checks.check_positive_int(every, "every", owner)
        self.ncols = checks.check_positive_int(ncols, "ncols", owner)
        self.name = name
        self._writer: Any = None
        self._last_epoch = -1

    def _write(self, epoch: int) -> None:
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(
                os.path.join(self.log_dir, "samples")
            )
        images = np.clip(np.asarray(self.sample_fn(self.model), np.float32), 0, 1)
        grid = tile_images(images, self.ncols)
        with self._writer.as_default():
            tf.summary.image(self.name, grid[None], step=epoch + 1)
        self._writer.flush()
        self._last_epoch = epoch

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Writes the grid after every `every`-th epoch (step = epochs done)."""
        if (epoch + 1) % self.every == 0:
            self._write(epoch)
        self._epoch = epoch

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """Writes the last epoch's grid if it was not written yet; closes."""
        epoch = getattr(self, "_epoch", -1)
        if epoch >= 0 and epoch != self._last_epoch:
            self._write(epoch)
        if self._writer is not None:
            self._writer.close()
            self._writer = None
