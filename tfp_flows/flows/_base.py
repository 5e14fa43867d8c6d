"""Not public API: the plumbing every builder in `tfp_flows.flows` shares.

A builder checks its arguments, makes its bijectors, and then (here) puts
them on a base distribution: by default a standard normal over the event,
else the user's, checked for event shape and dtype (an error naming the
builder and `base_distribution`).
"""

import tensorflow as tf
import tensorflow_probability as tfp
from tensorflow_probability import bijectors as tfb

from tfp_flows.internal import checks
from tfp_flows.internal.flow_distribution import FlowDistribution

tfd = tfp.distributions

__all__ = ["base_distribution_or_default", "chain_flow", "standard_normal"]


def standard_normal(event_shape, dtype) -> tfd.Distribution:
    """`N(0, I)` over `event_shape` (batch shape `[]`), of `dtype`."""
    return tfd.Sample(
        tfd.Normal(tf.constant(0.0, dtype), tf.constant(1.0, dtype)),
        sample_shape=list(event_shape),
    )


def base_distribution_or_default(base_distribution, event_shape, dtype, owner):
    """`(base, is_default)`: the user's checked base, or `standard_normal`.

    Raises:
      TypeError: `base_distribution` is not a `tfd.Distribution`.
      ValueError: its event shape is not `event_shape` or its dtype not `dtype`.
    """
    if base_distribution is None:
        return standard_normal(event_shape, dtype), True
    checks.check_base_distribution(base_distribution, event_shape, dtype, owner)
    return base_distribution, False


def chain_flow(base_distribution, bijectors, *, owner, name):
    """The builder's result: `bijectors` (base -> data order) on the base.

    `bijectors[0]` acts on the base sample first; `log_prob` runs them in
    reverse.
    """
    return FlowDistribution(
        base_distribution, tfb.Chain(list(bijectors)[::-1]), owner=owner, name=name
    )
