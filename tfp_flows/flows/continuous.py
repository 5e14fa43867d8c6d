"""Continuous normalizing flows: `ffjord(...)`.

`ffjord` returns a `tfd.TransformedDistribution` (a `ConditionalFlow` with
`context_size`): `num_blocks` `FFJORD` bijectors (each an ODE solve with its
own dynamics network) on a standard normal (or given) base.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tfp_flows.bijectors.ffjord import FFJORD
from tfp_flows.flows._base import base_distribution_or_default
from tfp_flows.flows._base import chain_flow
from tfp_flows.flows.conditional import ConditionalFlow
from tfp_flows.internal import checks
from tfp_flows.internal.specs import register_builder
from tfp_flows.internal.types import DTypeLike

__all__ = ["ffjord"]


@register_builder("ffjord")
def ffjord(
    event_size: int,
    *,
    num_blocks: int = 1,
    hidden_units: Sequence[int] = (64, 64),
    activation: str = "tanh",
    time_conditioning: str = "concat_squash",
    trace_estimator: str = "hutchinson",
    eval_trace_estimator: str = "exact",
    noise: str = "rademacher",
    solver: str = "dormand_prince",
    rtol: float = 1e-5,
    atol: float = 1e-5,
    num_steps: int = 16,
    time_length: float = 1.0,
    context_size: int | None = None,
    base_distribution: tfd.Distribution | None = None,
    seed: int = 0,
    dtype: DTypeLike = tf.float32,
) -> Any:
    """FFJORD (Grathwohl et al. 2019): `num_blocks` CNF blocks on a base.

    Each block is a `tfp_flows.bijectors.FFJORD`, `dz/dt = f_k(z, t)` over
    `[0, time_length]`, so

        log p(x) = log p_base(z_0) - sum_k integral tr(df_k/dz) dt

    with the Hutchinson estimate of the trace in training (`model.fit`) and
    the exact trace otherwise (see `FFJORD` for every option). The paper's
    2-D experiments use one block of 3 hidden layers of 64 units.

    Args:
      event_size: D.
      num_blocks: number of CNF blocks (ODE solves) in the stack.
      hidden_units: hidden widths of each block's dynamics network.
      activation: `'tanh'`, `'softplus'` or `'swish'`.
      time_conditioning: `'concat_squash'` or `'concat'`.
      trace_estimator: `'hutchinson'` or `'exact'` (training).
      eval_trace_estimator: `'exact'` or `'hutchinson'` (otherwise).
      noise: `'rademacher'` or `'gaussian'` Hutchinson noise.
      solver: `'dormand_prince'`, `'bdf'` or `'rk4'`.
      rtol: relative tolerance of the adaptive solvers.
      atol: absolute tolerance of the adaptive solvers.
      num_steps: steps of the `'rk4'` solver.
      time_length: integration time T of each block.
      context_size: C for a conditional flow `p(x | c)` (the context is fed
        to every block's dynamics); returns a `ConditionalFlow`.
      base_distribution: the base (default: standard normal on `[D]`).
      seed: seed of the initial weights and of the Hutchinson noise.
      dtype: weight dtype.

    Returns:
      A `tfd.TransformedDistribution`, or a `ConditionalFlow` with
      `context_size`.

    Raises:
      ValueError: a bad argument (named in the message; see `FFJORD`).

    #### Examples

    >>> flow = ffjord(2, hidden_units=(8,), solver="rk4", num_steps=4)
    >>> flow.log_prob(tf.zeros([3, 2])).shape
    TensorShape([3])
    >>> cond = ffjord(2, hidden_units=(8,), solver="rk4", num_steps=4,
    ...               context_size=3)
    >>> cond.log_prob(tf.zeros([3, 2]), context=tf.ones([3, 3])).shape
    TensorShape([3])
    """
    owner = "ffjord"
    d = checks.check_positive_int(event_size, "event_size", owner)
    k = checks.check_positive_int(num_blocks, "num_blocks", owner)
    seed = checks.check_seed(seed, owner)
    dtype = checks.check_dtype_arg(dtype, owner)
    base_distribution, _ = base_distribution_or_default(
        base_distribution, [d], dtype, owner
    )
    blocks = [
        FFJORD(
            d,
            hidden_units=hidden_units,
            activation=activation,
            time_conditioning=time_conditioning,
            context_size=context_size,
            trace_estimator=trace_estimator,
            eval_trace_estimator=eval_trace_estimator,
            noise=noise,
            solver=solver,
            rtol=rtol,
            atol=atol,
            num_steps=num_steps,
            time_length=time_length,
            seed=seed * 1000 + i,
            dtype=dtype,
            name=f"ffjord_{i}",
        )
        for i in range(k)
    ]
    if context_size is not None:
        return ConditionalFlow(
            base_distribution, blocks, context_size, name=owner, owner=owner
        )
    return chain_flow(base_distribution, blocks, owner=owner, name=owner)
