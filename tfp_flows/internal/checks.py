"""Not public API: argument and shape validation with errors that name things.

Every check raises a `ValueError` (or `TypeError`, for an object of the wrong
kind) whose message names the owner (class or function the user called), the
argument, what was expected and what was received. Run-time (tensor-valued)
checks raise eagerly and add `tf.debugging` assertions in graphs; inside XLA
clusters assertions are dropped (TensorFlow ignores `Assert` there), so those
callers also keep a safe value path (see each function).
"""

import numbers

import numpy as np
import tensorflow as tf
from tensorflow.python.ops import control_flow_util

__all__ = [
    "check_base_distribution",
    "check_callable",
    "check_distribution",
    "check_dtype_arg",
    "check_event",
    "check_event_shape",
    "check_float_dtype",
    "check_image_shape",
    "check_int_sequence",
    "check_no_integer_values",
    "check_number",
    "check_positive_int",
    "check_sample_shape",
    "check_seed",
    "in_xla_context",
    "shape_str",
]


def in_xla_context() -> bool:
    """Whether ops are being traced for XLA (`tf.function(jit_compile=True)`)."""
    if tf.executing_eagerly():
        return False
    graph = tf.compat.v1.get_default_graph()
    return control_flow_util.GraphOrParentsInXlaContext(graph)


def shape_str(shape):
    """`[..., 4, 4, 2]`-style text for a (partially known) shape."""
    dims = tf.TensorShape(shape).as_list() if shape is not None else None
    if dims is None:
        return "<unknown rank>"
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


def _integer_hint(arg_name):
    # Integer *data* (images) is dequantized; an integer context is a cast.
    if "context" in arg_name:
        return f"Cast it first, e.g. `tf.cast({arg_name}, tf.float32)`."
    return (
        "Dequantize integer data first (`tfp_flows.data.dequantize(images, "
        "num_levels=...)`), or `tf.cast` it if the integers are the values you mean."
    )


def check_float_dtype(x, arg_name, owner, dtype=None):
    """Raises ValueError unless `x` is floating (and of `dtype` when given)."""
    x_dtype = tf.as_dtype(x.dtype)
    if not x_dtype.is_floating:
        raise ValueError(
            f"{owner}: argument `{arg_name}` must be a floating-point tensor "
            f"(e.g. float32); got dtype {x_dtype.name}. {_integer_hint(arg_name)}"
        )
    if dtype is not None and x_dtype != tf.as_dtype(dtype):
        raise ValueError(
            f"{owner}: argument `{arg_name}` has dtype {x_dtype.name}, but this "
            f"bijector's weights are {tf.as_dtype(dtype).name}; cast it with "
            f"`tf.cast({arg_name}, tf.{tf.as_dtype(dtype).name})`."
        )


def _arg(arg_name, alias=None):
    """Formats "`value`" or "`value` (`y` of the flow's bijector)" for messages."""
    return f"`{arg_name}`" + (f" ({alias})" if alias else "")


def check_no_integer_values(value, arg_name, owner, dtype, *, alias=None):
    """ValueError if `value` has an integer/bool dtype but `dtype` is floating.

    A density over real values silently cast from integers (images of levels
    0..255) is a different model than the user meant: `log_prob` of raw levels
    is not a likelihood of the discrete data. Python numbers and lists (no
    dtype) are let through, as TFP converts them.
    """
    got = getattr(value, "dtype", None)
    if got is None or not tf.as_dtype(dtype).is_floating:
        return
    try:
        got = tf.as_dtype(got)
    except TypeError:
        return
    if got.is_integer or got.is_bool:
        raise ValueError(
            f"{owner}: argument {_arg(arg_name, alias)} must be a floating-point "
            f"tensor of dtype {tf.as_dtype(dtype).name} (this flow is a density over "
            f"real values); got integer dtype {got.name}. {_integer_hint(arg_name)}"
        )


