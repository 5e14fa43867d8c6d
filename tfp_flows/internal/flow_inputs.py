"""Not public API: what kind of flow a Keras wrapper or an exporter was given.

Shared by `tfp_flows.layers` (FlowLogProb, FlowSample, FlowModel) and
`tfp_flows.saving` (the SavedModel export), which must agree on when a flow
is a conditional family, which dtype it scores, and how `(x, context)`
inputs are split.
"""

from tensorflow_probability import distributions as tfd

from tfp_flows.internal import checks

__all__ = [
    "check_flow",
    "check_x_dtype",
    "flow_dtype",
    "is_conditional",
    "split_inputs",
]


def is_conditional(flow):
    """True for a conditional family (`ConditionalFlow`, conditional PixelRNN)."""
    # A PixelRNNDistribution always has `condition`/`context_size`: it is a
    # conditional family only with a context size and no bound context.
    return (
        hasattr(flow, "condition")
        and getattr(flow, "context_size", None) is not None
        and getattr(flow, "context", None) is None
    )


def flow_dtype(flow):
    """The dtype of the values `flow.log_prob` scores."""
    dtype = getattr(flow, "dtype", None)
    return dtype if dtype is not None else flow.distribution.dtype


def check_flow(flow, owner):
    """`flow`; TypeError unless it is a distribution or a conditional family."""
    family = hasattr(flow, "condition") and hasattr(flow, "log_prob")
    if not (isinstance(flow, tfd.Distribution) or family):
        raise TypeError(
            f"{owner}: argument `flow` must be a tfp distribution (e.g. made by "
            "`tfp_flows.flows.glow`, `maf`, ...) or a conditional flow; got "
            f"{type(flow).__name__}."
        )
    return flow


def check_x_dtype(flow, x, owner):
    """The error `flow.log_prob` gives for integer data, for Keras inputs too."""
    checks.check_no_integer_values(x, "x", owner, flow_dtype(flow))


def split_inputs(flow, inputs, owner):
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
    if is_conditional(flow) and context is None:
        raise ValueError(
            f"{owner}: this flow is conditional (context_size={flow.context_size}); "
            "pass inputs as (x, context)."
        )
    if not is_conditional(flow) and context is not None:
        raise ValueError(
            f"{owner}: this flow is unconditional; pass only `x`, no context."
        )
    return x, context
