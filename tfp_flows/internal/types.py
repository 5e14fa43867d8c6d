"""Not public API: the type aliases of the package's annotations.

TensorFlow, TFP and Keras ship no type stubs, so mypy sees `tf.Tensor`,
`tfd.Distribution`, `keras.layers.Layer` etc. as `Any` (`ignore_missing_imports`
in `pyproject.toml`); the aliases below still say what a function takes, and
mypy checks the parts it knows (numpy, Python numbers, sequences, None).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from typing import Any
from typing import Protocol
from typing import Union

import numpy as np
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tfp_flows.internal.keras import keras

__all__ = [
    "ActivationLike",
    "ConditionalFamily",
    "DTypeLike",
    "Flow",
    "FlowInputs",
    "InitializerLike",
    "InputOrder",
    "LayerDType",
    "ReduceFn",
    "Seed",
    "ShapeLike",
    "TensorLike",
]

#: Anything `tf.convert_to_tensor` takes: tensors and variables, numpy arrays,
#: Python numbers and (nested) lists of them.
TensorLike = Union[tf.Tensor, tf.Variable, np.ndarray, float, int, Sequence[Any]]

#: A shape: one int, a sequence of ints (`None` for an unknown dimension), a
#: `tf.TensorShape`, or an int tensor.
ShapeLike = Union[int, Sequence[Union[int, None]], tf.TensorShape, tf.Tensor]

#: A dtype as `tf.as_dtype` takes it: `tf.float32`, `"float64"`, `np.float32`.
DTypeLike = Union[tf.dtypes.DType, str, np.dtype, type]

#: A TFP seed: `None`, a Python int (stateful), or a stateless `[2]` int
#: tensor (`tfp.random.sanitize_seed`).
Seed = Union[int, tf.Tensor, Sequence[int], None]

#: A Keras layer's `dtype` argument: a dtype, a `keras.DTypePolicy` (or its
#: name, e.g. `"mixed_float16"`), or None for the global policy.
LayerDType = Union[DTypeLike, keras.DTypePolicy, None]

#: What `keras.activations.get` takes: a name (`"relu"`) or a callable.
ActivationLike = Union[str, Callable[[Any], Any]]

#: What `keras.initializers.get` takes: a name, a config dict, or an
#: initializer (any callable `(shape, dtype) -> tensor`).
InitializerLike = Union[str, dict[str, Any], Callable[..., Any]]

#: ActNorm's `reduce_fn(sum_c, sum_sq_c, count) -> (sum_c, sum_sq_c, count)`:
#: per-channel sums of a batch to global ones (`tfp_flows.flows.replica_sum`).
ReduceFn = Callable[
    [tf.Tensor, tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor, tf.Tensor]
]

#: A MADE input ordering: `"left-to-right"`, `"right-to-left"`, `"random"`,
#: or an explicit permutation of `0..D-1`.
InputOrder = Union[str, Sequence[int], np.ndarray]


class ConditionalFamily(Protocol):
    """A conditional family `p(x | c)` (`ConditionalFlow`, a conditional PixelRNN).

    `tfp_flows.flows.ConditionalFlow`, or a `PixelRNNDistribution` whose network
    has a `context_size` and no bound context. `condition(c)` gives an ordinary
    distribution; `log_prob(x, context=c)` and `sample(n, context=c)` take the
    context per call.
    """

    @property
    def event_shape(self) -> Any:
        """The event shape of `x` (a `tf.TensorShape`)."""
        ...

    @property
    def trainable_variables(self) -> Any:
        """The flow's trainable `tf.Variable`s (as a `tf.Module` lists them)."""
        ...

    def condition(self, context: Any) -> Any:
        """`p(. | context)`, an ordinary distribution."""
        ...

    def log_prob(self, *args: Any, **kwargs: Any) -> Any:
        """`log p(x | context)`."""
        ...

    def sample(self, *args: Any, **kwargs: Any) -> Any:
        """Samples of `p(. | context)`."""
        ...


#: What the Keras wrappers, the VAE and the exporters take as a flow: a TFP
#: distribution (every builder of `tfp_flows.flows`, `pixel_rnn`) or a
#: conditional family.
Flow = Union[tfd.Distribution, ConditionalFamily]

#: A Keras wrapper's inputs: `x`, `(x, context)` or `{"x": x, "context": c}`.
FlowInputs = Union[TensorLike, tuple[Any, Any], dict[str, Any]]
