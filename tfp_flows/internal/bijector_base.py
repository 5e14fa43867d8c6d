"""Not public API: the base class of this package's bijectors.

Two things every bijector here needs, written once:

1. One pass computes both the output and the log-det. The class uses TFP's own
   `BijectorCacheWithGreedyAttrs` (as `tfb.FFJORD` does): `forward(x)` stores
   the log-det beside the cached `y`, so `TransformedDistribution.log_prob`
   runs each coupling network once, not twice, even outside XLA.
2. Trainable numbers are Keras 3 weights. A subclass registers its Keras
   layers with `_track_keras_layer`; the bijector then also holds the
   underlying `tf.Variable`s so that `tf.Module.trainable_variables` (and so a
   distribution's) lists them.
"""

import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability.python.internal import cache_util

from tfp_flows.internal.keras import keras, tf_variables_of

__all__ = ["FusedBijector"]


class FusedBijector(tfb.Bijector):
    """A bijector whose subclasses implement `_forward_and_log_det` and
    `_inverse_and_log_det`, each returning `(output, log_det)` with the log-det
    reduced over `forward_min_event_ndims` (shape: the batch shape of the input).
    """

    _cache = cache_util.BijectorCacheWithGreedyAttrs(
        forward_name="_augmented_forward", inverse_name="_augmented_inverse"
    )

    def __init__(self, *args, **kwargs):
        # Filled by `_track_keras_layer`; a list so that layers built later are
        # seen by `tf.Module` traversal without re-assigning the attribute.
        self._keras_layers = []
        self._keras_variables = []
        super().__init__(*args, **kwargs)

    @classmethod
    def _parameter_properties(cls, dtype=None, num_classes=None):
        # Parameters live in Keras weights with no batch semantics.
        return {}

    # -- Keras 3 weights ---------------------------------------------------
    def _track_keras_layer(self, layer):
        """Registers a built Keras layer whose weights this bijector reads."""
        if not isinstance(layer, keras.layers.Layer):
            raise TypeError(
                f"Expected a Keras 3 layer (keras.layers.Layer); got {type(layer)!r}. "
                "tf_keras / Keras 2 layers are invisible to Keras 3 models."
            )
        if not layer.built:
            raise ValueError(f"Layer {layer.name!r} must be built before tracking.")
        self._keras_layers.append(layer)
        known = {id(v) for v in self._keras_variables}
        for v in tf_variables_of(layer):
            if id(v) not in known:
                self._keras_variables.append(v)
        return layer

    @property
    def keras_layers(self):
        """The Keras 3 layers owning this bijector's weights (a tuple)."""
        return tuple(self._keras_layers)

    # -- fused forward/inverse and log-det ---------------------------------
    def _forward_and_log_det(self, x):
        raise NotImplementedError

    def _inverse_and_log_det(self, y):
        raise NotImplementedError

    def _finite_input(self, t, arg_name):
        """Under `validate_args`, NaN or inf input raises instead of propagating.

        (`tf.debugging.Assert` is a no-op inside XLA clusters; the check runs
        eagerly and in `tf.function`.)
        """
        if not self.validate_args:
            return t
        finite = tf.reduce_all(tf.math.is_finite(t))
        msg = f"{type(self).__name__} '{self.name}': argument `{arg_name}` has NaN or inf values"
        with tf.control_dependencies([tf.debugging.Assert(finite, [msg])]):
            return tf.identity(t)

    def _augmented_forward(self, x):
        y, fldj = self._forward_and_log_det(self._finite_input(x, "x"))
        return y, {"ildj": -fldj}

    def _augmented_inverse(self, y):
        x, ildj = self._inverse_and_log_det(self._finite_input(y, "y"))
        return x, {"ildj": ildj}

    def _forward(self, x):
        return self._forward_and_log_det(x)[0]

    def _inverse(self, y):
        return self._inverse_and_log_det(y)[0]

    def _forward_log_det_jacobian(self, x):
        attrs = self._cache.forward_attributes(x)
        if "ildj" not in attrs:
            _, more = self._augmented_forward(x)
            attrs.update(more)
        return -attrs["ildj"]

    def _inverse_log_det_jacobian(self, y):
        attrs = self._cache.inverse_attributes(y)
        if "ildj" not in attrs:
            _, more = self._augmented_inverse(y)
            attrs.update(more)
        return attrs["ildj"]