def check_event_shape(
    shape, arg_name, owner, event_shape, *, what="event shape", alias=None
):
    """Checks the trailing (event) dims of `shape` against `event_shape`.

    `event_shape` is a list whose entries are ints or None (any size). Raises
    ValueError naming the argument, the expected and the received shape.
    """
    shape = tf.TensorShape(shape)
    want = list(event_shape)
    expected = "[..., " + ", ".join("*" if d is None else str(d) for d in want) + "]"
    if not want:
        return
    if shape.rank is None:
        return
    if shape.rank < len(want):
        raise ValueError(
            f"{owner}: argument {_arg(arg_name, alias)} must have rank >= "
            f"{len(want)} with {what} {expected}; got shape {shape_str(shape)} "
            f"(rank {shape.rank})."
        )
    got = shape.as_list()[shape.rank - len(want) :]
    for w, g in zip(want, got, strict=True):
        if w is not None and g is not None and w != g:
            raise ValueError(
                f"{owner}: argument {_arg(arg_name, alias)} must have {what} "
                f"{expected}; got shape {shape_str(shape)}."
            )


def check_event(x, arg_name, owner, event_shape):
    """`check_event_shape(x.shape, ...)` for a tensor `x`."""
    check_event_shape(x.shape, arg_name, owner, event_shape)


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


