"""Keras 3 networks that compute a coupling layer's shift and scale."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from tfp_flows.internal.keras import keras

__all__ = [
    "MIXED_POLICIES",
    "ZeroInitConv2D",
    "ZeroInitDense",
    "apply_coupling_net",
    "check_network_policy",
    "conv_coupling_net",
    "dense_coupling_net",
    "is_default_coupling_net",
]

#: The Keras mixed-precision policies a coupling network may compute in
#: (`dtype_policy=` of the couplings and builders): float32 weights, the
#: network's convolutions / matmuls in bfloat16 or float16.
MIXED_POLICIES = ("mixed_bfloat16", "mixed_float16")


def check_network_policy(dtype_policy, dtype, owner):
    """The coupling network's Keras dtype (policy) name, checked.

    `dtype_policy=None` means the weight dtype itself (`dtype.name`). A mixed
    policy needs float32 weights: the flow's log-dets, ActNorm statistics,
    1x1 determinants and base density stay in float32 while only the network
    computes in 16 bits.
    """
    if dtype_policy is None:
        return tf.as_dtype(dtype).name
    name = getattr(dtype_policy, "name", dtype_policy)
    if name not in MIXED_POLICIES:
        raise ValueError(
            f"{owner}: argument `dtype_policy` must be None or one of "
            f"{MIXED_POLICIES}; got {dtype_policy!r}."
        )
    if tf.as_dtype(dtype) != tf.float32:
        raise ValueError(
            f"{owner}: argument `dtype_policy`={name!r} computes the coupling "
            f"networks in 16 bits over float32 weights, so `dtype` must be "
            f"float32; got {tf.as_dtype(dtype).name}."
        )
    return name


def _value(weight):
    """The tensor behind a Keras 3 weight (reads the tf.Variable, so gradients flow)."""
    return tf.convert_to_tensor(getattr(weight, "value", weight))


def fold_output_scale(
    kernel: Any, bias: Any, logs: Any, factor: float, output_order: Sequence[int] | None
) -> tuple[tf.Tensor, tf.Tensor]:
    """`(kernel * s, bias * s)` with `s = exp(factor * logs)`, outputs gathered.

    conv(x, k) * s + b * s == conv(x, k * s) + b * s: the last layer's output
    scale folded into its kernel and bias; `output_order` (output-channel
    indices, or None) permutes the outputs.
    """
    scale = tf.exp(_value(logs) * factor)
    kernel = _value(kernel) * scale
    bias = _value(bias) * scale
    if output_order is not None:
        kernel = tf.gather(kernel, output_order, axis=-1)
        bias = tf.gather(bias, output_order, axis=-1)
    return kernel, bias


@keras.saving.register_keras_serializable(package="tfp_flows")
class ZeroInitConv2D(keras.layers.Layer):
    """Glow's `Conv2DZeros`: a zero-initialized conv with a learned output scale.

    The per-channel output scale is `exp(3 * logs)`, so a coupling starts at
    its input-independent initial transform.
    """

    def __init__(self, filters, kernel_size=3, log_scale_factor=3.0, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.log_scale_factor = float(log_scale_factor)
        self.conv = keras.layers.Conv2D(
            self.filters,
            self.kernel_size,
            padding="same",
            kernel_initializer="zeros",
            bias_initializer="zeros",
            dtype=self.dtype_policy,
            name="conv",
        )

    def build(self, input_shape):
        """Builds the inner layer and the `logs` weight."""
        self.conv.build(input_shape)
        self.logs = self.add_weight(
            name="logs", shape=(self.filters,), initializer="zeros"
        )
        self.built = True

    def call(self, x):
        """`inner(x) * exp(log_scale_factor * logs)`."""
        return self.conv(x) * keras.ops.exp(self.logs * self.log_scale_factor)

    def folded_kernel_and_bias(self, output_order=None):
        """`(kernel * s, bias * s)` with `s = exp(log_scale_factor * logs)`.

        `conv(x, k) * s + b * s == conv(x, k * s) + b * s`, so the output scale
        costs a multiply over the small kernel instead of over every output
        pixel. `output_order` (a list of output-channel indices) gathers the
        output channels, so that `conv(x, k')[..., i] == call(x)[..., order[i]]`.
        """
        return fold_output_scale(
            self.conv.kernel,
            self.conv.bias,
            self.logs,
            self.log_scale_factor,
            output_order,
        )

    def get_config(self):
        """Keras config (constructor arguments)."""
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            log_scale_factor=self.log_scale_factor,
        )
        return config


@keras.saving.register_keras_serializable(package="tfp_flows")
class ZeroInitDense(keras.layers.Layer):
    """A zero-initialized Dense layer with a learned per-unit output scale."""

    def __init__(self, units, log_scale_factor=3.0, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.log_scale_factor = float(log_scale_factor)
        self.dense = keras.layers.Dense(
            self.units,
            kernel_initializer="zeros",
            bias_initializer="zeros",
            dtype=self.dtype_policy,
            name="dense",
        )

    def build(self, input_shape):
        """Builds the inner layer and the `logs` weight."""
        self.dense.build(input_shape)
        self.logs = self.add_weight(
            name="logs", shape=(self.units,), initializer="zeros"
        )
        self.built = True

    def call(self, x):
        """`inner(x) * exp(log_scale_factor * logs)`."""
        return self.dense(x) * keras.ops.exp(self.logs * self.log_scale_factor)

    def folded_kernel_and_bias(self, output_order=None):
        """As `ZeroInitConv2D.folded_kernel_and_bias`, for the Dense kernel."""
        return fold_output_scale(
            self.dense.kernel,
            self.dense.bias,
            self.logs,
            self.log_scale_factor,
            output_order,
        )

    def get_config(self):
        """Keras config (constructor arguments)."""
        config = super().get_config()
        config.update(units=self.units, log_scale_factor=self.log_scale_factor)
        return config


def conv_coupling_net(
    in_channels, out_channels, width=64, *, dtype="float32", seed=None, name=None
):
    """Glow's coupling network `[N, H, W, in_channels] -> [N, H, W, out_channels]`.

    conv3x3(width) -> ReLU -> conv1x1(width) -> ReLU -> zero-initialized
    conv3x3(out_channels). `dtype` is a Keras dtype or policy name (e.g.
    `'mixed_bfloat16'`: float32 weights, bfloat16 compute and output).

    Returns:
      A built `keras.Sequential`.
    """
    init = keras.initializers.GlorotUniform(seed=seed)
    net = keras.Sequential(
        [
            keras.layers.Conv2D(
                width,
                3,
                padding="same",
                activation="relu",
                kernel_initializer=init,
                dtype=dtype,
            ),
            keras.layers.Conv2D(
                width,
                1,
                padding="same",
                activation="relu",
                kernel_initializer=init,
                dtype=dtype,
            ),
            ZeroInitConv2D(out_channels, 3, dtype=dtype),
        ],
        name=name,
    )
    net.build((None, None, None, in_channels))
    return net


def dense_coupling_net(
    in_features, out_features, width=64, *, dtype="float32", seed=None, name=None
):
    """Dense(width) -> ReLU -> Dense(width) -> ReLU -> zero-initialized Dense.

    Returns:
      A built `keras.Sequential` mapping `[N, in_features] -> [N, out_features]`.
    """
    init = keras.initializers.GlorotUniform(seed=seed)
    net = keras.Sequential(
        [
            keras.layers.Dense(
                width, activation="relu", kernel_initializer=init, dtype=dtype
            ),
            keras.layers.Dense(
                width, activation="relu", kernel_initializer=init, dtype=dtype
            ),
            ZeroInitDense(out_features, dtype=dtype),
        ],
        name=name,
    )
    net.build((None, in_features))
    return net


def is_default_coupling_net(net: keras.layers.Layer | None) -> bool:
    """True for a network built by `conv_coupling_net` / `dense_coupling_net`.

    (A `keras.Sequential` of two ReLU Conv2D/Dense layers and a zero-initialized
    last layer, without quantization or LoRA, all layers with one dtype
    policy: plain, or float32 weights computing in bfloat16/float16.)
    """
    if not isinstance(net, keras.Sequential) or len(net.layers) != 3:
        return False
    first, second, last = net.layers
    conv = all(type(layer) is keras.layers.Conv2D for layer in (first, second))
    dense = all(type(layer) is keras.layers.Dense for layer in (first, second))
    if conv:
        ok_last = (
            type(last) is ZeroInitConv2D and type(last.conv) is keras.layers.Conv2D
        )
        inner = (first, second, last.conv)
        ok_inner = all(
            layer.padding == "same"
            and tuple(layer.strides) == (1, 1)
            and tuple(layer.dilation_rate) == (1, 1)
            and layer.groups == 1
            and layer.data_format == "channels_last"
            for layer in inner
        )
    elif dense:
        ok_last = type(last) is ZeroInitDense and type(last.dense) is keras.layers.Dense
        inner = (first, second, last.dense)
        ok_inner = True
    else:
        return False
    layers = (first, second, last) + inner[2:]
    return (
        ok_last
        and ok_inner
        and all(
            layer.use_bias and not getattr(layer, "lora_enabled", False)
            for layer in inner
        )
        and all(getattr(layer, "quantization_mode", None) is None for layer in layers)
        and len({(layer.compute_dtype, layer.variable_dtype) for layer in layers}) == 1
        and (
            first.compute_dtype == first.variable_dtype
            or (
                first.variable_dtype == "float32"
                and first.compute_dtype in ("bfloat16", "float16")
            )
        )
        and first.activation is keras.activations.relu
        and second.activation is keras.activations.relu
        and last.built
    )


def apply_coupling_net(net, x, output_order=None):
    """Runs a default coupling network with `tf.nn` ops on its Keras 3 weights.

    The same function as `net(x)` on the same weights (up to float rounding),
    with two changes that matter under `tf.function(jit_compile=True)` on CPU:
    the last layer's output scale `exp(3 * logs)` is folded into its kernel
    and bias, and `output_order` permutes the output channels inside the
    kernel (so a caller can take contiguous halves instead of strided
    `h[..., 0::2]` slices, which XLA re-reads once per consumer). It also skips
    Keras' per-call Python overhead in eager mode. Gradients reach every weight.

    Under a mixed policy (`dtype='mixed_bfloat16'`), the input and the
    weights (the last kernel after folding, in float32) are cast to the
    compute dtype, as Keras' autocasting does; the result is in the compute
    dtype.

    Args:
      net: a network for which `is_default_coupling_net(net)` holds.
      x: `[N, H, W, C]` (conv net) or `[N, D]` (dense net), the weights' dtype.
      output_order: optional list of output-channel indices.

    Returns:
      `net(x)[..., output_order]`, in the network's compute dtype.

    #### Examples

    >>> net = conv_coupling_net(2, 4, 8, seed=0)
    >>> for w in net.trainable_weights:  # move off the zero init
    ...     _ = w.assign(tf.random.stateless_normal(w.shape, seed=[0, 1]))
    >>> x = tf.random.stateless_normal([3, 4, 4, 2], seed=[2, 3])
    >>> order = [0, 2, 1, 3]
    >>> ref = tf.gather(net(x), order, axis=-1)
    >>> err = tf.reduce_max(tf.abs(apply_coupling_net(net, x, order) - ref))
    >>> bool(err <= 1e-5 * tf.reduce_max(tf.abs(ref)))
    True
    """
    first, second, last = net.layers
    kernel, bias = last.folded_kernel_and_bias(output_order)
    compute = tf.as_dtype(first.compute_dtype)

    def value(weight):
        return tf.cast(_value(weight), compute)

    x, kernel, bias = tf.cast(x, compute), tf.cast(kernel, compute), value(bias)
    if isinstance(first, keras.layers.Dense):
        h = tf.nn.relu(tf.matmul(x, value(first.kernel)) + value(first.bias))
        h = tf.nn.relu(tf.matmul(h, value(second.kernel)) + value(second.bias))
        return tf.matmul(h, kernel) + bias
    h = tf.nn.conv2d(x, value(first.kernel), 1, "SAME")
    h = tf.nn.relu(tf.nn.bias_add(h, value(first.bias)))
    h = tf.nn.conv2d(h, value(second.kernel), 1, "SAME")
    h = tf.nn.relu(tf.nn.bias_add(h, value(second.bias)))
    return tf.nn.bias_add(tf.nn.conv2d(h, kernel, 1, "SAME"), bias)
