"""Keras 3 layers that put a flow into a Keras model.

A flow's weights live in Keras 3 layers held by its bijectors. The layers here
track those layers, so a Keras model reports exactly the flow's parameters in
`trainable_weights` (and `summary()`), `model.fit` trains them, and `.keras`
files, `tf.train.Checkpoint` and SavedModel exports carry them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from tfp_flows.internal import checks
from tfp_flows.internal import specs
from tfp_flows.internal.conditioning import draw_rows
from tfp_flows.internal.flow_inputs import check_flow
from tfp_flows.internal.flow_inputs import check_x_dtype
from tfp_flows.internal.flow_inputs import context_dtype
from tfp_flows.internal.flow_inputs import flow_dtype
from tfp_flows.internal.flow_inputs import is_conditional
from tfp_flows.internal.flow_inputs import split_inputs
from tfp_flows.internal.keras import keras
from tfp_flows.internal.keras import keras_layers_of
from tfp_flows.internal.types import Flow
from tfp_flows.internal.types import FlowInputs
from tfp_flows.internal.types import TensorLike

__all__ = ["FlowLogProb", "FlowSample"]


@keras.saving.register_keras_serializable(package="tfp_flows")
class FlowLogProb(keras.layers.Layer):
    """Outputs the log-likelihood `flow.log_prob(x)` (or `log p(x | context)`).

    Inputs: `x`, or `(x, context)` for a conditional flow (any family of the
    conditioning protocol: `maf`, `iaf`, `coupling_flow`, `glow`, `realnvp`
    with `context_size`, a conditional PixelRNN), where the context may come
    from upstream layers; it is cast to the family's `context_dtype`. Float
    inputs are cast to the flow's dtype; integer inputs to a density over
    real values raise the `ValueError` that `flow.log_prob` raises (dequantize
    them first), in `model(x)`, `predict`, `fit` and `evaluate` alike.

    #### Examples

    >>> from tfp_flows import flows
    >>> flow = flows.glow((8, 8, 1), num_levels=1, num_steps=1, hidden_units=8)
    >>> layer = FlowLogProb(flow)
    >>> len(layer.trainable_weights) == len(flow.trainable_variables)
    True
    """

    def __init__(
        self,
        flow: Flow | None = None,
        *,
        flow_spec: str | dict[str, Any] | None = None,
        **kwargs: Any,
    ):
        """Wraps `flow` (or rebuilds it from `flow_spec`, a saved config)."""
        super().__init__(**kwargs)
        if flow is None:
            if flow_spec is None:
                raise ValueError(
                    "FlowLogProb: pass `flow` (or `flow_spec` from a config)."
                )
            flow = specs.build_from_spec(flow_spec)
        self._flow = check_flow(flow, "FlowLogProb")
        self.flow_layers = keras_layers_of(flow)
        self.built = True

    @property
    def flow(self) -> Flow:
        """The wrapped flow (a `tfd.TransformedDistribution` or conditional flow)."""
        return self._flow

    def call(self, inputs: FlowInputs) -> tf.Tensor:
        """`log p(x)` or `log p(x | context)` per row."""
        x, context = split_inputs(self._flow, inputs, "FlowLogProb")
        if x is None:
            raise ValueError(
                "FlowLogProb: inputs must be `x`, `(x, context)` or "
                "{'x': ..., 'context': ...}; got no `x`."
            )
        # Integer data into a density over real values is an error (as in
        # `flow.log_prob`), never a silent cast; floats are cast (Keras feeds
        # numpy float64 arrays as float64).
        check_x_dtype(self._flow, x, "FlowLogProb")
        x = tf.cast(x, flow_dtype(self._flow))
        if context is None:
            return self._flow.log_prob(x)
        context = tf.cast(context, context_dtype(self._flow))
        return self._flow.log_prob(x, context=context)

    def compute_output_shape(
        self, input_shape: Sequence[Any]
    ) -> tuple[int | None, ...]:
        """The batch shape of `x`."""
        if (
            isinstance(input_shape, (list, tuple))
            and input_shape
            and isinstance(input_shape[0], (list, tuple))
        ):
            input_shape = input_shape[0]
        return tuple(input_shape[: len(input_shape) - len(self._flow.event_shape)])

    def get_config(self) -> dict[str, Any]:
        """Keras config: the flow's builder spec (no code)."""
        config = super().get_config()
        config["flow_spec"] = specs.spec_of(self._flow)
        return config


@keras.saving.register_keras_serializable(package="tfp_flows")
class FlowSample(keras.layers.Layer):
    """Outputs one flow sample per input row, for downstream layers.

    The input's leading dimension is the batch size; for a conditional flow the
    input is the context `[batch, context_size]` (e.g. from an embedding of a
    class label, or a low-resolution image for an image-conditional Glow),
    otherwise any tensor whose first dimension is the batch.
    Samples use stateless seeds drawn from a Keras `SeedGenerator`, so a fixed
    `seed` gives reproducible samples.
    """

    def __init__(
        self,
        flow: Flow | None = None,
        *,
        seed: int | None = None,
        temperature: float = 1.0,
        flow_spec: str | dict[str, Any] | None = None,
        **kwargs: Any,
    ):
        """Wraps `flow` (or rebuilds it from `flow_spec`, a saved config)."""
        super().__init__(**kwargs)
        if flow is None:
            if flow_spec is None:
                raise ValueError(
                    "FlowSample: pass `flow` (or `flow_spec` from a config)."
                )
            flow = specs.build_from_spec(flow_spec)
        self._flow = check_flow(flow, "FlowSample")
        self.flow_layers = keras_layers_of(flow)
        self.seed = checks.check_seed(seed, "FlowSample", allow_none=True)
        self.temperature = checks.check_number(
            temperature, "temperature", "FlowSample", minimum=0.0, strict=False
        )
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    @property
    def flow(self) -> Flow:
        """The wrapped flow (a `tfd.TransformedDistribution` or conditional flow)."""
        return self._flow

    def call(self, inputs: TensorLike) -> tf.Tensor:
        """One sample per input row (given that row's context if conditional)."""
        n = tf.shape(inputs)[0]
        seed = tf.cast(self.seed_generator.next(), tf.int32)
        dist = self._flow
        if is_conditional(self._flow):
            dist = self._flow.condition(tf.cast(inputs, context_dtype(self._flow)))
        try:
            return draw_rows(dist, n, seed=seed, temperature=self.temperature)
        except ValueError as e:
            raise ValueError(f"FlowSample: {e}") from None

    def get_config(self) -> dict[str, Any]:
        """Keras config: the flow's builder spec, seed and temperature."""
        config = super().get_config()
        config.update(
            flow_spec=specs.spec_of(self._flow),
            seed=self.seed,
            temperature=self.temperature,
        )
        return config
