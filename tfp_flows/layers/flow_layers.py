"""Keras 3 layers and models that put a flow into a Keras workflow."""

import tensorflow as tf

from tfp_flows.internal.keras import as_tf_variable, keras, keras_layers_of

__all__ = ["FlowLogProb", "FlowModel"]


class FlowLogProb(keras.layers.Layer):
    """Outputs `flow.log_prob(inputs)`; tracks every weight of the flow.

    The flow's weights live in Keras 3 layers held by its bijectors; this layer
    tracks those layers, so a model containing it reports exactly the flow's
    parameters in `trainable_weights` and `model.fit` trains them.

    #### Examples

    >>> from tfp_flows import flows
    >>> flow = flows.glow((8, 8, 1), num_levels=1, num_steps=1, hidden_units=8)
    >>> layer = FlowLogProb(flow)
    >>> len(layer.trainable_weights) == len(flow.trainable_variables)
    True
    """

    def __init__(self, flow, **kwargs):
        super().__init__(**kwargs)
        self._flow = flow
        self.flow_layers = keras_layers_of(flow)
        self.built = True

    @property
    def flow(self):
        """The wrapped `tfd.TransformedDistribution`."""
        return self._flow

    def call(self, inputs):
        return self._flow.log_prob(tf.cast(inputs, self._flow.dtype))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[: len(input_shape) - len(self._flow.event_shape)])


class FlowModel(keras.Model):
    """A Keras model whose output is `log_prob(x)` and whose loss is the mean
    negative log-likelihood, so `model.fit(x)` needs no targets.

    #### Examples

    >>> import numpy as np
    >>> from tfp_flows import flows
    >>> flow = flows.glow((8, 8, 1), num_levels=1, num_steps=1, hidden_units=8)
    >>> model = FlowModel(flow)
    >>> model.compile(optimizer=keras.optimizers.Adam(1e-3))
    >>> x = np.random.RandomState(0).uniform(-0.5, 0.5, (32, 8, 8, 1)).astype("float32")
    >>> history = model.fit(x, batch_size=16, epochs=2, verbose=0)
    >>> len(history.history["loss"])
    2
    """

    def __init__(self, flow, **kwargs):
        super().__init__(**kwargs)
        self.log_prob_layer = FlowLogProb(flow, name="log_prob")

    @property
    def flow(self):
        return self.log_prob_layer.flow

    def call(self, inputs):
        return self.log_prob_layer(inputs)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        nll = -tf.reduce_mean(y_pred)
        if self.losses:
            nll += tf.add_n(self.losses)
        return nll

    def flow_variables_match(self):
        """True if Keras' weights and the distribution's variables are the same."""
        keras_ids = sorted(id(as_tf_variable(w)) for w in self.trainable_weights)
        tfp_ids = sorted(id(v) for v in self.flow.trainable_variables)
        return keras_ids == tfp_ids
