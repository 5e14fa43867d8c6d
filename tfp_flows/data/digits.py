"""scikit-learn's shipped 8x8 digits, with a fixed train/test split.

The digits ship inside scikit-learn (no network): 1797 grey images of 8x8
pixels with 17 levels (0..16).
"""

from __future__ import annotations

import math
from typing import Literal
from typing import overload

import numpy as np
import tensorflow as tf

from tfp_flows.internal import checks
from tfp_flows.internal.types import Seed
from tfp_flows.internal.types import TensorLike

__all__ = ["NUM_LEVELS", "bits_per_dim", "dequantize", "load_digits"]

NUM_LEVELS = 17
_TEST_SIZE = 360  # 20% of 1797, fixed
_SPLIT_SEED = 0


@overload
def load_digits(
    split: str = ...,
    *,
    binarize: bool = ...,
    threshold: float = ...,
    with_labels: Literal[False] = ...,
) -> np.ndarray: ...


@overload
def load_digits(
    split: str = ...,
    *,
    binarize: bool = ...,
    threshold: float = ...,
    with_labels: Literal[True],
) -> tuple[np.ndarray, np.ndarray]: ...


@overload
def load_digits(
    split: str = ...,
    *,
    binarize: bool = ...,
    threshold: float = ...,
    with_labels: bool,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]: ...


