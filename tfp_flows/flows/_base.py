"""Not public API: the plumbing every builder in `tfp_flows.flows` shares.

A builder checks its arguments, makes its bijectors, and then (here) puts
them on a base distribution: by default a standard normal over the event,
else the user's, checked for event shape and dtype (an error naming the
builder and `base_distribution`).
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from tfp_flows.internal import checks
from tfp_flows.internal.flow_distribution import FlowDistribution
from tfp_flows.internal.types import DTypeLike

__all__ = ["base_distribution_or_default", "chain_flow", "standard_normal"]


def standard_normal(event_shape: Sequence[int], dtype: DTypeLike) -> tfd.Distribution:
    """`N(0, I)` over `event_shape` (batch shape `[]`), of `dtype`."""
    return tfd.Sample(
        tfd.Normal(tf.constant(0.0, dtype), tf.constant(1.0, dtype)),
        sample_shape=list(event_shape),
    )


def base_distribution_or_default(
    base_distribution: tfd.Distribution | None,
    event_shape: Sequence[int],
    dtype: DTypeLike,
    owner: str,
) -> tuple[tfd.Distribution, bool]:
    """`(base, is_default)`: the user's checked base, or `standard_normal`.

    Raises:
      TypeError: `base_distribution` is not a `tfd.Distribution`.
      ValueError: its event shape is not `event_shape` or its dtype not `dtype`.
    """
    if base_distribution is None:
        return standard_normal(event_shape, dtype), True
    checks.check_base_distribution(base_distribution, event_shape, dtype, owner)
    return base_distribution, False


def chain_flow(
    base_distribution: tfd.Distribution,
    bijectors: Sequence[tfb.Bijector],
    *,
    owner: str,
    name: str,
) -> FlowDistribution:
    """The builder's result: `bijectors` (base -> data order) on the base.

    `bijectors[0]` acts on the base sample first; `log_prob` runs them in
    reverse.
    """
    return FlowDistribution(
        base_distribution, tfb.Chain(list(bijectors)[::-1]), owner=owner, name=name
    )
