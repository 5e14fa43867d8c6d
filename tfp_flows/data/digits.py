"""scikit-learn's shipped 8x8 digits, with a fixed train/test split.

The digits ship inside scikit-learn (no network): 1797 grey images of 8x8
pixels with 17 levels (0..16).
"""

import math

import numpy as np
import tensorflow as tf

__all__ = ["NUM_LEVELS", "bits_per_dim", "dequantize", "load_digits"]

NUM_LEVELS = 17
_TEST_SIZE = 360  # 20% of 1797, fixed
_SPLIT_SEED = 0


def load_digits(split="train", *, binarize=False, threshold=8, with_labels=False):
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
      ValueError: for an unknown `split`.

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


def dequantize(images, *, num_levels=NUM_LEVELS, seed=None, center=True):
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
    """
    k = tf.cast(images, tf.float32)
    if seed is None:
        u = tf.random.uniform(tf.shape(k), dtype=tf.float32)
    else:
        if isinstance(seed, int):
            seed = [seed, 0]
        u = tf.random.stateless_uniform(tf.shape(k), seed=seed, dtype=tf.float32)
    x = (k + u) / float(num_levels)
    return x - 0.5 if center else x


def bits_per_dim(log_prob, num_dims, *, num_levels=NUM_LEVELS):
    """Bits per dimension of the discrete data from a continuous `log_prob`.

    `log_prob` is the density of the dequantized data in the `[0, 1)` scaled
    space that `dequantize` produces; the discrete likelihood bound is
    `log P(k) >= log p(x) - D * log(num_levels)`, so

        bits/dim = -(log_prob - D * log(num_levels)) / (D * log(2)).

    Args:
      log_prob: tensor of per-example log-densities (nats).
      num_dims: D, the number of dimensions of one example.
      num_levels: number of discrete levels of the data.

    Returns:
      Tensor of the same shape as `log_prob`.

    #### Examples

    >>> round(float(bits_per_dim(0.0, 64, num_levels=17)), 9)  # uniform: log2(17)
    4.087462841
    """
    log_prob = tf.convert_to_tensor(log_prob, dtype_hint=tf.float64)
    d = tf.cast(num_dims, log_prob.dtype)
    return -(log_prob - d * math.log(num_levels)) / (d * math.log(2.0))
