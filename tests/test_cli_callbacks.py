"""`tfp_flows.layers.SampleGridLogger` and `tile_images` (TensorBoard grids)."""

import importlib.util

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows.internal.keras import keras
from tfp_flows.layers import SampleGridLogger
from tfp_flows.layers import tile_images


def test_tile_images_places_image_i_at_row_i_div_ncols():
    x = np.arange(5, dtype=np.float32)[:, None, None, None] * np.ones((5, 2, 3, 1))
    grid = tile_images(x, ncols=2)
    assert grid.shape == (3 * 2, 2 * 3, 1)
    for i in range(5):
        r, c = divmod(i, 2)
        assert np.all(grid[2 * r : 2 * r + 2, 3 * c : 3 * c + 3] == i)
    assert np.all(grid[4:, 3:] == 0)  # the empty sixth cell is black


def test_tile_images_rejects_bad_input():
    with pytest.raises(
        ValueError, match=r"`images` must have shape \[N >= 1, H, W, C\]"
    ):
        tile_images(np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match="ncols"):
        tile_images(np.zeros((2, 3, 3, 1)), ncols=0)


_HAVE_TENSORBOARD = importlib.util.find_spec("tensorboard") is not None
needs_tensorboard = pytest.mark.skipif(
    not _HAVE_TENSORBOARD, reason="tf.summary.image needs the tensorboard package"
)


def test_sample_grid_logger_without_tensorboard_says_so(tmp_path, monkeypatch):
    # CI installs tensorboard (the `test` extra): hide it.
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name == "tensorboard" else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(ImportError, match="needs the tensorboard package"):
        SampleGridLogger(tmp_path, lambda m: np.zeros((1, 2, 2, 1)))


@needs_tensorboard
def test_sample_grid_logger_rejects_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match="sample_fn"):
        SampleGridLogger(tmp_path, sample_fn=3)
    with pytest.raises(ValueError, match="every"):
        SampleGridLogger(tmp_path, lambda m: np.zeros((1, 2, 2, 1)), every=0)


@needs_tensorboard
def test_sample_grid_logger_writes_image_summaries(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    calls = []

    def sample_fn(m):
        calls.append(m)
        return np.full((3, 4, 4, 3), 2.0)  # clipped to 1

    logger = SampleGridLogger(tmp_path, sample_fn, every=2, ncols=3)
    x = np.zeros((4, 2), np.float32)
    model.fit(x, x[:, :1], epochs=3, verbose=0, callbacks=[logger])
    assert calls and all(m is model for m in calls)
    events = sorted((tmp_path / "samples").glob("events.out.tfevents.*"))
    found = []
    for path in events:
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag == "samples":
                    image = tf.io.decode_png(value.tensor.string_val[2])
                    found.append((event.step, tuple(image.shape)))
                    assert int(tf.reduce_min(image)) == 255
    # After epoch 2 (every=2) and after the last epoch, 3 (on_train_end).
    assert found == [(2, (4, 12, 3)), (3, (4, 12, 3))]
