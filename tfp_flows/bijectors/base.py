"""`FusedBijector`: the base class of this package's bijectors, and of yours.

Two things every bijector here needs, written once:

1. One pass computes both the output and the log-det. The class uses TFP's own
   `BijectorCacheWithGreedyAttrs` (as `tfb.FFJORD` does): `forward(x)` stores
   the log-det beside the cached `y`, so `TransformedDistribution.log_prob`
   runs each coupling network once, not twice, even outside XLA.
2. Trainable numbers are Keras 3 weights. A subclass registers its Keras
   layers with `track_keras_layer`; the bijector then also holds the
   underlying `tf.Variable`s so that `tf.Module.trainable_variables` (and so a
   distribution's) lists them, and Keras layers that hold the flow
   (`tfp_flows.layers.FlowModel`, `FlowLogProb`) find the layers.

A worked example, trained in a Keras model and checked with
`tfp_flows.testing.check_bijector`, is in `docs/extending.md`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any
from typing import TypeVar

import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability.python.internal import cache_util

from tfp_flows.internal import checks
from tfp_flows.internal.conditioning import check_context
from tfp_flows.internal.keras import keras
from tfp_flows.internal.keras import tf_variables_of
from tfp_flows.internal.types import TensorLike

__all__ = ["ContextBijector", "FusedBijector", "bind_context", "consumes_context"]

_LayerT = TypeVar("_LayerT", bound="keras.layers.Layer")
_CtxT = TypeVar("_CtxT", bound="ContextBijector")


class FusedBijector(tfb.Bijector):
    """Base class for a bijector whose parameters are Keras 3 weights.

    Subclass it to write your own bijector; `tfp_flows.testing.check_bijector`
    then checks it as this package's own bijectors are checked. The contract:

    1. **Constructor.** Follow TFP's template: `parameters = dict(locals())`,
       then, inside `with tf.name_scope(name or "my_bijector") as name:`,
       `super().__init__(forward_min_event_ndims=..., validate_args=...,
       parameters=parameters, name=name)` (optionally `is_constant_jacobian`,
       `inverse_min_event_ndims`, `dtype`). Raise `ValueError`/`TypeError`
       for bad arguments before that, naming the argument and the value got.
    2. **Weights.** Every trainable number is a Keras 3 weight
       (`add_weight`) of a Keras 3 layer, built at construction (weights
       exist before the first call), and registered *after*
       `super().__init__` with `self.track_keras_layer(layer)`. A
       `tf.Module` (every TFP bijector and distribution) does not see a Keras
       3 layer's weights, nor a Keras model a `tf.Variable` held by a
       bijector: tracking makes `bijector.trainable_variables` (and a
       `TransformedDistribution`'s) list the layer's variables, and Keras
       layers holding the flow find the layer, so `model.trainable_weights`
       lists the same numbers and `model.fit` trains them. Read the weights
       inside the hooks (`tf.convert_to_tensor(weight)`, or use them in ops),
       never copy their values at construction.
    3. **Hooks.** Implement `_forward_and_log_det(x) -> (y, fldj)` and
       `_inverse_and_log_det(y) -> (x, ildj)`, where `fldj = log|det dy/dx|`
       and `ildj = log|det dx/dy|`, each reduced over the
       `forward_min_event_ndims` rightmost dimensions and of the input's
       batch shape `x.shape[:-forward_min_event_ndims]` (broadcast a constant
       log-det to it, e.g. `tf.zeros_like(x[..., 0]) + ldj` for
       `forward_min_event_ndims=1`). Do not override `forward`, `inverse`
       or the `*_log_det_jacobian` methods (nor `_forward`, `_inverse` and
       the `_*_log_det_jacobian` hooks: this class defines them from the two
       hooks). A bijector with no inverse raises `NotImplementedError` in
       `_inverse_and_log_det`.
    4. **Event dims.** TFP sums the log-det over extra event dimensions:
       `forward_log_det_jacobian(x, event_ndims=k)` with `k` larger than
       `forward_min_event_ndims` reduces the hooks' result over the `k - min`
       further rightmost dimensions of the batch shape; the hooks never see
       `event_ndims`.
    5. **The cache.** `forward(x)` runs `_forward_and_log_det` once and
       caches `y` with the log-det, so `forward_log_det_jacobian(x)` for the
       same tensor `x`, and `inverse(y)` or `inverse_log_det_jacobian(y)` for
       the returned `y`, cost nothing more (likewise from `inverse`). The
       cache is keyed by the tensor object: after changing the weights, pass
       a new tensor (`tf.identity(x)`) to get values for the new weights
       (each training batch is a new tensor anyway).
    6. **Validation.** With `validate_args=True`, NaN or inf inputs raise
       (eagerly and in `tf.function`; XLA drops assertions). Put run-time
       invariants of your parameters in `_parameter_control_dependencies`.

    `_parameter_properties` returns `{}`: Keras weights have no TFP batch
    semantics.

    #### Examples

    A learned shift `y = x + b` on vectors (the full example, trained with
    `model.fit`, is in `docs/extending.md`):

    >>> import keras
    >>> import tensorflow as tf
    >>> class ShiftWeights(keras.layers.Layer):  # owns the weight
    ...     def __init__(self, size, **kwargs):
    ...         super().__init__(**kwargs)
    ...         self.b = self.add_weight(shape=(size,), initializer="zeros", name="b")
    ...         self.built = True
    >>> class Shift(FusedBijector):
    ...     def __init__(self, size, validate_args=False, name=None):
    ...         parameters = dict(locals())
    ...         with tf.name_scope(name or "shift") as name:
    ...             super().__init__(forward_min_event_ndims=1,
    ...                              validate_args=validate_args,
    ...                              parameters=parameters, name=name)
    ...             self.weights_layer = self.track_keras_layer(ShiftWeights(size))
    ...     def _forward_and_log_det(self, x):
    ...         return x + self.weights_layer.b, tf.zeros_like(x[..., 0])
    ...     def _inverse_and_log_det(self, y):
    ...         return y - self.weights_layer.b, tf.zeros_like(y[..., 0])
    >>> bij = Shift(3)
    >>> len(bij.trainable_variables)  # the Keras weight, seen by tf.Module
    1
    >>> bij.forward(tf.ones([2, 3])).shape
    TensorShape([2, 3])
    """

    _cache = cache_util.BijectorCacheWithGreedyAttrs(
        forward_name="_augmented_forward", inverse_name="_augmented_inverse"
    )

    def __init__(self, *args: Any, **kwargs: Any):
        # Filled by `track_keras_layer`; a list so that layers built later are
        # seen by `tf.Module` traversal without re-assigning the attribute.
        self._keras_layers: list[keras.layers.Layer] = []
        self._keras_variables: list[tf.Variable] = []
        super().__init__(*args, **kwargs)

    @classmethod
    def _parameter_properties(cls, dtype=None, num_classes=None):
        # Parameters live in Keras weights with no batch semantics.
        return {}

    # -- Keras 3 weights ---------------------------------------------------
    def track_keras_layer(self, layer: _LayerT) -> _LayerT:
        """Registers a built Keras 3 layer whose weights this bijector reads.

        Call it after `super().__init__`, once per layer (a layer tracked
        twice adds no variable twice).

        Args:
          layer: a built `keras.layers.Layer` (Keras 3).

        Returns:
          `layer`, so that `self.net = self.track_keras_layer(net)` works.

        Raises:
          TypeError: if `layer` is not a Keras 3 layer (e.g. a tf_keras one,
            whose weights a Keras 3 model would not see).
          ValueError: if `layer` is not built (it has no weights yet).
        """
        if not isinstance(layer, keras.layers.Layer):
            raise TypeError(
                f"Expected a Keras 3 layer (keras.layers.Layer); got {type(layer)!r}. "
                "tf_keras / Keras 2 layers are invisible to Keras 3 models."
            )
        if not layer.built:
            raise ValueError(
                f"Layer {layer.name!r} must be built before tracking (call "
                "`layer.build(input_shape)` or create its weights in __init__)."
            )
        self._keras_layers.append(layer)
        known = {id(v) for v in self._keras_variables}
        for v in tf_variables_of(layer):
            if id(v) not in known:
                self._keras_variables.append(v)
        return layer

    def _track_keras_layer(self, layer: _LayerT) -> _LayerT:
        """`track_keras_layer` (the name this package's bijectors use)."""
        return self.track_keras_layer(layer)

    @property
    def keras_layers(self) -> tuple[keras.layers.Layer, ...]:
        """The Keras 3 layers owning this bijector's weights (a tuple)."""
        return tuple(self._keras_layers)

    # -- fused forward/inverse and log-det ---------------------------------
    def _forward_and_log_det(self, x):
        """`(y, fldj)`: override (see the class docstring)."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement `_forward_and_log_det(x)`."
        )

    def _inverse_and_log_det(self, y):
        """`(x, ildj)`: override (see the class docstring)."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement `_inverse_and_log_det(y)`."
        )

    def _finite_input(self, t, arg_name):
        """Under `validate_args`, NaN or inf input raises instead of propagating.

        (`tf.debugging.Assert` is a no-op inside XLA clusters; the check runs
        eagerly and in `tf.function`.)
        """
        if not self.validate_args:
            return t
        finite = tf.reduce_all(tf.math.is_finite(t))
        msg = (
            f"{type(self).__name__} '{self.name}': argument `{arg_name}` has "
            "NaN or inf values"
        )
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


class ContextBijector(FusedBijector):
    """A `FusedBijector` that may consume a context `c`: `with_context`, once.

    A subclass calls `self._init_context(context_shape)` in its constructor
    (`None`: the bijector takes no context) and reads `self.context` in its
    hooks. `with_context(c)` returns a shallow copy that shares every weight
    and holds `c` (checked by the package's one context check); a bijector
    built from parts overrides `_bind_parts(c)` to bind its parts in the
    copy. The bound copy's `parameters` include the context, so TFP's cache
    never returns a result computed under another context.

    An unconditional bijector (`context_shape=None`) rejects a context; a
    conditional one used unbound raises naming `with_context`.
    """

    _context_shape: tuple[int, ...] | None = None
    _context: tf.Tensor | None = None

    def _init_context(self, context_shape: Sequence[int] | None) -> None:
        owner = type(self).__name__
        if context_shape is None:
            self._context_shape = None
        else:
            if isinstance(context_shape, (int, bool)) or not isinstance(
                context_shape, (list, tuple)
            ):
                raise ValueError(
                    f"{owner}: argument `context_shape` must be None, (C,) or "
                    f"(H, W, C); got {context_shape!r}."
                )
            dims = [
                checks.check_positive_int(d, f"context_shape[{i}]", owner)
                for i, d in enumerate(context_shape)
            ]
            if len(dims) not in (1, 3):
                raise ValueError(
                    f"{owner}: argument `context_shape` must be (C,) (a vector) or "
                    f"(H, W, C) (an image); got {tuple(context_shape)!r}."
                )
            self._context_shape = tuple(dims)
        self._context = None

    @property
    def context_shape(self) -> tuple[int, ...] | None:
        """The event shape of the context (`(C,)` or `(H, W, C)`), or None."""
        return self._context_shape

    @property
    def conditional(self) -> bool:
        """Whether this bijector consumes a context."""
        return self._context_shape is not None

    @property
    def context(self) -> tf.Tensor | None:
        """The bound context, or None."""
        return self._context

    def _context_dtype(self) -> tf.DType:
        return tf.as_dtype(getattr(self, "_dtype_weights", tf.float32))

    def with_context(self: _CtxT, context: TensorLike) -> _CtxT:
        """The same bijector (same weights) bound to `context`.

        Args:
          context: `[*context_shape]` (one context for every row) or
            `[..., *context_shape]`, broadcasting with the batch of the values
            later transformed.

        Returns:
          A bound copy; `self` is unchanged.

        Raises:
          ValueError: the bijector is unconditional, or `context` is None, of
            another dtype or of the wrong shape.
        """
        owner = type(self).__name__
        if self._context_shape is None:
            raise ValueError(
                f"{owner}: argument `context` was given, but this bijector is "
                "unconditional (context_shape=None); build it with "
                "`context_shape=(C,)` or `(H, W, C)`."
            )
        checked = check_context(
            context, self._context_shape, self._context_dtype(), owner
        )
        new = copy.copy(self)
        new._context = checked
        new._parameters = dict(self._parameters or {}, context=checked)
        new._bind_parts(checked)
        return new

    def _bind_parts(self, context: tf.Tensor) -> None:
        """Binds the parts of a composite bijector in a fresh copy (override)."""
        del context  # nothing to bind in a bijector without parts

    def _broadcast_with_context(
        self, x: tf.Tensor, ctx: tf.Tensor, event_ndims: int
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """`(x, ctx)` broadcast to their common batch shape.

        `x` has `event_ndims` event dimensions, `ctx` those of
        `context_shape`; a context `[*context_shape]` serves every row.
        """
        nd, cr = event_ndims, len(self._context_shape or ())
        if x.shape.rank == nd + 1 and ctx.shape.rank == cr + 1:
            n_x, n_c = x.shape[0], ctx.shape[0]
            if n_x is not None and n_x == n_c:
                return x, ctx  # the common case: one context row per row
        x_batch = tf.shape(x)[: tf.rank(x) - nd]
        c_batch = tf.shape(ctx)[: tf.rank(ctx) - cr]
        batch = tf.broadcast_dynamic_shape(x_batch, c_batch)
        x = tf.broadcast_to(x, tf.concat([batch, tf.shape(x)[tf.rank(x) - nd :]], 0))
        ctx = tf.broadcast_to(
            ctx, tf.concat([batch, tf.shape(ctx)[tf.rank(ctx) - cr :]], 0)
        )
        return x, ctx

    def _require_context(self) -> tf.Tensor | None:
        """The bound context; ValueError if conditional and unbound."""
        if self._context_shape is not None and self._context is None:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': this bijector is "
                f"conditional (context_shape={self._context_shape}) but no "
                "`context` was bound; use `with_context(c)` or the flow's "
                "`condition(c)`."
            )
        return self._context


def bind_context(bijector: tfb.Bijector, context: tf.Tensor) -> tfb.Bijector:
    """`bijector` with every context-consuming part bound to `context`.

    Walks `tfb.Chain` and `tfb.Invert`; binds every conditional
    `ContextBijector` (the couplings, `GlowStep`, MAF/IAF, the VI flows,
    `FFJORD`); leaves every other part as it is.
    """
    if isinstance(bijector, ContextBijector):
        return bijector.with_context(context) if bijector.conditional else bijector
    if isinstance(bijector, _CHAINS):
        parts = [bind_context(b, context) for b in bijector.bijectors]
        if all(p is b for p, b in zip(parts, bijector.bijectors, strict=True)):
            return bijector
        return tfb.Chain(parts, name=bijector.name.rstrip("/"))
    if isinstance(bijector, _INVERTS):
        inner = bind_context(bijector.bijector, context)
        return bijector if inner is bijector.bijector else tfb.Invert(inner)
    return bijector


def consumes_context(bijector: tfb.Bijector) -> bool:
    """Whether `bind_context` would bind some part of `bijector`."""
    if isinstance(bijector, ContextBijector):
        return bijector.conditional
    if isinstance(bijector, _CHAINS):
        return any(consumes_context(b) for b in bijector.bijectors)
    if isinstance(bijector, _INVERTS):
        return consumes_context(bijector.bijector)
    return False


# TFP's private `_Chain` / `_Invert` (the classes of chains of non-composite
# bijectors such as ours), taken from their public subclasses (see
# `tfp_flows/flows/act_norm_init.py`).
_CHAINS = (tfb.Chain, tfb.Chain.__bases__[0])
_INVERTS = (tfb.Invert, tfb.Invert.__bases__[0])