def load_digits(
    split: str = "train",
    *,
    binarize: bool = False,
    threshold: float = 8,
    with_labels: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Loads the 8x8 digits as integer images `[N, 8, 8, 1]`.

    Args:
      split: `'train'` (1437 images), `'test'` (360 images) or `'all'`. The split
        is a fixed permutation (seed 0), identical on every machine.
      binarize: If True, pixels become `int(pixel >= threshold)` (0 or 1).
      threshold: Threshold used when `binarize` is True (default 8 of 0..16).
      with_labels: Also return the digit labels `[N]`.

    Returns:
      `uint8` array `[N, 8, 8, 1]` with values in `0..16` (or `0..1`), and the
      labels when `with_labels` is True.

    Raises:
      ValueError: for an unknown `split` or a `threshold` that is not a number.

    #### Examples

    >>> x = load_digits("test")
    >>> x.shape, x.dtype.name, int(x.max())
    ((360, 8, 8, 1), 'uint8', 16)
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    if split not in ("train", "test", "all"):
        raise ValueError(
            f"load_digits: argument `split` must be 'train', 'test' or 'all'; "
            f"got {split!r}."
        )
    if binarize:
        checks.check_number(threshold, "threshold", "load_digits")
    bunch = _sk_load_digits()
    images = bunch.images.astype(np.uint8)[..., None]
    labels = bunch.target.astype(np.int64)
    order = np.random.RandomState(_SPLIT_SEED).permutation(len(images))
    if split == "train":
        order = order[_TEST_SIZE:]
    elif split == "test":
        order = order[:_TEST_SIZE]
    images, labels = images[order], labels[order]
    if binarize:
        images = (images >= threshold).astype(np.uint8)
    return (images, labels) if with_labels else images


def dequantize(
    images: TensorLike,
    *,
    num_levels: int = NUM_LEVELS,
    seed: Seed = None,
    center: bool = True,
) -> tf.Tensor:
    """Uniform dequantization: `x = (k + u) / num_levels` with `u ~ U[0, 1)`.

    With `center=True` (default) the result is shifted by -0.5 to lie in
    `[-0.5, 0.5)`, as in Glow; the shift does not change densities.

    Args:
      images: integer tensor or array of levels `0..num_levels-1`.
      num_levels: number of discrete levels (17 for the digits).
      seed: optional stateless seed (int or shape-[2] tensor) for the noise.
      center: subtract 0.5.

    Returns:
      float32 tensor of the same shape.

    Raises:
      ValueError: `num_levels` not an integer >= 1; `images` holding values
        that are not integer levels `0..num_levels-1` (e.g. already
        dequantized floats); a bad `seed`. In a `tf.function` the value
        check is an assertion (`InvalidArgumentError`; dropped under XLA).
    """
    owner = "dequantize"
    num_levels = checks.check_positive_int(num_levels, "num_levels", owner)
    images = tf.convert_to_tensor(images)
    _check_levels(images, num_levels, owner)
    k = tf.cast(images, tf.float32)
    if seed is None:
        u = tf.random.uniform(tf.shape(k), dtype=tf.float32)
    else:
        seed = _check_stateless_seed(seed, owner)
        u = tf.random.stateless_uniform(tf.shape(k), seed=seed, dtype=tf.float32)
    x = (k + u) / float(num_levels)
    return x - 0.5 if center else x


def _check_levels(
    images: tf.Tensor, num_levels: int, owner: str, arg_name: str = "images"
) -> None:
    """Integer levels in `0..num_levels-1`: ValueError eagerly, else asserts."""
    top = num_levels - 1
    dtype = images.dtype
    if not (dtype.is_integer or dtype.is_floating or dtype.is_bool):
        raise ValueError(
            f"{owner}: argument `{arg_name}` must hold integer levels 0..{top}; got "
            f"dtype {images.dtype.name}."
        )
    value = tf.get_static_value(images)
    if value is not None:
        value = np.asarray(value, np.float64)
        if value.size and not np.all(np.mod(value, 1) == 0):
            bad = value[np.mod(value, 1) != 0].reshape(-1)[0]
            raise ValueError(
                f"{owner}: argument `{arg_name}` must hold integer levels 0..{top} "
                f"(num_levels={num_levels}); got a non-integer value {bad!r} "
                "(already dequantized?)."
            )
        if value.size and (value.min() < 0 or value.max() > top):
            raise ValueError(
                f"{owner}: argument `{arg_name}` must hold levels in 0..{top} "
                f"(num_levels={num_levels}); got values in "
                f"{value.min():g}..{value.max():g}."
            )
        return
    if checks.in_xla_context():
        return
    x = tf.cast(images, tf.float32)
    msg = (
        f"{owner}: argument `{arg_name}` must hold integer levels 0..{top} "
        f"(num_levels={num_levels})"
    )
    tf.debugging.assert_equal(x, tf.round(x), message=msg)
    tf.debugging.assert_greater_equal(x, 0.0, message=msg)
    tf.debugging.assert_less_equal(x, float(top), message=msg)


def _check_stateless_seed(seed: Seed, owner: str) -> list[int] | TensorLike:
    """An int seed becomes `[seed, 0]`; a shape-[2] integer seed is kept."""
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return [int(seed), 0]
    if isinstance(seed, (tf.Tensor, tf.Variable)):
        if seed.dtype.is_integer and seed.shape.is_compatible_with([2]):
            return seed
    else:
        arr = np.asarray(seed)
        if arr.shape == (2,) and np.issubdtype(arr.dtype, np.integer):
            return seed
    raise ValueError(
        f"{owner}: argument `seed` must be None, an integer or a pair of integers "
        f"(a stateless seed of shape [2]); got {seed!r}."
    )


def bits_per_dim(
    log_prob: TensorLike,
    num_dims: int | tf.Tensor,
    *,
    num_levels: int | None = None,
    n_bits: int | None = None,
) -> tf.Tensor:
    """Bits per dimension of the discrete data from a continuous `log_prob`.

    `log_prob` is the density of the dequantized data in the `[0, 1)` scaled
    space that `dequantize` (and `preprocess_images`) produce, with `L` levels
    per dimension; the discrete likelihood bound is
    `log P(k) >= log p(x) - D * log(L)`, so

        bits/dim = -(log_prob - D * log(L)) / (D * log(2)).

    `L = 2**n_bits` with `n_bits` (Glow's n-bit images), else `num_levels`
    (17, the digits' levels, when neither is given).

    Args:
      log_prob: tensor of per-example log-densities (nats).
      num_dims: D, the number of dimensions of one example.
      num_levels: number of discrete levels of the data (default 17).
      n_bits: bits per dimension of the data (`num_levels = 2**n_bits`).

    Returns:
      Tensor of the same shape as `log_prob`.

    Raises:
      ValueError: a bad `num_dims`, `num_levels` or `n_bits`, or both of the
        last two given and `num_levels != 2**n_bits`.

    #### Examples

    >>> round(float(bits_per_dim(0.0, 64, num_levels=17)), 9)  # uniform: log2(17)
    4.087462841
    >>> float(bits_per_dim(0.0, 12, n_bits=5))  # uniform over 32 levels
    5.0
    """
    owner = "bits_per_dim"
    if not isinstance(num_dims, (tf.Tensor, tf.Variable)):
        num_dims = checks.check_positive_int(num_dims, "num_dims", owner)
    if n_bits is not None:
        n_bits = checks.check_positive_int(n_bits, "n_bits", owner)
        if num_levels is not None and num_levels != 2**n_bits:
            raise ValueError(
                f"{owner}: arguments `num_levels` and `n_bits` disagree: "
                f"num_levels={num_levels!r} but 2**n_bits={2**n_bits}; give one."
            )
        num_levels = 2**n_bits
    elif num_levels is None:
        num_levels = NUM_LEVELS
    num_levels = checks.check_positive_int(num_levels, "num_levels", owner)
    log_prob = tf.convert_to_tensor(log_prob, dtype_hint=tf.float64)
    d = tf.cast(num_dims, log_prob.dtype)
    return -(log_prob - d * math.log(num_levels)) / (d * math.log(2.0))
