"""`tfp-flows train --data FOLDER` on colour images, then `tfp-flows sample`.

The folder holds the shipped `rgb_patches` (32x32 RGB patches of
scikit-learn's two photos) written as PNG files by the test itself.
"""

import importlib.util
import json

import numpy as np
import pytest

from tfp_flows import cli

_HAVE_TENSORBOARD = importlib.util.find_spec("tensorboard") is not None


@pytest.fixture(scope="module")
def rgb_run(tmp_path_factory):
    from PIL import Image

    from tfp_flows.data.images import load_images

    root = tmp_path_factory.mktemp("rgb")
    folder = root / "patches"
    folder.mkdir()
    for i, img in enumerate(load_images("rgb_patches", split="all")):
        Image.fromarray(img).save(folder / f"patch_{i:03d}.png")
    out = root / "out"
    argv = ["train", "--data", str(folder), "--levels", "2", "--steps", "1"]
    argv += ["--width", "16", "--epochs", "3", "--batch-size", "32"]
    if _HAVE_TENSORBOARD:
        argv.append("--tensorboard")
    argv += ["--no-progress", "--output-dir", str(out)]
    assert cli.main(argv) == 0
    return folder, out


@pytest.mark.slow
def test_colour_glow_trains_and_reports_bits_per_dim(rgb_run):
    folder, out = rgb_run
    metrics = json.loads((out / "metrics.json").read_text())
    meta = json.loads((out / "glow.job.json").read_text())
    assert meta["image_shape"] == [32, 32, 3] and meta["num_levels"] == 256
    # Better than the uniform model (8 bits/dim for 256 levels); an untrained
    # flow with ActNorm initialized from data sits just above 8.
    assert 0 < metrics["test_bits_per_dim"] < 8.0, metrics
    assert metrics["epochs"] == 3 and metrics["finite_samples"]


@pytest.mark.slow
def test_sample_draws_a_png_grid_from_the_saved_model(rgb_run, tmp_path):
    import matplotlib.image

    _, out = rgb_run
    grid = tmp_path / "grid.png"
    argv = ["sample", str(out / "glow.keras"), "-n", "16", "--temperature", "0.7"]
    assert cli.main(argv + ["--out", str(grid)]) == 0
    image = matplotlib.image.imread(grid)
    assert image.ndim == 3 and image.shape[-1] in (3, 4)
    npy = tmp_path / "s.npy"
    assert (
        cli.main(["sample", str(out / "glow.keras"), "-n", "3", "--out", str(npy)]) == 0
    )
    s = np.load(npy)
    assert s.shape == (3, 32, 32, 3) and s.dtype == np.uint8


@pytest.mark.slow
@pytest.mark.skipif(not _HAVE_TENSORBOARD, reason="needs the tensorboard package")
def test_tensorboard_holds_the_sample_grids(rgb_run):
    import tensorflow as tf

    _, out = rgb_run
    files = sorted((out / "tensorboard" / "samples").glob("events.out.tfevents.*"))
    assert files
    steps = []
    for path in files:
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag == "samples":
                    steps.append(event.step)
    assert steps == [1, 2, 3]
    assert list((out / "tensorboard").glob("train/events.out.tfevents.*"))
