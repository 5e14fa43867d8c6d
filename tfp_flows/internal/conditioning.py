"""Not public API: the conditioning protocol, in one place.

A *conditional family* `p(x | c)` is any object with

* `context_shape`: the event shape of the context (`(C,)` for a vector, `(H',
  W', C')` for an image); `None` for an object that needs no context (an
  unconditional flow, or a family whose context is already bound);
* `context_dtype`: the dtype a context is cast to (the flow's float dtype; a
  PixelRNN over integer images takes a float context);
* `condition(context)`: an ordinary `tfd.Distribution` (a
  `tfd.TransformedDistribution` for a flow) with the context bound;
* `log_prob(x, context=c)` and `sample(n, context=c, seed=s)`, equal to
  `condition(c).log_prob(x)` and `condition(c).sample(n, seed=s)`.

`tfp_flows.flows.ConditionalFlow` (MAF, IAF, coupling flows, Glow, RealNVP)
and the `PixelRNNDistribution`, `GatedPixelCNNDistribution` and
`WaveNetDistribution` families (`tfp_flows.distributions`) follow it; the Keras glue
(`FlowLogProb`, `FlowSample`, `FlowModel`) and the exporters use only the
functions here, never the concrete classes.

A bijector that consumes a context derives from
`tfp_flows.bijectors.base.ContextBijector`: one `with_context(c)` returns the
same bijector (same weights) bound to `c`; `bind_context` binds every such
part of a chain.

Context checks (dtype, event shape, broadcasting against the batch of `x`,
or one row per row for a network's `call`) are `check_context`, with
`check_no_context` for a context given to something that takes none,
`check_network_context` for a network's `call`, `check_finite_context` and
`check_context_size` for the constructor argument, used by every
conditional object of the package.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from typing import Protocol
from typing import runtime_checkable

import tensorflow as tf

from tfp_flows.internal import checks

__all__ = [
    "ConditionalFamily",
    "check_context",
    "check_context_size",
    "check_finite_context",
    "check_network_context",
    "check_no_context",
    "context_dtype_of",
    "context_features",
    "context_shape_of",
    "draw_rows",
    "is_conditional_family",
]


@runtime_checkable
class ConditionalFamily(Protocol):
    """The protocol of a conditional family `p(x | c)` (see the module doc)."""

    @property
    def context_shape(self) -> tuple[int, ...] | None:
        """Event shape of the context, or None when no context is needed."""

    @property
    def context_dtype(self) -> tf.DType:
        """The dtype contexts are given in."""

    def condition(self, context: Any) -> Any:
        """`p(. | context)`, an ordinary distribution."""


def context_shape_of(flow: Any) -> tuple[int, ...] | None:
    """`flow.context_shape` for a family of the protocol; None otherwise.

    None for an ordinary distribution (an unconditional flow, or a family
    with its context bound): every conditional family of the package
    (`ConditionalFlow`, the PixelRNN / Gated PixelCNN / WaveNet
    distributions) implements the protocol, so nothing else is inspected.
    """
    if isinstance(flow, ConditionalFamily):
        shape = flow.context_shape
        return None if shape is None else tuple(shape)
    return None


def context_dtype_of(flow: Any) -> tf.DType:
    """`flow.context_dtype`: the dtype a conditional family takes its context in.

    Raises:
      TypeError: `flow` does not implement the protocol.
    """
    if not isinstance(flow, ConditionalFamily):
        raise TypeError(
            "context_dtype_of: argument `flow` must be a conditional family "
            "(with `context_shape`, `context_dtype` and `condition`); got "
            f"{type(flow).__name__}."
        )
    return tf.as_dtype(flow.context_dtype)


def is_conditional_family(flow: Any) -> bool:
    """True if `flow` needs a context (a conditional family, none bound)."""
    return context_shape_of(flow) is not None


def _spec_str(context_shape):
    return "[..., " + ", ".join(str(d) for d in context_shape) + "]"


def _rows_spec_str(context_shape, unbatched_ok):
    dims = ", ".join(str(d) for d in context_shape)
    rows = f"[batch, {dims}]"
    return f"[{dims}] or {rows}" if unbatched_ok else rows


def check_context_size(context_size: Any, owner: str) -> int | None:
    """`context_size` as a positive int, or None (the constructor argument).

    Raises:
      ValueError: `context_size` is not None nor a positive integer.
    """
    if context_size is None:
        return None
    return checks.check_positive_int(context_size, "context_size", owner)


def check_no_context(
    context: Any,
    owner: str,
    *,
    arg_name: str = "context",
    noun: str = "flow",
    detail: str = "is unconditional (it takes no context)",
    hint: str = "Build a conditional one with `context_size=C` (or `context_shape=`).",
) -> None:
    """ValueError for a context given to something that takes none.

    Args:
      context: the context given (None passes).
      owner: the class or function named in errors.
      arg_name: the argument named in errors.
      noun: what takes no context ("flow", "model", "WaveNet", ...).
      detail: why, after "this {noun}".
      hint: how to build one that takes a context.
    """
    if context is not None:
        shape = getattr(context, "shape", None)
        got = f" (got shape {checks.shape_str(shape)})" if shape is not None else ""
        raise ValueError(
            f"{owner}: argument `{arg_name}` was given{got}, but this {noun} "
            f"{detail}. {hint}"
        )


def check_context(
    context: Any,
    context_shape: Sequence[int | None],
    dtype: tf.DType | str,
    owner: str,
    *,
    arg_name: str = "context",
    batch_shape: Any = None,
    values_name: str = "x",
    cast: bool = False,
    per_row: bool = False,
    rows: int | None = None,
    unbatched_ok: bool = False,
    noun: str = "flow",
) -> tf.Tensor:
    """The one context check: presence, dtype, event shape and batch.

    Args:
      context: the context given (a tensor, array or nested list).
      context_shape: its expected event shape (entries None: any size).
      dtype: the floating dtype the context is used in.
      owner: the class or function named in errors.
      arg_name: the argument named in errors.
      batch_shape: optional batch shape of the values scored with this
        context (e.g. `x.shape[:-event_rank]`); the context's batch shape
        must broadcast with it.
      values_name: the argument whose batch is `batch_shape` (or `rows`),
        named in errors.
      cast: False (flows): a context of an integer or of another float dtype
        is an error naming the cast. True (densities over integer images or
        sequences, whose context is often an integer one-hot label): any
        real dtype is cast to `dtype`; bool, string and complex are errors.
      per_row: the network form: `context` must be `[rows, *context_shape]`,
        one row per row of `values_name` (`rows` None: any number of rows).
      rows: the number of rows for `per_row` (None: unknown).
      unbatched_ok: with `per_row`, `[*context_shape]` (one context for all
        rows) is accepted too (and returned as it is).
      noun: what is conditional, in the message for a missing context.

    Returns:
      `context` as a tensor of `dtype`.

    Raises:
      ValueError: `context` is None, of a dtype that is not accepted, of
        the wrong event shape, or with a batch that does not fit.
    """
    want = list(context_shape)
    dtype = tf.as_dtype(dtype)
    spec = _rows_spec_str(want, unbatched_ok) if per_row else _spec_str(want)
    if context is None:
        size = (
            f"context_size={want[0]}, "
            if len(want) == 1 and want[0] is not None
            else ""
        )
        raise ValueError(
            f"{owner}: argument `{arg_name}` is required: this {noun} is "
            f"conditional ({size}context shape {spec}); got None."
        )
    got_dtype = getattr(context, "dtype", None)
    if got_dtype is not None:
        try:
            got_dtype = tf.as_dtype(got_dtype)
        except TypeError:
            got_dtype = None
    if cast:
        if not isinstance(context, (tf.Tensor, tf.Variable)):
            context = tf.convert_to_tensor(context)
        got_dtype = tf.as_dtype(context.dtype)
        if got_dtype.is_bool or not (got_dtype.is_floating or got_dtype.is_integer):
            depth = str(want[-1]) if want and want[-1] is not None else "C"
            raise ValueError(
                f"{owner}: argument `{arg_name}` must be a real tensor (float, or "
                f"integer such as a one-hot label `tf.one_hot(labels, {depth})`); "
                f"got dtype {got_dtype.name}."
            )
        if context.dtype != dtype:
            context = tf.cast(context, dtype)
    else:
        if got_dtype is not None and not got_dtype.is_floating:
            raise ValueError(
                f"{owner}: argument `{arg_name}` must be a floating-point tensor "
                f"of dtype {dtype.name}; got dtype {got_dtype.name}. Cast it first, "
                f"e.g. `tf.cast({arg_name}, tf.{dtype.name})` (one-hot labels too)."
            )
        if isinstance(context, (tf.Tensor, tf.Variable)) and context.dtype != dtype:
            raise ValueError(
                f"{owner}: argument `{arg_name}` has dtype {context.dtype.name}, but "
                f"this {noun}'s dtype is {dtype.name}; cast it with "
                f"`tf.cast({arg_name}, tf.{dtype.name})`."
            )
        if not isinstance(context, (tf.Tensor, tf.Variable)):
            context = tf.convert_to_tensor(context, dtype_hint=dtype)
            context = tf.cast(context, dtype)
    shape = context.shape
    if shape.rank is None:
        return context
    if per_row:
        rank_ok = shape.rank == len(want) + 1 or (
            unbatched_ok and shape.rank == len(want)
        )
        tail = shape.as_list()[-len(want) :] if shape.rank >= len(want) else []
        event_ok = rank_ok and all(
            w is None or g is None or w == g for w, g in zip(want, tail, strict=True)
        )
        rows_ok = (
            shape.rank == len(want)
            or rows is None
            or shape[0] is None
            or shape[0] == rows
        )
        if not (event_ok and rows_ok):
            about = (
                f" (batch {rows}, the batch size of `{values_name}`)"
                if rows is not None
                else ""
            )
            raise ValueError(
                f"{owner}: argument `{arg_name}` must have shape {spec}{about}; "
                f"got shape {checks.shape_str(shape)}."
            )
        return context
    if shape.rank < len(want):
        raise ValueError(
            f"{owner}: argument `{arg_name}` must have shape {spec}; "
            f"got shape {checks.shape_str(shape)}."
        )
    tail = shape.as_list()[shape.rank - len(want) :]
    for w, g in zip(want, tail, strict=True):
        if w is not None and g is not None and w != g:
            raise ValueError(
                f"{owner}: argument `{arg_name}` must have shape "
                f"{spec}; got shape {checks.shape_str(shape)}."
            )
    if batch_shape is not None:
        ctx_batch = tf.TensorShape(shape.as_list()[: shape.rank - len(want)])
        x_batch = tf.TensorShape(batch_shape)
        try:
            tf.broadcast_static_shape(ctx_batch, x_batch)
        except ValueError:
            raise ValueError(
                f"{owner}: argument `{arg_name}` has batch shape "
                f"{checks.shape_str(ctx_batch)} (shape "
                f"{checks.shape_str(shape)}), which does not broadcast with "
                f"the batch shape {checks.shape_str(x_batch)} of "
                f"`{values_name}`; give one context row per example (or one "
                "context for all)."
            ) from None
    return context


def check_network_context(
    context: Any,
    context_size: int | None,
    dtype: tf.DType | str,
    owner: str,
    *,
    rows: int | None = None,
    values_name: str = "images",
) -> tf.Tensor | None:
    """The context check of a network's `call(inputs, context)`.

    An unconditional network (`context_size=None`) takes no context; a
    conditional one takes `[rows, context_size]` of any real dtype (cast to
    `dtype`), one row per row of `values_name`.

    Returns:
      The context cast to `dtype`, or None for an unconditional network.
    """
    if context_size is None:
        check_no_context(
            context,
            owner,
            noun="model",
            hint="Build it with `context_size=C` to condition it.",
        )
        return None
    return check_context(
        context,
        (context_size,),
        dtype,
        owner,
        cast=True,
        per_row=True,
        rows=rows,
        values_name=values_name,
        noun="model",
    )


def check_finite_context(
    context: tf.Tensor, owner: str, *, arg_name: str = "context"
) -> tf.Tensor:
    """ValueError for a context with NaN or Inf values (checked eagerly only).

    Inside `tf.function` the values are unknown and `context` is returned as
    it is (the check would need an assertion op XLA drops anyway).
    """
    if tf.executing_eagerly() and not bool(tf.reduce_all(tf.math.is_finite(context))):
        raise ValueError(
            f"{owner}: argument `{arg_name}` (shape "
            f"{checks.shape_str(context.shape)}) contains NaN or Inf."
        )
    return context


def _resize(context, h, w):
    """`[N, H', W', C] -> [N, h, w, C]`: average pooling, repeats, or bilinear."""
    big_h, big_w = context.shape[-3], context.shape[-2]
    if big_h is not None and big_w is not None and h is not None and w is not None:
        if (big_h, big_w) == (h, w):
            return context
        if big_h % h == 0 and big_w % w == 0:
            k = (big_h // h, big_w // w)
            return tf.nn.avg_pool2d(context, k, k, "VALID")
        if h % big_h == 0 and w % big_w == 0:
            up = tf.repeat(context, h // big_h, axis=1)
            return tf.repeat(up, w // big_w, axis=2)
    size = tf.shape(context)[1:3] if h is None else [h, w]
    return tf.cast(tf.image.resize(context, size, "bilinear"), context.dtype)


def context_features(
    context: tf.Tensor, like: tf.Tensor, context_rank: int
) -> tf.Tensor:
    """The context as a feature map beside `like` (`[N, h, w, C_x]`).

    A vector context `[N, C]` (or `[C]`) is broadcast over `h` and `w` (a
    class embedding at every pixel); an image context `[N, H', W', C']`
    is brought to `h x w` (average pooling when it is an integer multiple,
    nearest repeats when a divisor, bilinear otherwise), so the conditioning
    network's first convolution sees it at the level's resolution (the
    SRFlow / conditional-Glow pattern).

    Args:
      context: `[N, *context_shape]` or `[*context_shape]`.
      like: the `[N, h, w, C_x]` tensor it is concatenated to.
      context_rank: 1 (vector) or 3 (image).

    Returns:
      `[N, h, w, C]` of `like`'s dtype.
    """
    context = tf.cast(context, like.dtype)
    if context.shape.rank == context_rank:
        context = context[None]
    n = tf.shape(like)[0]
    if context_rank == 1:
        hw = tf.shape(like)[1:3]
        c = tf.reshape(context, [-1, 1, 1, context.shape[-1]])
        return tf.broadcast_to(c, tf.concat([[n], hw, tf.shape(c)[-1:]], 0))
    c = _resize(context, like.shape[1], like.shape[2])
    return tf.broadcast_to(c, tf.concat([[n], tf.shape(c)[1:]], 0))


def draw_rows(dist: Any, rows: Any, *, seed: Any, temperature: Any = 1.0) -> tf.Tensor:
    """`rows` samples of `dist`, one per batch member, optionally with temperature.

    The one sampling rule of the Keras glue and the exporters: a distribution
    with batch shape `[rows]` (a conditional PixelRNN bound to `rows`
    contexts) is drawn once; one of batch shape `[]` (a flow, whose base has
    no batch even when its bijectors hold `rows` contexts) is drawn `rows`
    times. With `temperature != 1` the base noise of a transformed
    distribution is scaled first (Glow's section 5.3); other distributions
    have no latent to scale and raise.

    Raises:
      ValueError: `temperature != 1` for a distribution with no base.
    """
    from tensorflow_probability.python.distributions.transformed_distribution import (  # noqa: E501
        _TransformedDistribution,
    )

    batched = dist.batch_shape.rank is None or dist.batch_shape.rank > 0
    shape = [] if batched else [rows]
    unit = isinstance(temperature, (int, float)) and float(temperature) == 1.0
    if unit:
        return dist.sample(shape, seed=seed)
    if not isinstance(dist, _TransformedDistribution):
        raise ValueError(
            f"`temperature` must be 1.0 for {type(dist).__name__}, which has no "
            f"latent base distribution; got {temperature}."
        )
    eps = dist.distribution.sample(shape, seed=seed)
    return dist.bijector.forward(eps * tf.cast(temperature, eps.dtype))
