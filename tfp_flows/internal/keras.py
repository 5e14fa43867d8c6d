"""Not public API. The one place that imports Keras 3, plus weight helpers.

Measured on this stack: a Keras 3 layer does not see raw `tf.Variable`s or a
`tf.Module`'s variables, and a `tf.Module` (every TFP bijector and
distribution) does not see a Keras 3 layer's weights. The package therefore
creates every trainable number with Keras 3 `add_weight` and lets the
bijector also hold the *underlying* `tf.Variable` of each Keras weight, so
that `model.trainable_weights` and `distribution.trainable_variables` list
the same numbers.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

if int(keras.__version__.split(".")[0]) < 3:  # pragma: no cover
    raise ImportError(f"tfp_flows needs Keras 3; found keras {keras.__version__}.")
if keras.backend.backend() != "tensorflow":  # pragma: no cover
    raise ImportError(
        "tfp_flows needs the TensorFlow Keras backend; got "
        f"KERAS_BACKEND={keras.backend.backend()!r}."
    )

__all__ = [
    "keras",
    "WeightStore",
    "as_tf_variable",
    "keras_layers_of",
    "tf_variables_of",
]


def as_tf_variable(weight):
    """The `tf.Variable` behind a Keras 3 weight (or the variable itself)."""
    if isinstance(weight, tf.Variable):
        return weight
    value = getattr(weight, "value", None)
    if isinstance(value, tf.Variable):
        return value
    raise TypeError(
        f"Expected a Keras 3 weight backed by a tf.Variable; got {type(weight)!r}."
    )


def tf_variables_of(layer):
    """Underlying `tf.Variable`s of a built Keras layer, in `layer.weights` order."""
    return [as_tf_variable(w) for w in layer.weights]


def keras_layers_of(obj):
    """Every Keras 3 layer held anywhere inside a TFP distribution or bijector.

    Walks the `tf.Module` tree (chains, inverts, transformed distributions,
    our bijectors) and returns the Keras layers found, each once, in a
    deterministic order. A Keras model that tracks these layers reports
    exactly the flow's parameters in `trainable_weights`.
    """
    if isinstance(obj, keras.layers.Layer):
        return [obj]
    found = obj._flatten(  # pylint: disable=protected-access
        predicate=lambda x: isinstance(x, keras.layers.Layer),
        expand_composites=False,
    )
    unique, seen = [], set()
    for layer in found:
        if id(layer) not in seen:
            seen.add(id(layer))
            unique.append(layer)
    return unique


class WeightStore(keras.layers.Layer):
    """A Keras 3 layer that only owns weights a bijector reads.

    Bijectors that have plain parameter tensors (ActNorm's shift and scale,
    the 1x1 convolution's matrix) keep them here, so Keras models see them.
    Calling the layer is the identity; it exists for tracking and saving.
    """

    def __init__(self, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.built = True

    def add(self, name, shape, initializer, trainable=True, dtype=None):
        """Adds a weight; `initializer` is a Keras initializer or an array."""
        if not callable(initializer) and not isinstance(initializer, str):
            value = tf.constant(initializer)

            def initializer(shape, dtype=None, _value=value):  # noqa: ARG001
                return tf.cast(tf.reshape(_value, shape), dtype)

        return self.add_weight(
            name=name,
            shape=tuple(shape),
            initializer=initializer,
            trainable=trainable,
            dtype=dtype or self.dtype,
        )

    def call(self, inputs):
        """Identity: the layer only holds weights."""
        return inputs
