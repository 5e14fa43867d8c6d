"""Not public API: the jobs' data, from `tfp_flows.data` loaders.

Every job splits its data the same way: `tfp_flows.data`'s fixed permutation
with split seed 0, `TEST_FRACTION` (0.1) of the examples as the test split and
`--validation-split` of them as the validation split. `tfp-flows eval`
re-creates the same splits from the model's `MODEL.job.json`.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

import numpy as np
import tensorflow as tf

from tfp_flows import data as fdata
from tfp_flows.data.images import image_num_levels
from tfp_flows.data.images import load_images
from tfp_flows.data.preprocess import preprocess_images
from tfp_flows.jobs.training import SPLIT_SEED
from tfp_flows.jobs.training import TEST_FRACTION

__all__ = [
    "ImageSplits",
    "levels_of",
    "load_image_split",
    "load_image_splits",
    "to_unit_interval",
]

# Smoke runs (--fast) use at most this many training and validation examples;
# the test split stays whole, so `tfp-flows eval` reproduces the job's figure.
FAST_SIZES = {"train": 256, "validation": 64}


@dataclasses.dataclass
class ImageSplits:
    """The splits of an image source and how the flow sees them.

    Attributes:
      source: the `--data` value.
      train, validation, test: uint8 levels `[N, H, W, C]` (validation None
        without a validation split).
      labels: `{split: int64 labels}` when labels were asked for.
      raw_levels: levels of the stored images (17 digits, 256 otherwise).
      n_bits: Glow's reduction to `n_bits` bits, or None.
      image_size: the `--image-size` resize/crop, or None.
    """

    source: str
    train: np.ndarray
    validation: np.ndarray | None
    test: np.ndarray
    labels: dict[str, np.ndarray]
    raw_levels: int
    n_bits: int | None
    image_size: tuple[int, int] | None

    @property
    def num_levels(self) -> int:
        """L, the levels the flow models (`2**n_bits` with `n_bits`)."""
        return 2**self.n_bits if self.n_bits else self.raw_levels

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """`(H, W, C)`."""
        h, w, c = self.train.shape[1:]
        return int(h), int(w), int(c)

    @property
    def num_dims(self) -> int:
        """D = H * W * C."""
        return int(np.prod(self.image_shape))

    @property
    def num_classes(self) -> int:
        """Number of classes (max train label + 1), 0 without labels."""
        if "train" not in self.labels:
            return 0
        return int(self.labels["train"].max()) + 1

    def preprocess(self, images: Any, seed: Any = None) -> tf.Tensor:
        """Levels -> the flow's input in `[-0.5, 0.5)` (n-bit, dequantized)."""
        return preprocess_images(
            images, num_levels=self.raw_levels, n_bits=self.n_bits, seed=seed
        )

    def bits_per_dim(self, log_prob: Any) -> np.ndarray:
        """Bits/dim of the discrete data from `log_prob` of the flow's input."""
        return fdata.bits_per_dim(
            log_prob, self.num_dims, num_levels=self.num_levels
        ).numpy()

    def bpd_of_loss(self, loss: float) -> float:
        """Bits/dim of a mean NLL `loss` (nats per image)."""
        d = self.num_dims
        return (loss + d * math.log(self.num_levels)) / (d * math.log(2.0))

    def meta(self) -> dict[str, Any]:
        """The fields of `MODEL.job.json` that re-create these splits."""
        return {
            "kind": "image",
            "data": _absolute(self.source),
            "image_size": self.image_size,
            "image_shape": list(self.image_shape),
            "raw_levels": self.raw_levels,
            "n_bits": self.n_bits,
            "num_levels": self.num_levels,
        }


def _absolute(source: str) -> str:
    """A path made absolute (so `eval` works from another folder); names kept."""
    if os.path.exists(source) and not source.startswith("tfds:"):
        return os.path.abspath(source)
    return source


def load_image_split(
    source: str,
    split: str,
    *,
    image_size: tuple[int, int] | None,
    validation_split: float,
    with_labels: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """One split (`load_images` with the jobs' fractions and split seed)."""
    out = load_images(
        source,
        split=split,
        image_size=image_size,
        validation_fraction=validation_split,
        test_fraction=TEST_FRACTION,
        seed=SPLIT_SEED,
        with_labels=with_labels,
    )
    if isinstance(out, tuple):
        return out[0], out[1]
    return out, None


def load_image_splits(
    source: str,
    *,
    image_size: tuple[int, int] | None = None,
    n_bits: int | None = None,
    validation_split: float = 0.1,
    with_labels: bool = False,
    fast: bool = False,
) -> ImageSplits:
    """Train, validation (if `validation_split > 0`) and test splits."""
    splits: dict[str, np.ndarray | None] = {}
    labels: dict[str, np.ndarray] = {}
    names = ["train", "test"] + (["validation"] if validation_split > 0 else [])
    for name in names:
        x, y = load_image_split(
            source,
            name,
            image_size=image_size,
            validation_split=validation_split,
            with_labels=with_labels,
        )
        if fast and name in FAST_SIZES:
            x = x[: FAST_SIZES[name]]
            y = None if y is None else y[: FAST_SIZES[name]]
        splits[name] = x
        if y is not None:
            labels[name] = y
    train = splits["train"]
    test = splits["test"]
    assert train is not None and test is not None
    return ImageSplits(
        source=source,
        train=train,
        validation=splits.get("validation"),
        test=test,
        labels=labels,
        raw_levels=image_num_levels(source),
        n_bits=n_bits,
        image_size=image_size,
    )


def to_unit_interval(x: Any) -> np.ndarray:
    """A flow's `[-0.5, 0.5)` samples as intensities in `[0, 1]` (for PNGs)."""
    return np.clip(np.asarray(x, np.float32) + 0.5, 0.0, 1.0)


def levels_of(x: Any, num_levels: int, raw_levels: int) -> np.ndarray:
    """A flow's samples as uint8 levels of the stored data (`.npy` samples).

    `k = floor((x + 0.5) * L)` clipped to `0..L-1`, then scaled back to the
    stored levels (`k * 2**(8 - n_bits)` for n-bit images).
    """
    k = np.clip(np.floor((np.asarray(x) + 0.5) * num_levels), 0, num_levels - 1)
    if num_levels != raw_levels:
        k = k * (raw_levels // num_levels)
    return k.astype(np.uint8)
