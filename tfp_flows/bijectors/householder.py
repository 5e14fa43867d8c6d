"""Householder: a product of K reflections (Tomczak & Welling 2016)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfp_flows.bijectors.base import FusedBijector
from tfp_flows.internal import checks
from tfp_flows.internal.checks import shape_str
from tfp_flows.internal.keras import WeightStore
from tfp_flows.internal.types import DTypeLike
from tfp_flows.internal.types import TensorLike

__all__ = ["Householder", "reflect"]


def reflect(x: TensorLike, v: TensorLike) -> tf.Tensor:
    """`H(v) x = x - 2 v (v^T x) / ||v||^2` on the last axis, safe for any `v`.

    `H(v)` depends on the direction of `v` only (`H(c v) = H(v)` for `c != 0`),
    so `v` is first divided by its largest absolute entry: the rescaled
    `u = v / max_i |v_i|` has `1 <= ||u||^2 <= D`, and the squared norm neither
    underflows for tiny `v` (`||v||^2` of `1e-25` is 0 in float32) nor
    overflows for huge `v`. The result is then the exact reflection for every
    `v != 0`. At `v = 0`, where the direction is undefined, `H` is the identity
    (still orthogonal, `log|det| = 0`, its own inverse), with finite (zero)
    gradients: both branches are computed on safe values (no `0/0` whose
    gradient would be NaN). Entries below the smallest normal float (about
    `1e-38` in float32) may be flushed to 0 by the CPU, which makes such a
    `v` the `v = 0` case.

    No epsilon is added to `||v||^2`: `I - 2 v v^T / (||v||^2 + eps)` has the
    eigenvalue `1 - 2 ||v||^2 / (||v||^2 + eps) != -1` along `v`, so it would
    be neither orthogonal (log-det not 0) nor its own inverse.

    Args:
      x: `[..., D]`.
      v: `[..., D]`, broadcastable with `x`.

    Returns:
      `H(v) x`, of the broadcast shape.
    """
    x = tf.convert_to_tensor(x)
    v = tf.convert_to_tensor(v, dtype=x.dtype)
    m = tf.reduce_max(tf.abs(v), axis=-1, keepdims=True)
    zero = tf.equal(m, 0.0)
    u = v / tf.where(zero, tf.ones_like(m), m)
    norm_sq = tf.reduce_sum(u * u, axis=-1, keepdims=True)
    safe_norm_sq = tf.where(zero, tf.ones_like(norm_sq), norm_sq)
    coef = 2.0 * tf.reduce_sum(u * x, axis=-1, keepdims=True) / safe_norm_sq
    return x - tf.where(zero, tf.zeros_like(coef), coef) * u


class Householder(FusedBijector):
    """Householder flow (Tomczak & Welling 2016, section 3): `K` reflections.

        y = H_K ... H_2 H_1 x,   H_k = I - 2 v_k v_k^T / ||v_k||^2
        x = H_1 H_2 ... H_K y    (each H_k is symmetric and its own inverse)
        log|det dy/dx| = 0       (every H_k is orthogonal, det H_k = -1)

    `z_t = H_t z_{t-1}` is the paper's step; a product of `K = D` reflections
    can be any orthogonal `D x D` matrix, so `K > D` adds nothing (it is
    allowed). The flow is volume preserving: the density only moves, and a
    product of reflections applied to a standard normal gives the same
    standard normal. Its use is to rotate something that is not rotation
    invariant: a diagonal Gaussian (the paper's VAE posterior, which becomes a
    full-covariance Gaussian), or a learned scale (`flows.householder_flow`).

    The vectors `v_k` are either

    * the bijector's own Keras 3 weight `vectors` `[K, D]` (default; initial
      entries standard normal from `seed`), or
    * given per example, amortized: `vectors=` a tensor `[..., K, D]` whose
      batch shape broadcasts against the input's (the VAE posterior's, from
      the encoder as the paper does: `tfp_flows.vae.HouseholderPosterior`);
      the bijector then has no weights of its own, and gradients flow to
      whatever made the tensor.

    `v` near 0 is handled on purpose (see `reflect`): `v` is rescaled by its
    largest entry before the squared norm, so tiny and huge vectors give the
    exact reflection, and `v = 0` gives the identity with finite gradients.
    Near 0 the direction, and so the gradient with respect to `v`, changes as
    fast as `1 / ||v||` (a property of the reflection, not of the code).

    Args:
      event_size: D.
      num_reflections: K >= 1.
      vectors: None for own weights, or a float tensor `[..., K, D]`.
      seed: integer seed of the initial weights (own weights only).
      dtype: dtype of the weights and of accepted inputs (with `vectors`, the
        tensor is converted to it).
      validate_args: check inputs and vectors for NaN/Inf.
      name: bijector name.

    Raises:
      ValueError: bad `event_size` or `num_reflections`; `vectors` not of
        shape `[..., K, D]` (naming the expected and received shapes), not
        floating or not finite; inputs not `[..., D]` or of another dtype;
        input batch shapes that do not match the vectors'.

    #### Examples

    >>> hh = Householder(3, num_reflections=2, seed=1)
    >>> x = tf.constant([[0.5, -1.0, 0.2], [2.0, 0.3, -0.7]])
    >>> y = hh.forward(x)
    >>> bool(tf.reduce_all(tf.abs(hh.inverse(tf.identity(y)) - x) < 1e-6))
    True
    >>> float(tf.reduce_max(tf.abs(tf.norm(y, axis=-1) - tf.norm(x, axis=-1)))) < 1e-6
    True
    >>> hh.forward_log_det_jacobian(x, event_ndims=1).numpy()
    array([0., 0.], dtype=float32)
    >>> per_example = Householder(3, num_reflections=2, vectors=tf.ones([2, 2, 3]))
    >>> per_example.forward(x).shape
    TensorShape([2, 3])

    #### References

    Jakub M. Tomczak, Max Welling. Improving Variational Auto-Encoders using
    Householder Flow. NIPS 2016 Workshop on Bayesian Deep Learning.
    https://arxiv.org/abs/1611.09630
    """

    _owner = "Householder"

    def __init__(
        self,
        event_size: int,
        num_reflections: int = 1,
        *,
        vectors: TensorLike | None = None,
        seed: int = 0,
        dtype: DTypeLike = tf.float32,
        validate_args: bool = False,
        name: str | None = None,
    ):
        parameters = dict(locals())
        owner = self._owner
        self._event_size = checks.check_positive_int(event_size, "event_size", owner)
        self._num_reflections = checks.check_positive_int(
            num_reflections, "num_reflections", owner
        )
        self._seed = checks.check_seed(seed, owner)
        self._weight_dtype = checks.check_dtype_arg(dtype, owner)
        self._given = self._check_vectors(vectors, validate_args)
        with tf.name_scope(name or "householder") as name:
            super().__init__(
                forward_min_event_ndims=1,
                is_constant_jacobian=True,
                validate_args=validate_args,
                parameters=parameters,
                dtype=self._weight_dtype,
                name=name,
            )
        self._store: WeightStore | None = None
        if self._given is None:
            k, d = self._num_reflections, self._event_size
            rng = np.random.default_rng(self._seed)
            store = WeightStore(
                name=self.name.rstrip("/") or "householder", dtype=self._weight_dtype
            )
            store.add("vectors", [k, d], rng.normal(size=[k, d]))
            self._store = self.track_keras_layer(store)

    def _check_vectors(self, vectors, validate_args):
        owner = self._owner
        if vectors is None:
            return None
        k, d = self._num_reflections, self._event_size
        v = tf.convert_to_tensor(vectors, dtype_hint=self._weight_dtype)
        checks.check_float_dtype(v, "vectors", owner, dtype=self._weight_dtype)
        shape = v.shape
        if shape.rank is not None and (
            shape.rank < 2 or shape[-2] not in (None, k) or shape[-1] not in (None, d)
        ):
            raise ValueError(
                f"{owner}: argument `vectors` must have shape [..., {k}, {d}] "
                f"([..., num_reflections, event_size] with num_reflections={k}, "
                f"event_size={d}); got shape {shape_str(shape)}."
            )
        message = (
            f"{owner}: argument `vectors` (shape {shape_str(shape)}) contains "
            "NaN or Inf."
        )
        if tf.executing_eagerly():
            if not bool(tf.reduce_all(tf.math.is_finite(v))):
                raise ValueError(message)
        elif validate_args:
            v = tf.debugging.assert_all_finite(v, message)
        return v

    @property
    def event_size(self) -> int:
        """D, the size of the event."""
        return self._event_size

    @property
    def num_reflections(self) -> int:
        """K, the number of reflections."""
        return self._num_reflections

    @property
    def is_amortized(self) -> bool:
        """Whether the vectors were given (`vectors=`) rather than own weights."""
        return self._given is not None

    @property
    def weight_store(self) -> WeightStore | None:
        """The Keras 3 layer owning the weight `vectors` (None when amortized)."""
        return self._store

    def reflection_vectors(self) -> tf.Tensor:
        """The vectors `v_1 ... v_K` as a tensor `[..., K, D]` (`[K, D]` if own)."""
        if self._given is not None:
            return self._given
        assert self._store is not None
        return tf.convert_to_tensor(self._store.weights[0])

    def matrix(self) -> tf.Tensor:
        """The orthogonal matrix `Q = H_K ... H_1` (`y = Q x`): `[..., D, D]`."""
        eye = tf.eye(self._event_size, dtype=self._weight_dtype)
        v = self.reflection_vectors()
        # Row i of forward(I) is Q e_i, i.e. column i of Q.
        cols = self._apply(eye[..., :, :], v[..., None, :, :], reverse=False)
        return tf.linalg.matrix_transpose(cols)

    # -- math ----------------------------------------------------------------
    def _check_input(self, x, arg_name):
        owner = self._owner
        checks.check_float_dtype(x, arg_name, owner, dtype=self._weight_dtype)
        checks.check_event(x, arg_name, owner, [self._event_size])
        v = self._given
        if v is not None and v.shape.rank not in (None, 2) and x.shape.rank is not None:
            xb, vb = x.shape.as_list()[:-1], v.shape.as_list()[:-2]
            ok = len(vb) <= len(xb) and all(
                a is None or b is None or a == b or b == 1
                for a, b in zip(xb[len(xb) - len(vb) :], vb, strict=True)
            )
            if not ok:
                raise ValueError(
                    f"{owner}: argument `{arg_name}` has batch shape "
                    f"{shape_str(xb)}, which does not match the batch shape "
                    f"{shape_str(vb)} of the given `vectors` (shape "
                    f"{shape_str(v.shape)}); the vectors' batch shape must be a "
                    "suffix of the input's."
                )
        return x

    def _apply(self, x, v, *, reverse):
        k = self._num_reflections
        order = range(k - 1, -1, -1) if reverse else range(k)
        for i in order:
            x = reflect(x, v[..., i, :])
        return x

    def _ldj(self, x):
        # Zero, with the batch shape of the input broadcast against the vectors'.
        zero = tf.zeros_like(x[..., 0])
        if self._given is not None:
            zero = zero + tf.zeros_like(self._given[..., 0, 0])
        return zero

    def _forward_and_log_det(self, x):
        x = self._check_input(x, "x")
        y = self._apply(x, self.reflection_vectors(), reverse=False)
        return y, self._ldj(x)

    def _inverse_and_log_det(self, y):
        y = self._check_input(y, "y")
        x = self._apply(y, self.reflection_vectors(), reverse=True)
        return x, self._ldj(y)