def check_number(value, arg_name, owner, *, minimum=None, strict=True, maximum=None):
    """Returns `float(value)`; ValueError unless a real number in range.

    `minimum` is exclusive when `strict` (`> minimum`), inclusive otherwise;
    `maximum` is inclusive. NaN is always rejected.
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok and isinstance(value, (np.ndarray, np.generic)) and np.ndim(value) == 0:
        ok = np.issubdtype(np.asarray(value).dtype, np.number)
    bounds = []
    if minimum is not None:
        bounds.append(f"{'>' if strict else '>='} {minimum}")
    if maximum is not None:
        bounds.append(f"<= {maximum}")
    want = "a number" + (" " + " and ".join(bounds) if bounds else "")
    message = f"{owner}: argument `{arg_name}` must be {want}; got {value!r}."
    if not ok:
        raise ValueError(message)
    v = float(value)
    bad = np.isnan(v)
    if minimum is not None:
        bad = bad or (v <= minimum if strict else v < minimum)
    if maximum is not None:
        bad = bad or v > maximum
    if bad:
        raise ValueError(message)
    return v


def check_seed(seed, owner, arg_name="seed", *, allow_none=False):
    """Returns `int(seed)` (or None); ValueError unless a non-negative integer."""
    if seed is None and allow_none:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        none = "None or " if allow_none else ""
        raise ValueError(
            f"{owner}: argument `{arg_name}` must be {none}a non-negative integer; "
            f"got {seed!r}."
        )
    return int(seed)


def check_int_sequence(value, arg_name, owner, *, minimum=1, allow_int=True):
    """A list of ints >= `minimum` from a sequence (or one int if `allow_int`).

    Raises ValueError naming `arg_name[i]` for a bad entry, or `arg_name` for
    something that is not a sequence of integers (None, a float, a string).
    """
    one_int = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if allow_int and one_int:
        value = [value]
    if isinstance(value, (str, bytes)) or not isinstance(
        value, (list, tuple, np.ndarray)
    ):
        single = " (or one integer)" if allow_int else ""
        raise ValueError(
            f"{owner}: argument `{arg_name}` must be a list of integers >= "
            f"{minimum}{single}; got {value!r}."
        )
    return [
        check_positive_int(v, f"{arg_name}[{i}]", owner, minimum)
        for i, v in enumerate(list(value))
    ]


def check_dtype_arg(dtype, owner, arg_name="dtype"):
    """`tf.as_dtype(dtype)`; ValueError unless it names a floating dtype."""
    try:
        out = tf.as_dtype(dtype)
    except TypeError:
        raise ValueError(
            f"{owner}: argument `{arg_name}` must be a floating dtype (e.g. "
            f"tf.float32 or 'float64'); got {dtype!r}."
        ) from None
    if not out.is_floating:
        raise ValueError(
            f"{owner}: argument `{arg_name}` must be a floating dtype (e.g. "
            f"tf.float32 or 'float64'); got {out.name}."
        )
    return out


def check_image_shape(shape, arg_name, owner):
    """`[H, W, C]` as a list of positive ints; ValueError otherwise."""
    try:
        dims = list(shape)
    except TypeError:
        dims = None
    if (
        dims is None
        or len(dims) != 3
        or any(
            isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1
            for d in dims
        )
    ):
        raise ValueError(
            f"{owner}: argument `{arg_name}` must be a fully known [H, W, C] of "
            f"positive integers; got {shape!r}."
        )
    return [int(d) for d in dims]


def check_callable(fn, arg_name, owner):
    """TypeError unless `fn` is callable."""
    if not callable(fn):
        raise TypeError(
            f"{owner}: argument `{arg_name}` must be callable; got "
            f"{type(fn).__name__} {fn!r}."
        )
    return fn


def check_distribution(dist, arg_name, owner):
    """TypeError unless `dist` is a `tfd.Distribution`."""
    from tensorflow_probability import distributions as tfd  # lazy: slow import

    if not isinstance(dist, tfd.Distribution):
        raise TypeError(
            f"{owner}: argument `{arg_name}` must be a "
            f"tfp.distributions.Distribution; got {type(dist).__name__}."
        )
    return dist


def check_base_distribution(base, event_shape, dtype, owner):
    """Checks a builder's `base_distribution`: a distribution, event shape, dtype.

    `event_shape` is the flow's (a list of ints); `dtype` the weights' dtype.
    """
    check_distribution(base, "base_distribution", owner)
    event = base.event_shape
    want = list(event_shape)
    if event.rank is not None and event.as_list() not in (want, [None] * len(want)):
        size = f" (event_size={want[0]})" if len(want) == 1 else ""
        raise ValueError(
            f"{owner}: argument `base_distribution` must have event shape "
            f"{shape_str(want)}{size}; got event shape {shape_str(event)}."
        )
    if base.dtype is not None and tf.as_dtype(base.dtype) != tf.as_dtype(dtype):
        raise ValueError(
            f"{owner}: argument `base_distribution` has dtype "
            f"{tf.as_dtype(base.dtype).name}, but the flow's weights are "
            f"{tf.as_dtype(dtype).name} (argument `dtype`); make them agree."
        )
    return base


def _shape_entries(sample_shape):
    """The static entries of a sample shape (None where unknown) and its rank."""
    if isinstance(sample_shape, (tf.Tensor, tf.Variable)):
        static = tf.get_static_value(sample_shape)
        if static is None:
            rank = sample_shape.shape.rank
            return None, rank
        sample_shape = static
    if isinstance(sample_shape, (list, tuple)):
        entries = []
        for s in sample_shape:
            if isinstance(s, (tf.Tensor, tf.Variable)):
                v = tf.get_static_value(s)
                entries.append(None if v is None else v)
            else:
                entries.append(s)
        return entries, 1
    arr = np.asarray(sample_shape)
    if arr.ndim == 0:
        scalar = arr[()] if isinstance(sample_shape, np.ndarray) else sample_shape
        return [scalar], 0
    return list(arr.reshape(-1)), arr.ndim


def check_sample_shape(sample_shape, owner, arg_name="sample_shape"):
    """Validates a sample shape: an integer >= 0 or a 1-D list of them.

    Static values (Python ints, lists, numpy arrays, constant tensors) are
    checked at once (ValueError). A symbolic tensor must have an integer
    dtype and rank <= 1; in a graph (not XLA) it gets a `tf.debugging`
    assertion, so a negative count raises `InvalidArgumentError` naming the
    argument instead of a raw op error.

    Returns:
      `sample_shape`, or (symbolic) the tensor with the assertion attached.
    """
    if isinstance(sample_shape, bool):
        raise ValueError(
            f"{owner}: argument `{arg_name}` must be an integer >= 0 or a list of "
            f"them; got {sample_shape!r}."
        )
    if isinstance(sample_shape, (tf.Tensor, tf.Variable)) and not (
        sample_shape.dtype.is_integer
    ):
        raise ValueError(
            f"{owner}: argument `{arg_name}` must be an integer tensor; got dtype "
            f"{sample_shape.dtype.name}."
        )
    entries, rank = _shape_entries(sample_shape)
    if rank is not None and rank > 1:
        raise ValueError(
            f"{owner}: argument `{arg_name}` must be an integer >= 0 or a 1-D list "
            f"of them; got {sample_shape!r} (rank {rank})."
        )
    if entries is not None:
        for v in entries:
            if v is None:
                continue
            integer = isinstance(v, (int, np.integer)) and not isinstance(
                v, (bool, np.bool_)
            )
            if not integer or v < 0:
                raise ValueError(
                    f"{owner}: argument `{arg_name}` (the number of samples) must be "
                    f"an integer >= 0 or a list of them; got {sample_shape!r}."
                )
        if all(v is not None for v in entries):
            return sample_shape
    if not isinstance(sample_shape, (tf.Tensor, tf.Variable)) or in_xla_context():
        return sample_shape
    if tf.executing_eagerly():  # pragma: no cover (static above)
        return sample_shape
    check = tf.debugging.assert_non_negative(
        sample_shape,
        message=f"{owner}: argument `{arg_name}` (the number of samples) must be >= 0",
    )
    with tf.control_dependencies([check]):
        return tf.identity(sample_shape)


def check_integer_levels(
    x,
    arg_name,
    owner,
    num_levels,
    *,
    validate_args,
    noun="levels",
    range_names_num_levels=True,
):
    """Checks that `x` holds integer levels `0..num_levels-1`; returns `x`.

    Static (eager) values: ValueError naming `arg_name`. Symbolic values
    (`tf.function`): `tf.debugging` assertions on the range always, and on
    integrality under `validate_args`; `x` comes back with the assertions as
    control dependencies. Under XLA (where assertions are dropped) and eagerly
    on non-static values, `x` is returned unchecked.

    `noun` ("levels", "pixel levels") and `range_names_num_levels` shape the
    eager messages of each distribution.
    """
    top = num_levels - 1
    value = tf.get_static_value(x)
    if value is not None:
        value = np.asarray(value)
        if value.size and not np.all(np.equal(np.mod(value, 1), 0)):
            bad = value[np.mod(value, 1) != 0].reshape(-1)[0]
            raise ValueError(
                f"{owner}: argument `{arg_name}` must hold integer {noun} "
                f"0..{top}; got a non-integer value {bad!r}."
            )
        if value.size and (value.min() < 0 or value.max() > top):
            levels = f" (num_levels={num_levels})" if range_names_num_levels else ""
            raise ValueError(
                f"{owner}: argument `{arg_name}` must hold {noun} in "
                f"0..{top}{levels}; got values in {value.min()}..{value.max()}."
            )
        return x
    if in_xla_context() or tf.executing_eagerly():
        return x
    xf = tf.cast(x, tf.float32)
    msg = (
        f"{owner}: argument `{arg_name}` must hold integers in 0..{top} "
        f"(num_levels={num_levels})."
    )
    assertions = [
        tf.debugging.assert_greater_equal(xf, 0.0, message=msg),
        tf.debugging.assert_less_equal(xf, float(top), message=msg),
    ]
    if validate_args:
        assertions.append(tf.debugging.assert_equal(xf, tf.round(xf), message=msg))
    with tf.control_dependencies(assertions):
        return tf.identity(x)
