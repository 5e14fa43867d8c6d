"""GlowStep: ActNorm -> Invertible1x1Conv -> AffineCoupling, as a chain."""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf
from tensorflow_probability import bijectors as tfb

from tfp_flows.bijectors.act_norm import ActNorm
from tfp_flows.bijectors.affine_coupling import AffineCoupling
from tfp_flows.bijectors.base import ContextBijector
from tfp_flows.bijectors.invertible_1x1_conv import Invertible1x1Conv
from tfp_flows.internal.keras import keras
from tfp_flows.internal.types import DTypeLike

__all__ = ["GlowStep"]


class GlowStep(ContextBijector):
    """One step of flow of Glow (Kingma & Dhariwal 2018, figure 2a).

    In the data-to-latent direction (`inverse`, used by `log_prob`) the step
    applies ActNorm, then the invertible 1x1 convolution, then the affine
    coupling; `forward` (sampling) runs them in reverse. The step is the
    `tfb.Chain([act_norm, conv, coupling])` of the three public bijectors,
    exposed as `.act_norm`, `.conv` and `.coupling`; nothing is re-implemented.

    With `context_shape` the coupling is conditional (see `AffineCoupling`);
    `with_context(c)` binds it (ActNorm and the 1x1 convolution take no
    context and are shared as they are).

    #### Examples

    >>> step = GlowStep(4, hidden_units=8, seed=0)
    >>> [type(b).__name__ for b in step.parts]
    ['ActNorm', 'Invertible1x1Conv', 'AffineCoupling']
    >>> step.forward(tf.zeros([2, 4, 4, 4])).shape
    TensorShape([2, 4, 4, 4])
    """

    def __init__(
        self,
        num_channels: int,
        *,
        hidden_units: int = 64,
        lu_decomposition: bool = True,
        additive: bool = False,
        mask: str = "channel",
        parity: int = 0,
        network: keras.layers.Layer | None = None,
        context_shape: Sequence[int] | None = None,
        seed: int | None = None,
        dtype: DTypeLike = tf.float32,
        dtype_policy: str | None = None,
        validate_args: bool = False,
        name: str | None = None,
    ):
        """Creates the step; arguments are passed to the three parts.

        Args:
          num_channels: C.
          hidden_units: width of the coupling network.
          lu_decomposition: LU-parameterized 1x1 convolution.
          additive: additive (NICE) instead of affine coupling.
          mask: coupling mask (`'channel'` as in Glow, or `'checkerboard'`).
          parity: coupling parity.
          network: optional custom coupling network (Keras 3 layer).
          context_shape: the coupling's context shape (None: unconditional).
          seed: integer seed for the 1x1 conv and coupling initializers.
          dtype: weight dtype.
          dtype_policy: the coupling network's mixed-precision policy (None,
            `'mixed_bfloat16'` or `'mixed_float16'`; see `AffineCoupling`);
            ActNorm and the 1x1 convolution stay in `dtype`.
          validate_args: passed to the parts.
          name: name.
        """
        parameters = dict(locals())
        with tf.name_scope(name or "glow_step") as name:
            base = name.rstrip("/")
            act_norm = ActNorm(
                num_channels,
                dtype=dtype,
                validate_args=validate_args,
                name=base + "_act_norm",
            )
            conv = Invertible1x1Conv(
                num_channels,
                lu_decomposition=lu_decomposition,
                seed=seed,
                dtype=dtype,
                validate_args=validate_args,
                name=base + "_conv",
            )
            coupling = AffineCoupling(
                num_channels,
                mask=mask,
                parity=parity,
                additive=additive,
                network=network,
                hidden_units=hidden_units,
                context_shape=context_shape,
                seed=None if seed is None else seed + 1,
                dtype=dtype,
                dtype_policy=dtype_policy,
                validate_args=validate_args,
                name=base + "_coupling",
            )
            self._chain = tfb.Chain([act_norm, conv, coupling], name=base + "_chain")
            super().__init__(
                forward_min_event_ndims=3,
                validate_args=validate_args,
                parameters=parameters,
                dtype=None,
                name=name,
            )
        self._parts = (act_norm, conv, coupling)
        self._dtype_weights = coupling._dtype_weights
        self._init_context(context_shape)

    def _bind_parts(self, context: tf.Tensor) -> None:
        act_norm, conv, coupling = self._parts
        coupling = coupling.with_context(context)
        self._parts = (act_norm, conv, coupling)
        self._chain = tfb.Chain(
            [act_norm, conv, coupling], name=self._chain.name.rstrip("/")
        )

    @property
    def num_channels(self) -> int:
        """C."""
        return self._parts[0].num_channels

    @property
    def act_norm(self) -> ActNorm:
        """The step's ActNorm."""
        return self._parts[0]

    @property
    def conv(self) -> Invertible1x1Conv:
        """The step's invertible 1x1 convolution."""
        return self._parts[1]

    @property
    def coupling(self) -> AffineCoupling:
        """The step's affine coupling."""
        return self._parts[2]

    @property
    def parts(self) -> tuple[ActNorm, Invertible1x1Conv, AffineCoupling]:
        """(act_norm, conv, coupling), in the data-to-latent order."""
        return self._parts

    @property
    def chain(self) -> tfb.Chain:
        """The `tfb.Chain` of the three parts."""
        return self._chain

    def _forward_and_log_det(self, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        y = self._chain.forward(x)
        return y, self._chain.forward_log_det_jacobian(x, event_ndims=3)

    def _inverse_and_log_det(self, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        x = self._chain.inverse(y)
        return x, self._chain.inverse_log_det_jacobian(y, event_ndims=3)
