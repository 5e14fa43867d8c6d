"""Data-dependent initialization of every ActNorm in a flow.

`initialize_act_norms` serves every builder (Glow, RealNVP, coupling flows,
MAF/IAF with `actnorm=True`) and hand-made `tfb.Chain`s of our bijectors: it
runs a batch of data through the flow in the data-to-latent direction and
initializes each ActNorm on the data as it reaches it.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from tfp_flows.bijectors.act_norm import ActNorm
from tfp_flows.internal import checks
from tfp_flows.internal.conditioning import check_no_context
from tfp_flows.internal.conditioning import is_conditional_family
from tfp_flows.internal.types import ReduceFn
from tfp_flows.internal.types import TensorLike

__all__ = ["initialize_act_norms", "replica_sum"]

# `tfb.Chain(parts)` and `tfb.Invert(b)` return instances of TFP's private
# `_Chain` / `_Invert` when a part is not a CompositeTensor, as ours are not
# (they hold Keras layers). In TFP 0.25 those private classes are the *base*
# classes of the public ones (`tfb.Chain.__mro__` is `Chain, _Chain,
# Composition, ...`), so `isinstance(b, tfb.Chain)` is False for our chains.
# TFP exports no name for them; rather than importing the private modules
# `tensorflow_probability.python.bijectors.chain` / `invert`, take each from
# its public subclass. (The public `tfb.Composition` is no substitute: it is
# also the base of `tfb.JointMap` and `tfb.Blockwise`, which are not
# sequential.) Walking them uses only public attributes: `Chain.bijectors`
# (data side first: `tfb.Chain([f, g])` is `f(g(z))`) and `Invert.bijector`.
_CHAINS = (tfb.Chain, tfb.Chain.__bases__[0])
_INVERTS = (tfb.Invert, tfb.Invert.__bases__[0])


def _walk_and_initialize(b, y, reduce_fn=None):
    """Data -> latent through `b`, initializing each ActNorm on what reaches it."""
    y = tf.identity(y)  # a fresh tensor: never reuse TFP's cached results
    if isinstance(b, ActNorm):
        b.initialize(y, reduce_fn=reduce_fn)
        return b.inverse(tf.identity(y))
    if hasattr(b, "_data_init_walk"):  # our MultiScale: it routes the splits

        def walk(part, z):
            return _walk_and_initialize(part, z, reduce_fn)

        return b._data_init_walk(y, walk)  # pylint: disable=protected-access
    parts = getattr(b, "parts", None)  # our GlowStep: its parts, data side first
    if parts is None and isinstance(b, _CHAINS):
        parts = b.bijectors
    if parts is not None:
        for part in parts:
            y = _walk_and_initialize(part, y, reduce_fn)
        return y
    if isinstance(b, _INVERTS) and _has_act_norm(b.bijector):
        raise ValueError(
            "initialize_act_norms: an ActNorm inside tfb.Invert would be "
            "initialized from the latent side; initialize it by hand."
        )
    return b.inverse(y)


def _has_act_norm(b):
    return any(isinstance(m, ActNorm) for m in [b] + list(b.submodules))


def replica_sum(
    total: tf.Tensor, total_sq: tf.Tensor, count: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """A `reduce_fn` for ActNorm statistics: sums over every replica (and worker).

    Call it inside `strategy.run` (a replica context): it all-reduces the
    per-channel sums, sums of squares and counts of each replica's shard, so
    each ActNorm gets the statistics of the global batch. Outside a strategy
    it returns its arguments.
    """
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return total, total_sq, count
    return tuple(ctx.all_reduce(tf.distribute.ReduceOp.SUM, [total, total_sq, count]))


def initialize_act_norms(
    flow: tfd.Distribution | tfb.Bijector,
    data: TensorLike,
    *,
    context: TensorLike | None = None,
    reduce_fn: ReduceFn | None = None,
) -> tf.Tensor:
    """Data-dependent initialization of every ActNorm in a flow, in one pass.

    `data` is run through the flow in the data-to-latent direction; each
    ActNorm is initialized from the data *as it reaches that layer* (after the
    parts before it, already initialized), so each one's output has zero mean
    and unit variance per channel on this batch. Never uses samples.

    Under a `tf.distribute` strategy, call it inside `strategy.run` on each
    replica's shard with `reduce_fn=replica_sum`: every replica then gets the
    statistics of the global batch (`layers.FlowModel.initialize_act_norms`
    does this for a `tf.data.Dataset`).

    Args:
      flow: a `tfd.TransformedDistribution` or a bijector.
      data: a float batch of training data (e.g. 256 dequantized images).
      context: for a conditional family, the batch's contexts (one per row,
        as in training): the flow is `flow.condition(context)`, so each
        ActNorm sees the data as the conditional couplings before it
        transformed them.
      reduce_fn: optional `reduce_fn(sum_c, sum_sq_c, count)` returning global
        sums (see `ActNorm.initialize`), e.g. `replica_sum`.

    Returns:
      The latent `z` of `data` after initialization.

    Raises:
      ValueError: integer, empty or non-finite `data` (nothing is written to
        an ActNorm from it), `data` of the wrong event shape, a conditional
        family without `context`, or a `context` for an unconditional flow.
      TypeError: `flow` is neither a distribution nor a bijector.

    #### Examples

    >>> from tfp_flows.flows import glow
    >>> flow = glow((8, 8, 1), num_levels=1, num_steps=1, hidden_units=8)
    >>> x = tf.random.stateless_uniform([16, 8, 8, 1], seed=[0, 0]) - 0.5
    >>> z = initialize_act_norms(flow, x)
    >>> act = flow.bijector.levels[0].steps[0].act_norm
    >>> bool(act.is_initialized)
    True
    """
    owner = "initialize_act_norms"
    if is_conditional_family(flow):
        if context is None:
            raise ValueError(
                f"{owner}: argument `flow` is a conditional family "
                f"({type(flow).__name__}); pass the batch's contexts: "
                "`initialize_act_norms(flow, data, context=c)` (the same as "
                "`initialize_act_norms(flow.condition(c), data)`; or "
                "`FlowModel.initialize_act_norms((x, context))`)."
            )
        family: Any = flow
        flow = family.condition(context)
    else:
        check_no_context(context, owner)
    bijector = getattr(flow, "bijector", flow)
    if not isinstance(bijector, tfb.Bijector):
        raise TypeError(
            f"{owner}: argument `flow` must be a tfd.TransformedDistribution or a "
            f"tfb.Bijector; got {type(flow).__name__}."
        )
    if hasattr(flow, "check_value"):  # a tfp_flows flow: names `data`
        flow.check_value(data, arg_name="data", owner=owner)
    else:
        checks.check_no_integer_values(data, "data", owner, tf.float32)
    data = tf.convert_to_tensor(data)
    return _walk_and_initialize(bijector, data, reduce_fn)
