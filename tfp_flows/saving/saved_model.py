"""Export a flow as a SavedModel that serves `log_prob` and `sample`.

The export needs no `tfp_flows` code to load: it holds the flow's variables
and two traced signatures, with a dynamic batch dimension.
"""

from __future__ import annotations

import os
from typing import TypeVar

import tensorflow as tf

from tfp_flows.internal import checks
from tfp_flows.internal.conditioning import context_shape_of
from tfp_flows.internal.conditioning import draw_rows
from tfp_flows.internal.flow_inputs import check_flow
from tfp_flows.internal.flow_inputs import context_dtype
from tfp_flows.internal.flow_inputs import flow_dtype
from tfp_flows.internal.flow_inputs import is_conditional
from tfp_flows.internal.types import Flow
from tfp_flows.layers.flow_model import FlowModel

__all__ = ["export_saved_model"]

_PathT = TypeVar("_PathT", bound="str | os.PathLike[str]")


def _checked_served_input(t, event, arg_name):
    """`t`, after checking that its shape is `[batch, *event]` (rank and sizes).

    Served signatures do not enforce their TensorSpec's shape, and graph
    optimizations fold `tf.rank(t)` and the static dims of `tf.shape(t)` to
    the spec's values: a check written with them passes vacuously (a rank-1
    `[D]` input for a `[batch, D]` signature reached a MatMul). So:

    1. `t` first goes through a `tf.cond` that is never taken at run time but
       has a rank-1 branch; its output has an unknown static shape, so its
       `tf.shape` is the true run-time shape.
    2. Rank and sizes are compared in a second `tf.cond`, whose failing
       branch returns zeros of a valid shape behind the failing assertion: no
       op downstream ever runs on the bad input (and reports its own error
       before this one).
    3. `tf.ensure_shape` gives the result back its static shape.
    """
    rank = len(event) + 1
    want = "[batch, " + ", ".join(str(d) for d in event) + "]"
    opaque = tf.cond(
        tf.equal(tf.size(t), -1),  # never: hides the static shape of `t`
        lambda: tf.reshape(t, [-1]),
        lambda: tf.identity(t),
    )
    shape = tf.shape(opaque)
    # Padded so that the slice exists for any rank; -1 never matches a size.
    padded = tf.concat([shape, -tf.ones([rank], tf.int32)], 0)
    ok = tf.logical_and(
        tf.equal(tf.size(shape), rank),
        tf.reduce_all(tf.equal(padded[1:rank], tf.constant(event, tf.int32))),
    )

    def fail():
        message = (
            f"served signature: argument `{arg_name}` must have shape {want} "
            f"(rank {rank}); got shape"
        )
        assertion = tf.debugging.Assert(False, [message, shape], summarize=rank)
        with tf.control_dependencies([assertion]):
            # Zeros with the input's batch size (1 for a scalar), so that a
            # context and `x` still broadcast while the assertion fails.
            batch = tf.concat([shape, [1]], 0)[:1]
            return tf.zeros(tf.concat([batch, event], 0), t.dtype)

    checked = tf.cond(ok, lambda: tf.identity(opaque), fail)
    return tf.ensure_shape(checked, [None] + list(event))


class _Served(tf.Module):
    def __init__(self, flow, event_shape, dtype):
        super().__init__(name="tfp_flows_export")
        self._flow_variables = list(flow.variables)
        self._flow = flow
        event = list(event_shape)
        if is_conditional(flow):
            self._conditional(flow, event, dtype)
            return

        @tf.function(input_signature=[tf.TensorSpec([None] + event, dtype, name="x")])
        def log_prob(x):
            x = _checked_served_input(x, event, "x")
            return {"log_prob": flow.log_prob(x)}

        @tf.function(
            input_signature=[
                tf.TensorSpec([], tf.int32, name="n"),
                tf.TensorSpec([2], tf.int32, name="seed"),
            ]
        )
        def sample(n, seed):
            n = checks.check_sample_shape(n, "served signature", arg_name="n")
            return {"samples": flow.sample(n, seed=seed)}

        self.log_prob = log_prob
        self.sample = sample

    def _conditional(self, flow, event, dtype):
        # The protocol says the context's shape and dtype (a flow's dtype; a
        # PixelRNN over integer images takes a float context).
        ctx_event = list(context_shape_of(flow) or ())
        ctx = tf.TensorSpec([None] + ctx_event, context_dtype(flow), name="context")

        @tf.function(
            input_signature=[tf.TensorSpec([None] + event, dtype, name="x"), ctx]
        )
        def log_prob(x, context):
            x = _checked_served_input(x, event, "x")
            context = _checked_served_input(context, ctx_event, "context")
            return {"log_prob": flow.log_prob(x, context=context)}

        @tf.function(input_signature=[ctx, tf.TensorSpec([2], tf.int32, name="seed")])
        def sample(context, seed):
            # One sample per context row.
            context = _checked_served_input(context, ctx_event, "context")
            rows = tf.shape(context)[0]
            return {"samples": draw_rows(flow.condition(context), rows, seed=seed)}

        self.log_prob = log_prob
        self.sample = sample


def export_saved_model(flow: Flow | FlowModel, path: _PathT) -> _PathT:
    """Exports a flow as a SavedModel with `log_prob(x)` and `sample(n, seed)`.

    The export has a dynamic batch dimension, carries the weights (ActNorm's
    initialized state included) and loads with plain `tf.saved_model.load` in
    a process that never imports `tfp_flows`. For a conditional family (the
    conditioning protocol: `context_shape`, `context_dtype`, `condition`)
    the signatures are `log_prob(x, context)` and `sample(context, seed)`
    (one sample per context row; an image context `[batch, H', W', C']`).

    The served `log_prob` checks the rank and sizes of `x` (and `context`)
    against `[batch, *event_shape]` (`InvalidArgumentError` naming the
    argument and the shape received), and `sample` a negative `n`.

    Args:
      flow: a `tfd.TransformedDistribution` (or a `FlowModel`).
      path: output directory.

    Returns:
      `path`.

    Raises:
      TypeError: `flow` is not a distribution or a conditional flow.

    #### Examples

    >>> import os, tempfile
    >>> from tfp_flows import flows
    >>> flow = flows.maf(2, num_layers=1, hidden_units=[4])
    >>> path = export_saved_model(flow, os.path.join(tempfile.mkdtemp(), "maf"))
    >>> served = tf.saved_model.load(path)  # no tfp_flows code needed
    >>> served.signatures["log_prob"](x=tf.zeros([3, 2]))["log_prob"].shape
    TensorShape([3])
    """
    if isinstance(flow, FlowModel):
        flow = flow.flow
    check_flow(flow, "export_saved_model")
    module = _Served(flow, flow.event_shape, flow_dtype(flow))
    # Save only the module's own variables and functions: the Keras layers that
    # own the weights are not serialized, so loading needs no tfp_flows code.
    module._flow = None
    tf.saved_model.save(
        module,
        str(path),
        signatures={
            "log_prob": module.log_prob.get_concrete_function(),
            "sample": module.sample.get_concrete_function(),
        },
    )
    return path
