"""Splits, n-bit dequantization, the logit transform and `tf.data` pipelines.

The pieces between a loader (`load_images`, `load_table`, `load_digits`) and
a flow:

- `split_indices`: the fixed, seeded train/validation/test split that every
  loader of this package uses.
- `preprocess_images`: integer pixel levels to the flow's continuous input.
  Optionally first Glow's reduction to `n_bits` bits per channel,

      k' = floor(k / 2**(8 - n_bits)),        k in 0..255, k' in 0..2**n_bits - 1,

  then uniform dequantization to `[-0.5, 0.5)` with `L = 2**n_bits` levels
  (`L = num_levels` without `n_bits`),

      x = (k' + u) / L - 0.5,                 u ~ U[0, 1),

  and optionally RealNVP's logit transform of `x + 0.5` in `[0, 1)`,

      y = logit(alpha + (1 - 2 alpha) (x + 0.5)),    alpha = 0.05 in the paper.

- `logit_log_det`: `log |dy/dx|` of that transform per image, so a flow
  trained on `y` reports densities (and bits/dim) of the pixels `x`:
  `log p(x) = log p(y) + logit_log_det(y, alpha)`.
- `bits_per_dim`: `(-log p(x) + D log L) / (D log 2)` for `log p(x)` the
  density of the dequantized data in the `1/L`-scaled space above (the
  centring shift by -0.5 changes no density).
- `as_dataset`: arrays to a batched, prefetched `tf.data.Dataset` with an
  optional context and a seeded shuffle.

#### Examples

Bits/dim of a model of 5-bit images trained in logit space:

>>> import numpy as np
>>> k = np.full((2, 4, 4, 3), 200, np.uint8)
>>> y = preprocess_images(k, n_bits=5, seed=0, logit_alpha=0.05)
>>> log_p_y = tf.zeros([2])                       # a flow's log_prob(y)
>>> log_p_x = log_p_y + logit_log_det(y, 0.05)    # density of the pixels
>>> bpd = bits_per_dim(log_p_x, 4 * 4 * 3, n_bits=5)
>>> bpd.shape
TensorShape([2])

#### References

[1] Diederik P. Kingma, Prafulla Dhariwal. Glow: Generative Flow with
    Invertible 1x1 Convolutions. NeurIPS 2018 (5-bit CelebA-HQ, Sec. 5).
[2] Laurent Dinh, Jascha Sohl-Dickstein, Samy Bengio. Density estimation using
    Real NVP. ICLR 2017 (logit pre-processing, Sec. 4.1).
[3] Lucas Theis, Aaron van den Oord, Matthias Bethge. A note on the evaluation
    of generative models. ICLR 2016 (uniform dequantization bound).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from tfp_flows.data.digits import _check_levels
from tfp_flows.data.digits import _check_stateless_seed
from tfp_flows.data.digits import bits_per_dim
from tfp_flows.data.digits import dequantize
from tfp_flows.internal import checks
from tfp_flows.internal.types import Seed
from tfp_flows.internal.types import TensorLike

__all__ = [
    "SPLITS",
    "as_dataset",
    "bits_per_dim",
    "logit_log_det",
    "preprocess_images",
    "split_indices",
]

#: The split names every loader takes.
SPLITS = ("train", "validation", "test", "all")


def _check_fraction(value: object, arg_name: str, owner: str) -> float:
    """A number in `[0, 1)`; ValueError naming the argument otherwise."""
    message = (
        f"{owner}: argument `{arg_name}` must be a number in [0, 1); got {value!r}."
    )
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(message)
    v = float(value)
    if not 0.0 <= v < 1.0:
        raise ValueError(message)
    return v


def check_split_args(
    split: str,
    validation_fraction: float,
    test_fraction: float,
    seed: int,
    owner: str,
) -> tuple[float, float, int]:
    """Validates a loader's split arguments (ValueError naming the argument).

    Args:
      split: one of `SPLITS`.
      validation_fraction: fraction of examples in the validation split.
      test_fraction: fraction of examples in the test split.
      seed: seed of the split's permutation (an integer in `0..2**32-1`).
      owner: the function the user called, for messages.

    Returns:
      `(validation_fraction, test_fraction, seed)` as Python numbers.

    Raises:
      ValueError: an unknown split, a fraction outside `[0, 1)`, fractions
        summing to 1 or more, or a bad seed.
    """
    if not isinstance(split, str) or split not in SPLITS:
        raise ValueError(
            f"{owner}: argument `split` must be one of "
            f"{', '.join(repr(s) for s in SPLITS)}; got {split!r}."
        )
    val = _check_fraction(validation_fraction, "validation_fraction", owner)
    test = _check_fraction(test_fraction, "test_fraction", owner)
    if val + test >= 1.0:
        raise ValueError(
            f"{owner}: arguments `validation_fraction` + `test_fraction` must be "
            f"< 1 (the rest is the training split); got {val!r} + {test!r}."
        )
    if (
        isinstance(seed, bool)
        or not isinstance(seed, (int, np.integer))
        or not 0 <= seed < 2**32
    ):
        raise ValueError(
            f"{owner}: argument `seed` must be an integer in 0..2**32-1; got {seed!r}."
        )
    return val, test, int(seed)


def split_sizes(
    num_examples: int, validation_fraction: float, test_fraction: float
) -> dict[str, int]:
    """The sizes of the three splits of `num_examples` examples.

    `test = round(test_fraction * N)`, `validation = round(validation_fraction
    * N)` (Python's `round`, half to even), `train = N - test - validation`.

    Args:
      num_examples: N, the number of examples.
      validation_fraction: fraction in the validation split.
      test_fraction: fraction in the test split.

    Returns:
      `{"train": ..., "validation": ..., "test": ...}`.

    #### Examples

    >>> split_sizes(1797, 0.1, 0.1)
    {'train': 1437, 'validation': 180, 'test': 180}
    """
    n_test = int(round(test_fraction * num_examples))
    n_val = int(round(validation_fraction * num_examples))
    return {
        "train": num_examples - n_test - n_val,
        "validation": n_val,
        "test": n_test,
    }


def split_indices(
    num_examples: int,
    split: str,
    *,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    owner: str = "split_indices",
) -> np.ndarray:
    """Indices of one split of a fixed, seeded train/validation/test split.

    One permutation `numpy.random.RandomState(seed).permutation(N)` is cut
    into test (first `round(test_fraction * N)` entries), validation (next
    `round(validation_fraction * N)`) and train (the rest); `"all"` is
    `0..N-1` in order. The three splits are disjoint and cover all examples;
    the same seed gives the same split on every machine (NumPy's legacy
    `RandomState` stream is fixed). Every loader of `tfp_flows.data` splits
    this way.

    Args:
      num_examples: N, the number of examples (>= 1).
      split: `"train"`, `"validation"`, `"test"` or `"all"`.
      validation_fraction: fraction in the validation split, in `[0, 1)`.
      test_fraction: fraction in the test split, in `[0, 1)`.
      seed: seed of the permutation, an integer in `0..2**32-1`.
      owner: name used in error messages (the loader that called this).

    Returns:
      int64 array of indices.

    Raises:
      ValueError: a bad split name, fraction or seed; a requested split (or
        the training split) that would be empty.

    #### Examples

    >>> split_indices(10, "test", test_fraction=0.2, seed=0)
    array([2, 8])
    """
    val, test, seed = check_split_args(
        split, validation_fraction, test_fraction, seed, owner
    )
    n = checks.check_positive_int(num_examples, "num_examples", owner)
    if split == "all":
        return np.arange(n, dtype=np.int64)
    sizes = split_sizes(n, val, test)
    for name, size in sizes.items():
        if size < 1 and (name == split or name == "train"):
            raise ValueError(
                f"{owner}: the {name!r} split of {n} examples is empty "
                f"(validation_fraction={val!r}, test_fraction={test!r}, "
                f"sizes {sizes}); choose larger fractions or more data."
            )
    order = np.random.RandomState(seed).permutation(n).astype(np.int64)
    n_test, n_val = sizes["test"], sizes["validation"]
    if split == "test":
        return order[:n_test]
    if split == "validation":
        return order[n_test : n_test + n_val]
    return order[n_test + n_val :]


def preprocess_images(
    images: TensorLike,
    *,
    num_levels: int = 256,
    n_bits: int | None = None,
    seed: Seed = None,
    logit_alpha: float | None = None,
) -> tf.Tensor:
    """Integer pixel levels to a flow's continuous input (see module docs).

    1. With `n_bits` (Glow's reduction; the images must be 8-bit,
       `num_levels=256`): `k = floor(k / 2**(8 - n_bits))`, leaving
       `L = 2**n_bits` levels.
    2. Uniform dequantization: `x = (k + u) / L - 0.5` in `[-0.5, 0.5)`,
       `u ~ U[0, 1)` (as `dequantize`).
    3. With `logit_alpha` (RealNVP): `y = logit(alpha + (1 - 2 alpha)(x +
       0.5))` is returned instead of `x`; add `logit_log_det(y, logit_alpha)`
       to the flow's `log_prob(y)` for the density of `x`.

    Report bits/dim with `bits_per_dim(log_prob, D, num_levels=L)` (or
    `n_bits=n_bits`).

    Args:
      images: integer levels `0..num_levels-1`, any shape (e.g. `[N, H, W, C]`).
      num_levels: number of levels of `images` (256 for 8-bit, 17 for the
        digits).
      n_bits: bits per channel to keep, 1..8 (None: keep all levels).
      seed: None (stateful noise), an int or a stateless `[2]` seed.
      logit_alpha: None, or `alpha` in `(0, 0.5)` for the logit transform
        (RealNVP uses 0.05).

    Returns:
      float32 tensor of the shape of `images`.

    Raises:
      ValueError: bad `num_levels`, `n_bits` (not 1..8, or images not
        8-bit), `logit_alpha`, `seed`, or images that are not integer levels.

    #### Examples

    >>> import numpy as np
    >>> k = np.array([[0, 255]], np.uint8)
    >>> x = preprocess_images(k, n_bits=1, seed=0)   # levels 0 and 1 of 2
    >>> bool(tf.reduce_all((x[0] >= -0.5) & (x[0] < 0.5)))
    True
    """
    owner = "preprocess_images"
    num_levels = checks.check_positive_int(num_levels, "num_levels", owner)
    images = tf.convert_to_tensor(images)
    _check_levels(images, num_levels, owner)
    levels = num_levels
    if n_bits is not None:
        n_bits = checks.check_positive_int(n_bits, "n_bits", owner)
        if n_bits > 8:
            raise ValueError(
                f"{owner}: argument `n_bits` must be an integer in 1..8; got "
                f"{n_bits!r}."
            )
        if num_levels != 256:
            raise ValueError(
                f"{owner}: argument `n_bits` reduces 8-bit images "
                f"(num_levels=256); got num_levels={num_levels}."
            )
        k = tf.cast(images, tf.int32) // (2 ** (8 - n_bits))
        levels = 2**n_bits
    else:
        k = images
    alpha = None
    if logit_alpha is not None:
        alpha = checks.check_number(logit_alpha, "logit_alpha", owner, minimum=0.0)
        if alpha >= 0.5:
            raise ValueError(
                f"{owner}: argument `logit_alpha` must be a number in (0, 0.5); "
                f"got {logit_alpha!r}."
            )
    if seed is not None:
        seed = _check_stateless_seed(seed, owner)
    x = dequantize(k, num_levels=levels, seed=seed, center=True)
    if alpha is None:
        return x
    p = alpha + (1.0 - 2.0 * alpha) * (x + 0.5)
    return tf.math.log(p) - tf.math.log1p(-p)


def logit_log_det(
    processed: TensorLike, logit_alpha: float, *, event_ndims: int = 3
) -> tf.Tensor:
    """`log |dy/dx|` of RealNVP's logit transform, summed per image.

    For `y = logit(p)`, `p = alpha + (1 - 2 alpha) x'` and `x' = x + 0.5` in
    `[0, 1)`:

        log |dy/dx'| = log(1 - 2 alpha) - log p - log(1 - p)
                     = log(1 - 2 alpha) + softplus(y) + softplus(-y),

    written in `y` (the tensor the flow sees) so that it stays finite.
    `log p(x) = log p(y) + logit_log_det(y, alpha)`: add it to the flow's
    `log_prob(y)` before `bits_per_dim`.

    Args:
      processed: `y`, the output of `preprocess_images(..., logit_alpha=alpha)`.
      logit_alpha: the same `alpha`, in `(0, 0.5)`.
      event_ndims: number of trailing dimensions of one image (3 for `[H, W,
        C]`), summed over.

    Returns:
      Tensor of shape `processed.shape[:-event_ndims]`.

    Raises:
      ValueError: bad `logit_alpha` or `event_ndims`, or `processed` of rank
        below `event_ndims`.

    #### Examples

    >>> import numpy as np
    >>> y = np.zeros((1, 2, 2, 1), np.float32)   # p = 0.5 everywhere
    >>> round(float(logit_log_det(y, 0.05)[0]), 4)   # 4 * log(0.9 / 0.25)
    5.1237
    """
    owner = "logit_log_det"
    alpha = checks.check_number(logit_alpha, "logit_alpha", owner, minimum=0.0)
    if alpha >= 0.5:
        raise ValueError(
            f"{owner}: argument `logit_alpha` must be a number in (0, 0.5); got "
            f"{logit_alpha!r}."
        )
    event_ndims = checks.check_positive_int(event_ndims, "event_ndims", owner, 0)
    y = tf.convert_to_tensor(processed, dtype_hint=tf.float32)
    checks.check_float_dtype(y, "processed", owner)
    if y.shape.rank is not None and y.shape.rank < event_ndims:
        raise ValueError(
            f"{owner}: argument `processed` must have rank >= {event_ndims} "
            f"(event_ndims); got shape {checks.shape_str(y.shape)}."
        )
    per_dim = math.log(1.0 - 2.0 * alpha) + tf.nn.softplus(y) + tf.nn.softplus(-y)
    if event_ndims == 0:
        return per_dim
    return tf.reduce_sum(per_dim, axis=list(range(-event_ndims, 0)))


def as_dataset(
    x: TensorLike,
    *,
    context: TensorLike | None = None,
    batch_size: int,
    shuffle: bool = True,
    seed: int = 0,
    drop_remainder: bool = False,
    map_fn: Callable[[tf.Tensor], tf.Tensor] | None = None,
) -> tf.data.Dataset:
    """Arrays to a batched, prefetched `tf.data.Dataset`.

    Elements are batches of `x`, or `{"x": x_batch, "context": c_batch}`
    with a context (the form `FlowModel.fit` takes; a dict, because Keras
    reads a 2-tuple as `(inputs, targets)`). The shuffle covers the whole
    array and draws a new order each epoch; the sequence of orders is fixed by
    `seed`. `map_fn` (e.g. `lambda k: preprocess_images(k, n_bits=5)` for
    fresh dequantization noise each epoch) is applied to each batch of `x`.

    Args:
      x: array `[N, ...]`.
      context: None or an array `[N, ...]` (a label, an embedding, ...).
      batch_size: examples per batch (>= 1).
      shuffle: shuffle each epoch.
      seed: shuffle seed (an integer).
      drop_remainder: drop the last, smaller batch.
      map_fn: optional function applied to each batch of `x`.

    Returns:
      A `tf.data.Dataset`.

    Raises:
      ValueError: a bad `batch_size` or `seed`, `x` of rank 0, or a
        context whose first dimension differs from `x`'s.

    #### Examples

    >>> import numpy as np
    >>> ds = as_dataset(np.zeros((5, 2), np.float32), batch_size=2, seed=0)
    >>> [int(b.shape[0]) for b in ds]
    [2, 2, 1]
    """
    owner = "as_dataset"
    batch_size = checks.check_positive_int(batch_size, "batch_size", owner)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"{owner}: argument `seed` must be an integer; got {seed!r}.")
    if map_fn is not None:
        checks.check_callable(map_fn, "map_fn", owner)
    x_t = tf.convert_to_tensor(x)
    if x_t.shape.rank == 0:
        raise ValueError(
            f"{owner}: argument `x` must have rank >= 1 (examples first); got a scalar."
        )
    n = int(x_t.shape[0])
    elements: Any = x_t
    if context is not None:
        c_t = tf.convert_to_tensor(context)
        if c_t.shape.rank == 0 or int(c_t.shape[0]) != n:
            raise ValueError(
                f"{owner}: argument `context` must have {n} rows (one per example "
                f"of `x`, shape {checks.shape_str(x_t.shape)}); got shape "
                f"{checks.shape_str(c_t.shape)}."
            )
        elements = {"x": x_t, "context": c_t}
    ds = tf.data.Dataset.from_tensor_slices(elements)
    if shuffle:
        ds = ds.shuffle(max(n, 1), seed=int(seed), reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if map_fn is not None:
        fn = map_fn
        if context is None:
            ds = ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE)
        else:
            ds = ds.map(
                lambda e: {"x": fn(e["x"]), "context": e["context"]},
                num_parallel_calls=tf.data.AUTOTUNE,
            )
    return ds.prefetch(tf.data.AUTOTUNE)
