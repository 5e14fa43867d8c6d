"""Not public API: what kind of flow a Keras wrapper or an exporter was given.

Shared by `tfp_flows.layers` (FlowLogProb, FlowSample, FlowModel) and
`tfp_flows.saving` (the SavedModel export), which must agree on when a flow
is a conditional family, which dtype it scores, and how `(x, context)`
inputs are split. Everything here works from the conditioning protocol
(`tfp_flows.internal.conditioning`), never from concrete classes.
"""

from typing import Any

import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tfp_flows.internal import checks
from tfp_flows.internal.conditioning import ConditionalFamily
from tfp_flows.internal.conditioning import context_dtype_of
from tfp_flows.internal.conditioning import context_shape_of
from tfp_flows.internal.conditioning import is_conditional_family

__all__ = [
    "check_flow",
    "check_x_dtype",
    "context_dtype",
    "flow_dtype",
    "is_conditional",
    "split_inputs",
]


def is_conditional(flow: Any) -> bool:
    """True for a conditional family that needs a context (none bound)."""
    return is_conditional_family(flow)


def flow_dtype(flow: Any) -> tf.DType:
    """The dtype of the values `flow.log_prob` scores."""
    return tf.as_dtype(flow.dtype)


def context_dtype(flow: Any) -> tf.DType:
    """The dtype a conditional family takes its context in."""
    return context_dtype_of(flow)


def check_flow(flow: Any, owner: str) -> Any:
    """`flow`; TypeError unless it is a distribution or a conditional family."""
    if not isinstance(flow, (tfd.Distribution, ConditionalFamily)):
        raise TypeError(
            f"{owner}: argument `flow` must be a tfp distribution (e.g. made by "
            "`tfp_flows.flows.glow`, `maf`, ...) or a conditional flow; got "
            f"{type(flow).__name__}."
        )
    return flow


def check_x_dtype(flow: Any, x: Any, owner: str) -> None:
    """The error `flow.log_prob` gives for integer data, for Keras inputs too."""
    checks.check_no_integer_values(x, "x", owner, flow_dtype(flow))


def split_inputs(flow: Any, inputs: Any, owner: str) -> tuple[Any, Any]:
    """(x, context) from `x`, `(x, context)` or `{'x':..., 'context':...}`."""
    if isinstance(inputs, dict):
        x, context = inputs.get("x"), inputs.get("context")
    elif isinstance(inputs, (list, tuple)):
        if len(inputs) != 2:
            raise ValueError(
                f"{owner}: inputs must be `x` or `(x, context)`; got a sequence of "
                f"{len(inputs)} tensors."
            )
        x, context = inputs
    else:
        x, context = inputs, None
    shape = context_shape_of(flow)
    if shape is not None and context is None:
        raise ValueError(
            f"{owner}: this flow is conditional (context shape [..., "
            + ", ".join(str(d) for d in shape)
            + "]); pass inputs as (x, context)."
        )
    if shape is None and context is not None:
        raise ValueError(
            f"{owner}: argument `context` was given, but this flow is "
            "unconditional; pass only `x`, no context."
        )
    return x, context
