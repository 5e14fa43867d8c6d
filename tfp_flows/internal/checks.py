"""Not public API: argument and shape validation with errors that name things."""

import numpy as np
import tensorflow as tf

__all__ = [
    "check_event",
    "check_float_dtype",
    "check_positive_int",
    "shape_str",
]


def shape_str(shape):
    """`[..., 4, 4, 2]`-style text for a (partially known) shape."""
    dims = tf.TensorShape(shape).as_list() if shape is not None else None
    if dims is None:
        return "<unknown rank>"
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


def check_float_dtype(x, arg_name, owner, dtype=None):
    """Raises ValueError unless `x` is floating (and of `dtype` when given)."""
    x_dtype = tf.as_dtype(x.dtype)
    if not x_dtype.is_floating:
        raise ValueError(
            f"{owner}: argument `{arg_name}` must be a floating-point tensor "
            f"(e.g. float32); got dtype {x_dtype.name}. Cast integer images with "
            "`tfp_flows.data.dequantize` or `tf.cast` first."
        )
    if dtype is not None and x_dtype != tf.as_dtype(dtype):
        raise ValueError(
            f"{owner}: argument `{arg_name}` has dtype {x_dtype.name}, but this "
            f"bijector's weights are {tf.as_dtype(dtype).name}."
        )


def check_event(x, arg_name, owner, event_shape):
    """Checks the trailing (event) dims of `x` against `event_shape`.

    `event_shape` is a list whose entries are ints or None (any size). Raises
    ValueError naming the argument, the expected and the received shape.
    """
    shape = x.shape
    want = list(event_shape)
    expected = "[..., " + ", ".join("*" if d is None else str(d) for d in want) + "]"
    if shape.rank is None:
        return
    if shape.rank < len(want):
        raise ValueError(
            f"{owner}: argument `{arg_name}` must have rank >= {len(want)} with "
            f"event shape {expected}; got shape {shape_str(shape)} "
            f"(rank {shape.rank})."
        )
    got = shape.as_list()[shape.rank - len(want) :]
    for w, g in zip(want, got):
        if w is not None and g is not None and w != g:
            raise ValueError(
                f"{owner}: argument `{arg_name}` must have event shape {expected}; "
                f"got shape {shape_str(shape)}."
            )


def check_positive_int(value, arg_name, owner, minimum=1):
    """Returns `int(value)`; ValueError unless it is an integer >= minimum."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(
            f"{owner}: argument `{arg_name}` must be an integer >= {minimum}; "
            f"got {value!r}."
        )
    if value < minimum:
        raise ValueError(
            f"{owner}: argument `{arg_name}` must be an integer >= {minimum}; "
            f"got {value}."
        )
    return int(value)
