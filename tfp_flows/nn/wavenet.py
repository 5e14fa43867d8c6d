"""WaveNet (van den Oord et al. 2016) as Keras 3 layers.

A WaveNet maps a 1-D integer sequence `x_0, ..., x_{T-1}` (quantized audio:
mu-law levels `0..255`) to, at every step `t`, the parameters of the
distribution of `x_t` given `x_{<t}` (and a condition):

* the input is shifted right by one step (the step-`t` output never sees
  `x_t`), embedded (one-hot for the categorical output, a scalar in
  `[-1, 1]` for the logistic mixture) and passed through a causal
  convolution to `R` residual channels;
* `L` residual blocks with dilations `d_1, ..., d_L` (the paper uses
  `1, 2, ..., 512`, repeated): with `*_d` a causal convolution of width
  `k` and dilation `d` (output `t` reads inputs `t - (k-1) d, ..., t - d, t`),

      z = tanh(W_f *_d x + V_f h + U_f y) . sigmoid(W_g *_d x + V_g h + U_g y)
      x <- x + W_r z        (residual connection, a 1 x 1 convolution)
      s <- s + W_s z        (skip connection, a 1 x 1 convolution)

  (the last block has no `W_r`: nothing reads its residual output),

  where `h` is an optional global condition (a vector per sequence, e.g. a
  speaker embedding: `V h` is the same at every step) and `y` an optional
  local condition (a feature sequence at a lower rate, e.g. linguistic
  features, upsampled to the signal rate by a learned transposed
  convolution or by repetition: `U y_t` changes with `t`);
* the head `ReLU -> 1 x 1 conv -> ReLU -> 1 x 1 conv` turns the sum of the
  skip outputs into logits over the `num_levels` levels (Section 2.2, the
  softmax over mu-law levels), or into the `3 K` parameters (mixture logits,
  means, log-scales) of a mixture of `K` discretized logistics (Salimans et
  al. 2017; Parallel WaveNet, van den Oord et al. 2018).

The step-`t` output depends on `x_{t-1}, ..., x_{t - receptive_field}` only
(`receptive_field = (k - 1) (1 + sum_l d_l) + 1`; tested by gradients).

Every trainable number is a Keras 3 weight (`add_weight` in `CausalConv1D`,
`keras.layers.Dense` for the 1 x 1 convolutions and projections). Each
causal convolution also computes a single step from its `k` input taps
(`CausalConv1D.step`), which the cached generator
(`tfp_flows.distributions.wavenet_sampling`) uses with one queue per layer
(Paine et al. 2016).

#### References

[1] Aaron van den Oord et al. WaveNet: A Generative Model for Raw Audio.
    arXiv 2016. https://arxiv.org/abs/1609.03499
[2] Tom Le Paine et al. Fast Wavenet Generation Algorithm. arXiv 2016.
    https://arxiv.org/abs/1611.09482
[3] Tim Salimans et al. PixelCNN++: Improving the PixelCNN with Discretized
    Logistic Mixture Likelihood and Other Modifications. ICLR 2017.
    https://arxiv.org/abs/1701.05517
[4] Aaron van den Oord et al. Parallel WaveNet: Fast High-Fidelity Speech
    Synthesis. ICML 2018. https://arxiv.org/abs/1711.10433
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from tfp_flows.internal.checks import check_int_sequence
from tfp_flows.internal.checks import check_positive_int
from tfp_flows.internal.checks import shape_str
from tfp_flows.internal.conditioning import check_context
from tfp_flows.internal.conditioning import check_no_context
from tfp_flows.internal.keras import keras
from tfp_flows.internal.types import TensorLike

__all__ = ["CausalConv1D", "WaveNet", "WaveNetResidualBlock"]

_OUTPUTS = ("categorical", "logistic_mixture")
_UPSAMPLING = ("transposed", "repeat")


def _initializer(seed: int | None, offset: int) -> Any:
    """Glorot-uniform (Keras' default), seeded with `seed * 1009 + offset`."""
    if seed is None:
        return "glorot_uniform"
    return keras.initializers.GlorotUniform(seed=int(seed) * 1009 + offset)


def _check_seed(seed: Any, owner: str) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(
            f"{owner}: argument `seed` must be None or a non-negative integer; "
            f"got {seed!r}."
        )
    return int(seed)


def _optional_size(value: Any, arg_name: str, owner: str) -> int | None:
    return None if value is None else check_positive_int(value, arg_name, owner)


def _dense(units: int, seed: int | None, offset: int, name: str, bias: bool) -> Any:
    return keras.layers.Dense(
        units,
        use_bias=bias,
        kernel_initializer=_initializer(seed, offset),
        name=name,
    )


@keras.saving.register_keras_serializable(package="tfp_flows")
class CausalConv1D(keras.layers.Layer):
    """Causal dilated 1-D convolution: output `t` reads inputs `<= t` only.

        y_t = b + sum_{i=0}^{k-1} K[i]^T x_{t - (k - 1 - i) d}

    with `x_s = 0` for `s < 0` (left zero padding of `(k - 1) d` steps).
    Input `[B, T, C]`, output `[B, T, filters]`.

    Args:
      filters: output channels.
      kernel_size: `k`, the number of taps (2 in the WaveNet paper).
      dilation_rate: `d`, the spacing of the taps.
      use_bias: add a bias `b`.
      seed: integer seed of the kernel initializer (None: unseeded).
      name: layer name.
      **kwargs: passed to `keras.layers.Layer`.

    Raises:
      ValueError: a size that is not a positive integer.

    #### Examples

    >>> import numpy as np
    >>> conv = CausalConv1D(3, kernel_size=2, dilation_rate=4)
    >>> conv(np.zeros((2, 10, 5), "float32")).shape
    TensorShape([2, 10, 3])
    >>> conv.receptive_field
    5
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int = 2,
        *,
        dilation_rate: int = 1,
        use_bias: bool = True,
        seed: int | None = None,
        name: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(name=name, **kwargs)
        owner = "CausalConv1D"
        self.filters = check_positive_int(filters, "filters", owner)
        self.kernel_size = check_positive_int(kernel_size, "kernel_size", owner)
        self.dilation_rate = check_positive_int(dilation_rate, "dilation_rate", owner)
        self.use_bias = bool(use_bias)
        self.seed = _check_seed(seed, owner)

    @property
    def receptive_field(self) -> int:
        """`(k - 1) d + 1`: the input steps one output reads."""
        return (self.kernel_size - 1) * self.dilation_rate + 1

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Creates `kernel [k, C, filters]` and `bias [filters]`."""
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(
                "CausalConv1D: the last (channel) dimension of the input must be "
                f"known; got shape {shape_str(input_shape)}."
            )
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.kernel_size, int(channels), self.filters),
            initializer=_initializer(self.seed, 0),
        )
        self.bias = (
            self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
            if self.use_bias
            else None
        )

    def call(self, inputs: TensorLike) -> tf.Tensor:
        """Convolves `[B, T, C]` causally (left zero padding)."""
        x = tf.convert_to_tensor(inputs, self.compute_dtype)
        pad = (self.kernel_size - 1) * self.dilation_rate
        x = tf.pad(x, [[0, 0], [pad, 0], [0, 0]])
        y = tf.nn.convolution(
            x,
            tf.cast(self.kernel, x.dtype),
            padding="VALID",
            dilations=[self.dilation_rate],
        )
        if self.bias is not None:
            y = y + tf.cast(self.bias, y.dtype)
        return y

    def flat_kernel(self) -> tf.Tensor:
        """The kernel as `[k * C, filters]` (taps oldest first), for `step`."""
        k, c, f = self.kernel.shape
        return tf.reshape(tf.convert_to_tensor(self.kernel), [k * c, f])

    def step(
        self, taps: TensorLike, flat_kernel: TensorLike | None = None
    ) -> tf.Tensor:
        """One output `y_t [B, filters]` from its taps `[B, k, C]`.

        `taps[:, i]` is `x_{t - (k - 1 - i) d}` (oldest first), so this equals
        `call(x)[:, t]`.
        """
        taps = tf.convert_to_tensor(taps)
        kernel = (
            self.flat_kernel()
            if flat_kernel is None
            else tf.convert_to_tensor(flat_kernel)
        )
        y = tf.matmul(tf.reshape(taps, [-1, kernel.shape[0]]), kernel)
        if self.bias is not None:
            y = y + self.bias
        return y

    def compute_output_shape(
        self, input_shape: Sequence[int | None]
    ) -> tuple[int | None, ...]:
        """Output shape for `input_shape`."""
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self) -> dict[str, Any]:
        """Keras config (for saving): the constructor arguments."""
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            dilation_rate=self.dilation_rate,
            use_bias=self.use_bias,
            seed=self.seed,
        )
        return config


