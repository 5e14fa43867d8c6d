"""Keras 3 networks that compute a coupling layer's shift and scale."""

from tfp_flows.internal.keras import keras

__all__ = ["ZeroInitConv2D", "ZeroInitDense", "conv_coupling_net", "dense_coupling_net"]


@keras.saving.register_keras_serializable(package="tfp_flows")
class ZeroInitConv2D(keras.layers.Layer):
    """Glow's `Conv2DZeros`: a zero-initialized 3x3 conv with a learned
    per-channel output scale `exp(3 * logs)`, so a coupling starts at its
    input-independent initial transform."""

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
        self.conv.build(input_shape)
        self.logs = self.add_weight(
            name="logs", shape=(self.filters,), initializer="zeros"
        )
        self.built = True

    def call(self, x):
        return self.conv(x) * keras.ops.exp(self.logs * self.log_scale_factor)

    def get_config(self):
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
        self.dense.build(input_shape)
        self.logs = self.add_weight(name="logs", shape=(self.units,), initializer="zeros")
        self.built = True

    def call(self, x):
        return self.dense(x) * keras.ops.exp(self.logs * self.log_scale_factor)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, log_scale_factor=self.log_scale_factor)
        return config


def conv_coupling_net(in_channels, out_channels, width=64, *, dtype="float32", seed=None, name=None):
    """Glow's coupling network: conv3x3(width) -> ReLU -> conv1x1(width) -> ReLU
    -> zero-initialized conv3x3(out_channels). Input `[N, H, W, in_channels]`.

    Returns:
      A built `keras.Sequential`.
    """
    init = keras.initializers.GlorotUniform(seed=seed)
    net = keras.Sequential(
        [
            keras.layers.Conv2D(width, 3, padding="same", activation="relu",
                                kernel_initializer=init, dtype=dtype),
            keras.layers.Conv2D(width, 1, padding="same", activation="relu",
                                kernel_initializer=init, dtype=dtype),
            ZeroInitConv2D(out_channels, 3, dtype=dtype),
        ],
        name=name,
    )
    net.build((None, None, None, in_channels))
    return net


def dense_coupling_net(in_features, out_features, width=64, *, dtype="float32", seed=None, name=None):
    """Dense(width) -> ReLU -> Dense(width) -> ReLU -> zero-initialized Dense.

    Returns:
      A built `keras.Sequential` mapping `[N, in_features] -> [N, out_features]`.
    """
    init = keras.initializers.GlorotUniform(seed=seed)
    net = keras.Sequential(
        [
            keras.layers.Dense(width, activation="relu", kernel_initializer=init, dtype=dtype),
            keras.layers.Dense(width, activation="relu", kernel_initializer=init, dtype=dtype),
            ZeroInitDense(out_features, dtype=dtype),
        ],
        name=name,
    )
    net.build((None, in_features))
    return net
