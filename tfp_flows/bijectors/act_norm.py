"""ActNorm: per-channel affine with explicit data-dependent initialization."""

from __future__ import annotations

import tensorflow as tf

from tfp_flows.bijectors.base import FusedBijector
from tfp_flows.internal import checks
from tfp_flows.internal.keras import WeightStore
from tfp_flows.internal.keras import as_tf_variable
from tfp_flows.internal.keras import keras
from tfp_flows.internal.types import DTypeLike
from tfp_flows.internal.types import ReduceFn
from tfp_flows.internal.types import TensorLike

__all__ = ["ActNorm"]


class ActNorm(FusedBijector):
    """Activation normalization (Glow, Kingma & Dhariwal 2018, section 3.1).

    A per-channel affine map on `[..., H, W, C]` images (`event_ndims=3`) or
    `[..., C]` vectors (`event_ndims=1`):

        forward:  y = x * exp(log_scale) + shift
        inverse:  x = (y - shift) * exp(-log_scale)
        log|det J_forward| = H * W * sum(log_scale)     (images)
                           = sum(log_scale)             (vectors)

    Data flows through `inverse` in a `TransformedDistribution`'s `log_prob`, so
    the data-dependent initialization sets `shift` and `log_scale` from a data
    batch such that `inverse(data)` has zero mean and unit variance per channel:

        shift = mean(data),  log_scale = log(std(data) + epsilon).

    Initialization is explicit (`initialize`), never implicit: no forward or
    inverse call (so no `sample()`) ever changes the weights. A channel with
    zero variance gets `log_scale = log(epsilon)` and stays finite. The
    `initialized` flag is a (non-trainable) Keras weight, so it is saved and
    restored with the other weights and restoring never re-initializes.

    #### Examples

    >>> import numpy as np
    >>> act = ActNorm(2)
    >>> data = np.random.RandomState(0).normal(3.0, 2.0, size=(64, 4, 4, 2))
    >>> act.initialize(data.astype("float32"))
    >>> z = act.inverse(data.astype("float32"))
    >>> bool(abs(float(tf.reduce_mean(z))) < 1e-4), bool(act.is_initialized)
    (True, True)

    #### References

    [1]: Diederik P. Kingma, Prafulla Dhariwal. Glow: Generative Flow with
         Invertible 1x1 Convolutions. NeurIPS 2018. https://arxiv.org/abs/1807.03039
    """

    def __init__(
        self,
        num_channels: int,
        *,
        event_ndims: int = 3,
        epsilon: float = 1e-6,
        require_initialization: bool = False,
        dtype: DTypeLike = tf.float32,
        validate_args: bool = False,
        name: str | None = None,
    ):
        """Creates an ActNorm bijector.

        Args:
          num_channels: C, the size of the last axis.
          event_ndims: 3 for `[H, W, C]` images, 1 for `[C]` vectors.
          epsilon: added to the standard deviation at initialization, so a
            zero-variance channel gives `log_scale = log(epsilon)`, not `-inf`.
          require_initialization: if True, `forward`/`inverse` raise until
            `initialize` has run (eager and `tf.function`; XLA drops asserts).
          dtype: dtype of the weights and of accepted inputs.
          validate_args: check run-time invariants.
          name: name of the bijector and of its Keras weight layer.

        Raises:
          ValueError: for a non-positive `num_channels`, an `event_ndims` other
            than 1 or 3, a non-positive `epsilon`, or a non-floating `dtype`.
        """
        parameters = dict(locals())
        owner = "ActNorm"
        num_channels = checks.check_positive_int(num_channels, "num_channels", owner)
        if event_ndims not in (1, 3):
            raise ValueError(
                f"{owner}: argument `event_ndims` must be 3 (images [H, W, C]) or 1 "
                f"(vectors [C]); got {event_ndims!r}."
            )
        epsilon = checks.check_number(epsilon, "epsilon", owner, minimum=0.0)
        dtype = checks.check_dtype_arg(dtype, owner)
        with tf.name_scope(name or "act_norm") as name:
            self._num_channels = num_channels
            self._event_ndims = event_ndims
            self._epsilon = float(epsilon)
            self._require_initialization = bool(require_initialization)
            self._dtype_weights = tf.as_dtype(dtype)
            super().__init__(
                forward_min_event_ndims=event_ndims,
                is_constant_jacobian=False,
                validate_args=validate_args,
                parameters=parameters,
                dtype=None,
                name=name,
            )
            store = WeightStore(name=self.name.rstrip("/") or "act_norm", dtype=dtype)
            self._shift = store.add("shift", [num_channels], "zeros")
            self._log_scale = store.add("log_scale", [num_channels], "zeros")
            self._initialized = store.add(
                "initialized", [], "zeros", trainable=False, dtype="bool"
            )
            self._store = self._track_keras_layer(store)

    @property
    def num_channels(self) -> int:
        """C, the number of channels."""
        return self._num_channels

    @property
    def shift(self) -> keras.Variable:
        """The `shift` Keras weight, shape `[C]`."""
        return self._shift

    @property
    def log_scale(self) -> keras.Variable:
        """The `log_scale` Keras weight, shape `[C]`."""
        return self._log_scale

    @property
    def require_initialization(self) -> bool:
        """Strict mode: raise if `forward`/`inverse` run before `initialize`.

        Settable, e.g. for every ActNorm of a flow:
        `for a in flow.submodules: if isinstance(a, ActNorm):
        a.require_initialization = True`.
        """
        return self._require_initialization

    @require_initialization.setter
    def require_initialization(self, value: bool) -> None:
        self._require_initialization = bool(value)

    @property
    def is_initialized(self) -> tf.Tensor:
        """Boolean tensor: has `initialize` run (or been restored)?"""
        return tf.convert_to_tensor(self._initialized)

    def _event_spec(self):
        return [None] * (self._event_ndims - 1) + [self._num_channels]

    def _check(self, x, arg_name):
        checks.check_float_dtype(x, arg_name, "ActNorm", self._dtype_weights)
        checks.check_event(x, arg_name, "ActNorm", self._event_spec())

    def initialize(
        self, data: TensorLike, *, reduce_fn: ReduceFn | None = None
    ) -> None:
        """Sets `shift` and `log_scale` from data so `inverse(data)` is standardized.

        Args:
          data: float tensor `[N, ..., C]` of what reaches this bijector's
            inverse (for a flow, use `tfp_flows.flows.initialize_act_norms`).
          reduce_fn: optional `reduce_fn(sum_c, sum_sq_c, count)` returning the
            global sums, e.g. an all-reduce across replicas
            (`tfp_flows.flows.replica_sum`); default: this batch's own sums.
            Inside a `tf.distribute` replica context the weights are then
            written on every replica (through the strategy's `merge_call`), so
            each replica can initialize from its own shard and all of them
            end up with the statistics of the global batch.

        Raises:
          ValueError: for a wrong dtype or shape of `data`, an empty batch, or
            NaN/inf values (eagerly; nothing is written then). In a
            `tf.function` the same checks are assertions that run before the
            weights are written, so a failed check raises
            `InvalidArgumentError` and leaves the layer as it was. Under XLA
            (where assertions are dropped) invalid statistics are not written
            either: the weights and the `initialized` flag keep their values.
        """
        owner = f"ActNorm '{self.name}'.initialize"
        mean, log_scale, ok, assertions = self._statistics(data, reduce_fn, owner)
        with tf.control_dependencies(assertions):
            self._write_statistics(mean, log_scale, ok)

    def _statistics(self, data, reduce_fn, owner):
        """`(mean, log_scale, ok, assertions)` of `data`, checked (`initialize`).

        Eagerly a bad batch raises here; in a graph `assertions` must run
        before anything is written; under XLA (no assertions) `ok` is False
        for statistics that must not be written.
        """
        data = tf.convert_to_tensor(data)
        self._check(data, "data")
        if tf.executing_eagerly() and reduce_fn is None:
            self._check_data_values(data, owner)
        axes = list(range(data.shape.rank - 1))
        data = tf.cast(data, self._dtype_weights)
        count = tf.cast(tf.reduce_prod(tf.shape(data)[:-1]), data.dtype)
        total = tf.reduce_sum(data, axis=axes)
        total_sq = tf.reduce_sum(tf.square(data), axis=axes)
        if reduce_fn is not None:
            total, total_sq, count = reduce_fn(total, total_sq, count)
        mean = total / tf.maximum(count, 1.0)
        var = tf.maximum(total_sq / tf.maximum(count, 1.0) - tf.square(mean), 0.0)
        log_scale = tf.math.log(tf.sqrt(var) + self._epsilon)
        # What the weights get is checked before it is written: NaN/inf data
        # or an empty (global) batch must not leave non-finite weights behind
        # a flag that says "initialized".
        ok = tf.logical_and(
            count > 0,
            tf.reduce_all(tf.math.is_finite(mean))
            & tf.reduce_all(tf.math.is_finite(log_scale)),
        )
        if tf.executing_eagerly():
            if not bool(ok):
                raise ValueError(
                    f"{owner}: argument `data` gives no finite statistics "
                    f"(examples counted: {int(count)}): it is empty or holds NaN/inf "
                    "values; nothing was written."
                )
            assertions: list[tf.Operation] = []
        elif checks.in_xla_context():
            assertions = []
        else:
            assertions = [
                tf.debugging.Assert(
                    count > 0,
                    [f"{owner}: argument `data` is an empty batch (0 examples)."],
                ),
                tf.debugging.Assert(
                    ok,
                    [
                        f"{owner}: argument `data` contains NaN or inf values "
                        "(the statistics are not finite); nothing was written."
                    ],
                ),
            ]
        return mean, log_scale, ok, assertions

    def _write_statistics(self, mean, log_scale, ok):
        """Writes the statistics where `ok` (keeps the old values otherwise)."""
        old = [tf.convert_to_tensor(w) for w in (self._shift, self._log_scale)]
        _assign_on_every_replica(
            [self._shift, self._log_scale, self._initialized],
            [
                tf.where(ok, mean, old[0]),
                tf.where(ok, log_scale, old[1]),
                tf.logical_or(ok, tf.convert_to_tensor(self._initialized)),
            ],
        )

    @staticmethod
    def _check_data_values(data, owner):
        """Eager ValueError naming what is wrong with `data` (empty, NaN, inf)."""
        n = int(tf.reduce_prod(tf.shape(data)[:-1]))
        if n == 0:
            raise ValueError(
                f"{owner}: argument `data` is an empty batch (shape "
                f"{checks.shape_str(data.shape)}); it needs at least one example."
            )
        finite = tf.math.is_finite(data)
        if not bool(tf.reduce_all(finite)):
            bad = int(tf.reduce_sum(tf.cast(tf.logical_not(finite), tf.int32)))
            nan = int(tf.reduce_sum(tf.cast(tf.math.is_nan(data), tf.int32)))
            raise ValueError(
                f"{owner}: argument `data` (shape {checks.shape_str(data.shape)}) "
                f"contains {bad} non-finite value(s) ({nan} NaN, {bad - nan} inf); "
                "nothing was written."
            )

    def _assertions(self):
        if not (self._require_initialization or self.validate_args):
            return []
        out = []
        if self._require_initialization:
            out.append(
                tf.debugging.Assert(
                    self.is_initialized,
                    [
                        "ActNorm '" + self.name + "' is used before "
                        "initialize(data) (require_initialization=True)."
                    ],
                )
            )
        if self.validate_args:
            out.append(
                tf.debugging.assert_all_finite(
                    tf.convert_to_tensor(self._log_scale), "ActNorm log_scale"
                )
            )
        return out

    def _ldj(self, x):
        log_scale = tf.convert_to_tensor(self._log_scale)
        total = tf.reduce_sum(log_scale)
        nd = self._event_ndims
        if nd == 3:
            shape = tf.shape(x)
            total = total * tf.cast(shape[-3] * shape[-2], x.dtype)
        # Broadcast to the batch shape without reducing over x.
        return tf.zeros_like(x[(Ellipsis,) + (0,) * nd]) + total

    def _forward_and_log_det(self, x):
        self._check(x, "x")
        with tf.control_dependencies(self._assertions()):
            y = x * tf.exp(tf.convert_to_tensor(self._log_scale)) + self._shift
        return y, self._ldj(x)

    def _inverse_and_log_det(self, y):
        self._check(y, "y")
        with tf.control_dependencies(self._assertions()):
            x = (y - self._shift) * tf.exp(-tf.convert_to_tensor(self._log_scale))
        return x, -self._ldj(y)


def _assign_on_every_replica(weights, values):
    """`w.assign(v)` for each pair, also from inside a replica context.

    A variable created under a `tf.distribute` strategy (a mirrored variable)
    cannot be assigned from a replica context without an aggregation mode, and
    Keras creates its weights without one. When the values are the same on
    every replica (statistics that went through an all-reduce), the update is
    made once per replica device through `merge_call` +
    `strategy.extended.update`, each device writing its own (identical) value.
    Outside a strategy, or in its cross-replica context, it is a plain assign.
    """
    if not tf.distribute.has_strategy() or tf.distribute.in_cross_replica_context():
        for w, v in zip(weights, values, strict=True):
            w.assign(v)
        return

    def merge_fn(strategy, tf_vars, vals):
        for var, val in zip(tf_vars, vals, strict=True):
            strategy.extended.update(var, lambda t, x: t.assign(x), args=(val,))

    tf_vars = [as_tf_variable(w) for w in weights]
    tf.distribute.get_replica_context().merge_call(merge_fn, args=(tf_vars, values))