def gated_activation(pre: tf.Tensor) -> tf.Tensor:
    """`tanh(f) * sigmoid(g)` of `pre = [f, g]` (last axis, halves)."""
    f, g = tf.split(pre, 2, axis=-1)
    return tf.tanh(f) * tf.sigmoid(g)


@keras.saving.register_keras_serializable(package="tfp_flows")
class WaveNetResidualBlock(keras.layers.Layer):
    """One WaveNet residual block: gated dilated conv, residual and skip.

        z = tanh(W_f *_d x + V_f h + U_f y) . sigmoid(W_g *_d x + V_g h + U_g y)
        outputs: (x + W_r z, W_s z)

    `W_f, W_g` are the two halves of one `CausalConv1D(2 D, k, d)`; `V` a
    bias-free `Dense(2 D)` of the global condition `h [B, G]`; `U` a bias-free
    `Dense(2 D)` of the (upsampled) local condition `y [B, T, Cl]`; `W_r`,
    `W_s` are 1 x 1 convolutions (`Dense` over the channels).

    Args:
      residual_channels: `R`, channels of `x` (input and residual output).
      dilation_channels: `D`, channels of `z` (default `R`).
      skip_channels: channels of the skip output (default `R`).
      kernel_size: `k`, taps of the dilated convolution.
      dilation_rate: `d`.
      context_size: `G`, size of the global condition `h` (None: none).
      local_channels: `Cl`, channels of the local condition `y` (None: none).
      residual: add the residual output `W_r z` (False for the last block of
        a WaveNet, whose residual output nothing reads: the first output is
        then `x` unchanged and `W_r` does not exist).
      seed: integer seed of the initializers (None: unseeded).
      name: layer name.
      **kwargs: passed to `keras.layers.Layer`.

    #### Examples

    >>> import numpy as np
    >>> block = WaveNetResidualBlock(4, skip_channels=6, dilation_rate=2)
    >>> x, skip = block(np.zeros((2, 7, 4), "float32"))
    >>> x.shape, skip.shape
    (TensorShape([2, 7, 4]), TensorShape([2, 7, 6]))
    """

    def __init__(
        self,
        residual_channels: int,
        *,
        dilation_channels: int | None = None,
        skip_channels: int | None = None,
        kernel_size: int = 2,
        dilation_rate: int = 1,
        context_size: int | None = None,
        local_channels: int | None = None,
        residual: bool = True,
        seed: int | None = None,
        name: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(name=name, **kwargs)
        owner = "WaveNetResidualBlock"
        self.residual = bool(residual)
        self.residual_channels = check_positive_int(
            residual_channels, "residual_channels", owner
        )
        self.dilation_channels = (
            self.residual_channels
            if dilation_channels is None
            else check_positive_int(dilation_channels, "dilation_channels", owner)
        )
        self.skip_channels = (
            self.residual_channels
            if skip_channels is None
            else check_positive_int(skip_channels, "skip_channels", owner)
        )
        self.kernel_size = check_positive_int(kernel_size, "kernel_size", owner)
        self.dilation_rate = check_positive_int(dilation_rate, "dilation_rate", owner)
        self.context_size = _optional_size(context_size, "context_size", owner)
        self.local_channels = _optional_size(local_channels, "local_channels", owner)
        self.seed = _check_seed(seed, owner)
        d2 = 2 * self.dilation_channels
        self.dilated_conv = CausalConv1D(
            d2,
            self.kernel_size,
            dilation_rate=self.dilation_rate,
            seed=self.seed,
            name="dilated_conv",
        )
        self.context_projection = (
            None
            if self.context_size is None
            else _dense(d2, self.seed, 1, "context_projection", bias=False)
        )
        self.local_projection = (
            None
            if self.local_channels is None
            else _dense(d2, self.seed, 2, "local_projection", bias=False)
        )
        self.residual_projection = (
            _dense(
                self.residual_channels, self.seed, 3, "residual_projection", bias=True
            )
            if self.residual
            else None
        )
        self.skip_projection = _dense(
            self.skip_channels, self.seed, 4, "skip_projection", bias=True
        )

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Creates the sublayers' weights (input `[B, T, R]`)."""
        if input_shape[-1] not in (None, self.residual_channels):
            raise ValueError(
                "WaveNetResidualBlock: the input must have residual_channels="
                f"{self.residual_channels} channels; got shape "
                f"{shape_str(input_shape)}."
            )
        r = self.residual_channels
        self.dilated_conv.build((None, None, r))
        if self.context_projection is not None:
            self.context_projection.build((None, self.context_size))
        if self.local_projection is not None:
            self.local_projection.build((None, None, self.local_channels))
        if self.residual_projection is not None:
            self.residual_projection.build((None, None, self.dilation_channels))
        self.skip_projection.build((None, None, self.dilation_channels))

    def context_bias(self, context: tf.Tensor | None) -> tf.Tensor | None:
        """`V h`: `[B, 2 D]` (None without a global condition)."""
        if self.context_projection is None or context is None:
            return None
        return self.context_projection(context)

    def local_bias(self, local: tf.Tensor | None) -> tf.Tensor | None:
        """`U y`: `[B, T, 2 D]` (None without a local condition)."""
        if self.local_projection is None or local is None:
            return None
        return self.local_projection(local)

    def call(
        self,
        inputs: TensorLike,
        context: TensorLike | None = None,
        local: TensorLike | None = None,
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """`(x + W_r z, W_s z)` for `x [B, T, R]`, `h [B, G]`, `y [B, T, Cl]`."""
        x = tf.convert_to_tensor(inputs, self.compute_dtype)
        pre = self.dilated_conv(x)
        if self.context_projection is not None:
            if context is None:
                raise ValueError(
                    "WaveNetResidualBlock: argument `context` is required "
                    f"(context_size={self.context_size}); got None."
                )
            pre = pre + self.context_projection(context)[:, None, :]
        if self.local_projection is not None:
            if local is None:
                raise ValueError(
                    "WaveNetResidualBlock: argument `local` is required "
                    f"(local_channels={self.local_channels}); got None."
                )
            pre = pre + self.local_projection(local)
        z = gated_activation(pre)
        if self.residual_projection is not None:
            x = x + self.residual_projection(z)
        return x, self.skip_projection(z)

    def get_config(self) -> dict[str, Any]:
        """Keras config (for saving): the constructor arguments."""
        config = super().get_config()
        config.update(
            residual_channels=self.residual_channels,
            dilation_channels=self.dilation_channels,
            skip_channels=self.skip_channels,
            kernel_size=self.kernel_size,
            dilation_rate=self.dilation_rate,
            context_size=self.context_size,
            local_channels=self.local_channels,
            residual=self.residual,
            seed=self.seed,
        )
        return config


class _TransposedUpsampling(keras.layers.Layer):
    """Learned upsampling by `r`: a transposed convolution, kernel = stride = r.

    `out[r t + j] = b + K[j]^T y[t]` for `j = 0..r-1`: each low-rate frame
    gives `r` signal-rate frames (`K [r, Cl, Cl]`).
    """

    def __init__(self, factor, channels, seed=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.factor = factor
        self.channels = channels
        self.seed = seed

    def build(self, input_shape):
        """Creates `kernel [r, Cl, Cl]` and `bias [Cl]`."""
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.factor, self.channels, self.channels),
            initializer=_initializer(self.seed, 5),
        )
        self.bias = self.add_weight(
            name="bias", shape=(self.channels,), initializer="zeros"
        )

    def call(self, inputs):
        """`[B, T_l, Cl]` to `[B, T_l * r, Cl]`."""
        up = tf.einsum("btc,jcd->btjd", inputs, self.kernel) + self.bias
        shape = tf.shape(inputs)
        return tf.reshape(up, [shape[0], shape[1] * self.factor, self.channels])


@keras.saving.register_keras_serializable(package="tfp_flows")
class WaveNet(keras.layers.Layer):
    """The WaveNet network: integer sequences to per-step output parameters.

    `shift -> embed -> CausalConv1D(R, k) -> L x WaveNetResidualBlock ->
    ReLU(sum of skips) -> Dense(skip) -> ReLU -> Dense(outputs)`; see the
    module docstring for the equations. The layer is built at construction,
    so its weights exist at once.

    Args:
      num_levels: levels of the quantized signal, `0..num_levels-1` (256
        for 8-bit mu-law audio).
      likelihood: `'categorical'` (softmax over the levels; the input is one-hot)
        or `'logistic_mixture'` (a mixture of `num_mixtures` discretized
        logistics on the levels' centres in `[-1, 1]`; the input is the
        level as a scalar in `[-1, 1]`).
      num_mixtures: `K`, logistic components (`'logistic_mixture'` only).
      residual_channels: `R`.
      dilation_channels: `D`, channels of the gated activations.
      skip_channels: channels of the skip outputs and of the head.
      kernel_size: `k`, taps of every causal convolution.
      dilations: one dilation per residual block (e.g. `[1, 2, ..., 512] * 3`
        in the paper).
      context_size: `G` for a global condition `h [B, G]` (None: none).
      local_channels: `Cl` for a local condition `y [B, T / r, Cl]` (None:
        none).
      local_upsample_factor: `r`, signal steps per local frame (required with
        `local_channels`).
      upsampling: `'transposed'` (a learned transposed convolution, kernel =
        stride = `r`) or `'repeat'` (each frame repeated `r` times).
      seed: integer seed of every initializer (None: unseeded).
      name: layer name.
      **kwargs: passed to `keras.layers.Layer`.

    Returns (when called):
      `[B, T, num_levels]` logits, or `[B, T, 3 K]` mixture parameters
      (`[logits, means, log_scales]`).

    Raises:
      ValueError: bad arguments; called with a sequence that is not
        `[B, T]`, or a condition missing, unexpected or of the wrong shape.

    #### Examples

    >>> import numpy as np
    >>> net = WaveNet(num_levels=16, residual_channels=4, skip_channels=8,
    ...               dilations=[1, 2, 4])
    >>> net(np.zeros((2, 10), "int32")).shape
    TensorShape([2, 10, 16])
    >>> net.receptive_field
    9
    """

    def __init__(
        self,
        *,
        num_levels: int = 256,
        likelihood: str = "categorical",
        num_mixtures: int = 5,
        residual_channels: int = 32,
        dilation_channels: int | None = None,
        skip_channels: int = 64,
        kernel_size: int = 2,
        dilations: Sequence[int] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
        context_size: int | None = None,
        local_channels: int | None = None,
        local_upsample_factor: int | None = None,
        upsampling: str = "transposed",
        seed: int | None = None,
        name: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(name=name or "wavenet", **kwargs)
        owner = "WaveNet"
        self.num_levels = check_positive_int(num_levels, "num_levels", owner, 2)
        if likelihood not in _OUTPUTS:
            raise ValueError(
                f"WaveNet: argument `likelihood` must be one of {list(_OUTPUTS)}; "
                f"got {likelihood!r}."
            )
        self.likelihood = likelihood
        self.num_mixtures = check_positive_int(num_mixtures, "num_mixtures", owner)
        self.residual_channels = check_positive_int(
            residual_channels, "residual_channels", owner
        )
        self.dilation_channels = (
            self.residual_channels
            if dilation_channels is None
            else check_positive_int(dilation_channels, "dilation_channels", owner)
        )
        self.skip_channels = check_positive_int(skip_channels, "skip_channels", owner)
        self.kernel_size = check_positive_int(kernel_size, "kernel_size", owner)
        self.dilations = tuple(
            check_int_sequence(dilations, "dilations", owner, allow_int=False)
        )
        if not self.dilations:
            raise ValueError(
                "WaveNet: argument `dilations` must list at least one dilation; "
                "got an empty list."
            )
        self.context_size = _optional_size(context_size, "context_size", owner)
        self.local_channels = _optional_size(local_channels, "local_channels", owner)
        self.local_upsample_factor = _optional_size(
            local_upsample_factor, "local_upsample_factor", owner
        )
        if (self.local_channels is None) != (self.local_upsample_factor is None):
            raise ValueError(
                "WaveNet: arguments `local_channels` and `local_upsample_factor` "
                "go together (a local condition needs both); got local_channels="
                f"{local_channels!r}, local_upsample_factor={local_upsample_factor!r}."
            )
        if upsampling not in _UPSAMPLING:
            raise ValueError(
                f"WaveNet: argument `upsampling` must be one of {list(_UPSAMPLING)}; "
                f"got {upsampling!r}."
            )
        self.upsampling = upsampling
        self.seed = _check_seed(seed, owner)
        base = None if self.seed is None else 1000 * self.seed

        def sub_seed(k: int) -> int | None:
            return None if base is None else base + k

        self.input_conv = CausalConv1D(
            self.residual_channels,
            self.kernel_size,
            seed=sub_seed(0),
            name="input_conv",
        )
        self.blocks = [
            WaveNetResidualBlock(
                self.residual_channels,
                dilation_channels=self.dilation_channels,
                skip_channels=self.skip_channels,
                kernel_size=self.kernel_size,
                dilation_rate=d,
                context_size=self.context_size,
                local_channels=self.local_channels,
                residual=k < len(self.dilations) - 1,
                seed=sub_seed(k + 1),
                name=f"block_{k}",
            )
            for k, d in enumerate(self.dilations)
        ]
        head_seed = sub_seed(len(self.dilations) + 1)
        self.head_hidden = _dense(self.skip_channels, head_seed, 6, "head_1", True)
        self.head_output = _dense(self.num_outputs, head_seed, 7, "head_2", True)
        self.upsampler = (
            _TransposedUpsampling(
                self.local_upsample_factor,
                self.local_channels,
                seed=sub_seed(len(self.dilations) + 2),
                name="local_upsampling",
            )
            if self.local_channels is not None and upsampling == "transposed"
            else None
        )
        self.build((None, None))

    # -- sizes ------------------------------------------------------------

    @property
    def num_outputs(self) -> int:
        """Output channels: `num_levels` logits, or `3 K` mixture parameters."""
        if self.likelihood == "categorical":
            return self.num_levels
        return 3 * self.num_mixtures

    @property
    def input_channels(self) -> int:
        """Channels of the embedded input: `num_levels` (one-hot) or 1."""
        return self.num_levels if self.likelihood == "categorical" else 1

    @property
    def receptive_field(self) -> int:
        """Past steps the step-`t` output reads: `(k - 1)(1 + sum d) + 1`."""
        return (self.kernel_size - 1) * (1 + sum(self.dilations)) + 1

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Creates every sublayer's weights."""
        r = self.residual_channels
        self.input_conv.build((None, None, self.input_channels))
        for block in self.blocks:
            block.build((None, None, r))
        self.head_hidden.build((None, None, self.skip_channels))
        self.head_output.build((None, None, self.skip_channels))
        if self.upsampler is not None:
            self.upsampler.build((None, None, self.local_channels))

    # -- pieces shared by the parallel pass and the generators ------------

    def embed(self, levels: TensorLike) -> tf.Tensor:
        """Levels `[..., T]` to input features `[..., T, input_channels]`.

        One-hot (categorical output) or `2 x / (num_levels - 1) - 1` (mixture).
        """
        levels = tf.convert_to_tensor(levels)
        if self.likelihood == "categorical":
            return tf.one_hot(
                tf.cast(levels, tf.int32), self.num_levels, dtype=self.compute_dtype
            )
        x = tf.cast(levels, self.compute_dtype)
        return (x * (2.0 / (self.num_levels - 1)) - 1.0)[..., None]

    def upsample_local(self, local_context: TensorLike | None) -> tf.Tensor | None:
        """`[B, T_l, Cl]` to the signal rate `[B, T_l * r, Cl]` (None: None)."""
        if local_context is None or self.local_channels is None:
            return None
        y = tf.cast(tf.convert_to_tensor(local_context), self.compute_dtype)
        if self.upsampler is not None:
            return self.upsampler(y)
        return tf.repeat(y, self.local_upsample_factor, axis=1)

    def head(self, skip_sum: tf.Tensor) -> tf.Tensor:
        """`Dense(ReLU(Dense(ReLU(sum of skips))))`: the output parameters."""
        hidden = self.head_hidden(tf.nn.relu(skip_sum))
        return self.head_output(tf.nn.relu(hidden))

    def mixture_parameters(
        self, params: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """`(logits, means, log_scales)`, each `[..., K]`, of mixture outputs.

        The log-scales are clipped to `[-7, 7]` (PixelCNN++ clips at -7): a
        tiny scale makes the bin masses underflow, a huge one makes the bin
        width `2 / ((L - 1) s)` underflow to 0; both stay finite this way.
        """
        k = self.num_mixtures
        logits, means, log_scales = tf.split(params, [k, k, k], axis=-1)
        return logits, means, tf.clip_by_value(log_scales, -7.0, 7.0)

    def forward_features(
        self,
        features: tf.Tensor,
        context: tf.Tensor | None = None,
        local: tf.Tensor | None = None,
    ) -> tf.Tensor:
        """The stack on already shifted input features `[B, T, input_channels]`.

        `local` is the upsampled local condition `[B, T, Cl]`.
        """
        x = self.input_conv(features)
        skip_sum = None
        for block in self.blocks:
            x, skip = block(x, context, local)
            skip_sum = skip if skip_sum is None else skip_sum + skip
        return self.head(skip_sum)

    # -- checks -----------------------------------------------------------

    def check_sequence(
        self, levels: tf.Tensor, arg_name: str = "inputs", owner: str = "WaveNet"
    ) -> None:
        """ValueError unless `levels` is `[B, T]`."""
        shape = levels.shape
        if shape.rank is not None and shape.rank != 2:
            raise ValueError(
                f"{owner}: argument `{arg_name}` must be a batch of sequences of "
                f"levels, shape [batch, time]; got shape {shape_str(shape)} "
                f"(rank {shape.rank})."
            )

    def check_conditions(
        self,
        context: tf.Tensor | None,
        local_context: tf.Tensor | None,
        length: int | None = None,
        owner: str = "WaveNet",
    ) -> None:
        """ValueError unless the conditions fit: `[.., G]`, `[.., T / r, Cl]`.

        A condition the network does not have must be None; one it has must
        be given. With `length`, the local condition must have `length / r`
        frames.
        """
        if self.context_size is None:
            check_no_context(
                context,
                owner,
                noun="WaveNet",
                detail="has no global condition (context_size=None)",
                hint="Build it with `context_size=G`.",
            )
        else:
            # Shape and presence only: the float cast is the distribution's.
            check_context(
                context,
                (self.context_size,),
                getattr(context, "dtype", None) or self.compute_dtype,
                owner,
                cast=True,
                noun="WaveNet",
            )
        if self.local_channels is None:
            check_no_context(
                local_context,
                owner,
                arg_name="local_context",
                noun="WaveNet",
                detail="has no local condition (local_channels=None)",
                hint="Build it with `local_channels=Cl, local_upsample_factor=r`.",
            )
        if self.local_channels is not None:
            r = int(self.local_upsample_factor or 1)
            frames = "T / r" if length is None else str(length // r)
            want = f"[..., {frames}, {self.local_channels}]"
            if local_context is None:
                raise ValueError(
                    f"{owner}: argument `local_context` is required: this WaveNet "
                    f"has a local condition (local_channels={self.local_channels}, "
                    f"local_upsample_factor={r}); pass a tensor of shape {want}; "
                    "got None."
                )
            shape = local_context.shape
            bad = shape.rank is not None and (
                shape.rank < 2 or shape[-1] not in (None, self.local_channels)
            )
            if not bad and length is not None and shape.rank is not None:
                bad = length % r != 0 or shape[-2] not in (None, length // r)
            if bad:
                extra = (
                    f" (length {length} is not a multiple of r={r})"
                    if length is not None and length % r
                    else ""
                )
                raise ValueError(
                    f"{owner}: argument `local_context` must have shape {want} "
                    f"(local_upsample_factor={r}){extra}; got shape "
                    f"{shape_str(shape)}."
                )

    def call(
        self,
        inputs: TensorLike,
        context: TensorLike | None = None,
        local_context: TensorLike | None = None,
    ) -> tf.Tensor:
        """Runs the network on levels `[B, T]` (teacher forcing).

        `context [B, G]` and `local_context [B, T / r, Cl]` for a conditioned
        network.
        """
        levels = tf.convert_to_tensor(inputs)
        self.check_sequence(levels)
        if context is not None:
            context = tf.cast(tf.convert_to_tensor(context), self.compute_dtype)
        if local_context is not None:
            local_context = tf.convert_to_tensor(local_context)
        self.check_conditions(context, local_context, levels.shape[1])
        features = self.embed(levels)
        # Shift right by one: step t sees x_{<t} only.
        features = tf.pad(features, [[0, 0], [1, 0], [0, 0]])[:, :-1]
        return self.forward_features(
            features, context, self.upsample_local(local_context)
        )

    def compute_output_shape(
        self, input_shape: Sequence[int | None]
    ) -> tuple[int | None, ...]:
        """Output shape for `input_shape`."""
        return tuple(input_shape) + (self.num_outputs,)

    def get_config(self) -> dict[str, Any]:
        """Keras config (for saving): the constructor arguments."""
        config = super().get_config()
        config.update(
            num_levels=self.num_levels,
            likelihood=self.likelihood,
            num_mixtures=self.num_mixtures,
            residual_channels=self.residual_channels,
            dilation_channels=self.dilation_channels,
            skip_channels=self.skip_channels,
            kernel_size=self.kernel_size,
            dilations=list(self.dilations),
            context_size=self.context_size,
            local_channels=self.local_channels,
            local_upsample_factor=self.local_upsample_factor,
            upsampling=self.upsampling,
            seed=self.seed,
        )
        return config
