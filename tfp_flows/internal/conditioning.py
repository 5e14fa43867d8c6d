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
and `tfp_flows.distributions.PixelRNNDistribution` follow it; the Keras glue
(`FlowLogProb`, `FlowSample`, `FlowModel`) and the exporters use only the
functions here, never the concrete classes.

A bijector that consumes a context derives from
`tfp_flows.bijectors.base.ContextBijector`: one `with_context(c)` returns the
same bijector (same weights) bound to `c`; `bind_context` binds every such
part of a chain.

Context checks (dtype, event shape, broadcasting against the batch of `x`)
are `check_context`, used by every conditional object of the package.
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

    A distribution that predates the protocol and exposes only
    `context_size`, `condition` and (once bound) `context`, as the PixelRNN
    family did, is read as the family of vector contexts `(context_size,)`.
    """
    if isinstance(flow, ConditionalFamily):
        shape = flow.context_shape
        return None if shape is None else tuple(shape)
    size = getattr(flow, "context_size", None)
    if (
        size is not None
        and callable(getattr(flow, "condition", None))
        and getattr(flow, "context", None) is None
    ):
        return (int(size),)
    return None


def context_dtype_of(flow: Any) -> tf.DType:
    """The dtype a family takes its context in (`context_dtype`).

    Without the attribute: the family's dtype when floating, else float32
    (a density over integer images takes a float context).
    """
    dtype = getattr(flow, "context_dtype", None)
    if dtype is not None:
        return tf.as_dtype(dtype)
    own = tf.as_dtype(flow.dtype)
    return own if own.is_floating else tf.float32


def is_conditional_family(flow: Any) -> bool:
    """True if `flow` needs a context (a conditional family, none bound)."""
    return context_shape_of(flow) is not None


def _spec_str(context_shape):
    return "[..., " + ", ".join(str(d) for d in context_shape) + "]"


def check_no_context(context: Any, owner: str) -> None:
    """ValueError for a context given to something that takes none."""
    if context is not None:
        shape = getattr(context, "shape", None)
        got = f" (got shape {checks.shape_str(shape)})" if shape is not None else ""
        raise ValueError(
            f"{owner}: argument `context` was given{got}, but this flow is "
            "unconditional (it takes no context). Build a conditional one with "
            "`context_size=C` (or `context_shape=`)."
        )


def check_context(
    context: Any,
    context_shape: Sequence[int | None],
    dtype: tf.DType | str,
    owner: str,
    *,
    arg_name: str = "context",
    batch_shape: Any = None,
) -> tf.Tensor:
    """The one context check: presence, dtype, event shape and batch broadcast.

    Args:
      context: the context given (a tensor, array or nested list).
      context_shape: its expected event shape (entries None: any size).
      dtype: the floating dtype the context must have (float inputs of another
        width are an error naming the cast; integer inputs too).
      owner: the class or function named in errors.
      arg_name: the argument named in errors.
      batch_shape: optional batch shape of the values scored with this
        context (e.g. `x.shape[:-event_rank]`); the context's batch shape
        must broadcast with it.

    Returns:
      `context` as a tensor of `dtype`.

    Raises:
      ValueError: `context` is None, of an integer or other float dtype, of
        the wrong event shape, or with a batch that does not broadcast.
    """
    want = list(context_shape)
    dtype = tf.as_dtype(dtype)
    if context is None:
        raise ValueError(
            f"{owner}: argument `{arg_name}` is required: this flow is "
            f"conditional (context shape {_spec_str(want)}); got None."
        )
    got_dtype = getattr(context, "dtype", None)
    if got_dtype is not None:
        try:
            got_dtype = tf.as_dtype(got_dtype)
        except TypeError:
            got_dtype = None
    if got_dtype is not None and not got_dtype.is_floating:
        raise ValueError(
            f"{owner}: argument `{arg_name}` must be a floating-point tensor of "
            f"dtype {dtype.name}; got dtype {got_dtype.name}. Cast it first, e.g. "
            f"`tf.cast({arg_name}, tf.{dtype.name})` (one-hot labels too)."
        )
    if isinstance(context, (tf.Tensor, tf.Variable)) and context.dtype != dtype:
        raise ValueError(
            f"{owner}: argument `{arg_name}` has dtype {context.dtype.name}, but this "
            f"flow's dtype is {dtype.name}; cast it with "
            f"`tf.cast({arg_name}, tf.{dtype.name})`."
        )
    if not isinstance(context, (tf.Tensor, tf.Variable)):
        context = tf.convert_to_tensor(context, dtype_hint=dtype)
        context = tf.cast(context, dtype)
    shape = context.shape
    if shape.rank is not None:
        if shape.rank < len(want):
            raise ValueError(
                f"{owner}: argument `{arg_name}` must have shape {_spec_str(want)}; "
                f"got shape {checks.shape_str(shape)}."
            )
        tail = shape.as_list()[shape.rank - len(want) :]
        for w, g in zip(want, tail, strict=True):
            if w is not None and g is not None and w != g:
                raise ValueError(
                    f"{owner}: argument `{arg_name}` must have shape "
                    f"{_spec_str(want)}; got shape {checks.shape_str(shape)}."
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
                    f"the batch shape {checks.shape_str(x_batch)} of `x`; give one "
                    "context row per example (or one context for all)."
                ) from None
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
