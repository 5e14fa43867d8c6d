"""Invertible 1x1 convolution: learned C x C channel mixing (Glow)."""

from __future__ import annotations

import numpy as np
import scipy.linalg
import tensorflow as tf

from tfp_flows.bijectors.base import FusedBijector
from tfp_flows.internal import checks
from tfp_flows.internal.keras import WeightStore
from tfp_flows.internal.types import DTypeLike
from tfp_flows.internal.types import TensorLike

__all__ = ["Invertible1x1Conv"]


def random_rotation(num_channels, seed):
    """A random orthogonal matrix with determinant +1 (numpy, seeded)."""
    rng = np.random.RandomState(seed)
    q, r = np.linalg.qr(rng.normal(size=(num_channels, num_channels)))
    q = q * np.sign(np.diag(r))[None, :]  # Haar-distributed
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def _logabsdet(w):
    """log|det w| = sum log|diag(R)| of a QR factorization.

    `tf.linalg.slogdet` and the LU op have no XLA CPU kernel; QR has one and a
    registered gradient, so this works eagerly, in graphs and under XLA.
    """
    _, r = tf.linalg.qr(w)
    return tf.reduce_sum(tf.math.log(tf.abs(tf.linalg.diag_part(r))))


def _unit_triangular_inverse(strict):
    """`(I + N)^{-1}` for strictly triangular `N`, without a solve.

    `N` is nilpotent (`N^C = 0`), so `(I + N)^{-1} = sum_k (-N)^k`, and the sum
    factors as `(I - N)(I + N^2)(I + N^4)...` with ceil(log2 C) factors:
    a few C x C matmuls. XLA compiles `triangular_solve` into while loops that
    cost milliseconds per `log_prob` call; this compiles into plain dots.
    """
    c = strict.shape[-1]
    eye = tf.eye(c, dtype=strict.dtype)
    result = eye - strict
    power = strict
    k = 2
    while k < c:
        power = power @ power  # N^k
        result = result @ (eye + power)
        k *= 2
    return result


def lu_factors(
    lower_upper: TensorLike,
    log_s: TensorLike,
    sign_s: TensorLike,
    permutation: TensorLike,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """`(P, L, U, log_s)` of Glow's LU form `W = P L (U + diag(sign_s exp(log_s)))`.

    `lower_upper` holds L's strict lower and U's strict upper triangle (its
    diagonal is unused); `L` gets a unit diagonal. Works on one `[C, C]`
    matrix or a stack `[K, C, C]` (with `log_s`, `sign_s` `[K, C]`), as
    `GlowSteps` holds them.
    """
    lu = tf.convert_to_tensor(lower_upper)
    eye = tf.eye(tf.shape(lu)[-1], dtype=lu.dtype)
    lower = tf.linalg.band_part(lu, -1, 0) - tf.linalg.band_part(lu, 0, 0) + eye
    log_s = tf.convert_to_tensor(log_s)
    upper = (
        tf.linalg.band_part(lu, 0, -1)
        - tf.linalg.band_part(lu, 0, 0)
        + tf.linalg.diag(tf.convert_to_tensor(sign_s) * tf.exp(log_s))
    )
    return tf.convert_to_tensor(permutation), lower, upper, log_s


class Invertible1x1Conv(FusedBijector):
    """Invertible 1x1 convolution (Glow, Kingma & Dhariwal 2018, section 3.2).

    Mixes the channels of `[..., H, W, C]` images with a learned matrix `W`.
    Written, like `AffineCoupling`, in the data-to-latent direction (the
    bijector's `inverse`, the one `log_prob` uses), exactly as Glow's encoder:

        inverse:  z[h, w, :] = W @ x[h, w, :]
                  log|det J_inverse| = H * W * log|det W|
        forward:  x[h, w, :] = W^{-1} @ z[h, w, :]   (sampling)

    So density evaluation and training never invert a matrix; only sampling
    does (TFP's `tfb.Glow` makes the same choice).

    Two parameterizations:

    * `lu_decomposition=False` (plain): `W` is one trainable `C x C` weight;
      the log-det uses `slogdet(W)` and sampling `W^{-1}`.
    * `lu_decomposition=True` (default, Glow's LU form):
      `W = P @ L @ (U + diag(sign_s * exp(log_s)))`, with `P` a fixed
      permutation, `L` unit lower triangular, `U` strictly upper triangular and
      `sign_s` fixed; log-det `H * W * sum(log_s)`. Sampling uses
      `W^{-1} = U'^{-1} L^{-1} P^T` from the triangular factors, never a
      general inverse: each triangular inverse is the finite series of a
      nilpotent matrix, a few C x C matmuls (XLA turns `triangular_solve`
      into loops).

    Both start from a random rotation (seeded), so `log|det W| = 0` at init.

    A singular `W` (plain form) gives an infinite log-det; with
    `validate_args=True` `forward`/`inverse` raise `InvalidArgumentError`
    instead. In the LU form `W` is singular only if `exp(log_s)` underflows to
    0, which `validate_args` also catches.

    #### Examples

    >>> conv = Invertible1x1Conv(3, seed=0)
    >>> x = tf.random.stateless_normal([2, 4, 4, 3], seed=[1, 2])
    >>> z = conv.inverse(x)  # z = W x, per pixel
    >>> w = conv.weight_matrix()
    >>> bool(tf.reduce_max(tf.abs(z - tf.einsum("ij,nhwj->nhwi", w, x))) < 1e-5)
    True
    >>> bool(tf.reduce_max(tf.abs(conv.forward(tf.identity(z)) - x)) < 1e-5)
    True

    #### References

    [1]: Diederik P. Kingma, Prafulla Dhariwal. Glow: Generative Flow with
         Invertible 1x1 Convolutions. NeurIPS 2018. https://arxiv.org/abs/1807.03039
    """

    def __init__(
        self,
        num_channels: int,
        *,
        lu_decomposition: bool = True,
        seed: int | None = None,
        dtype: DTypeLike = tf.float32,
        validate_args: bool = False,
        name: str | None = None,
    ):
        """Creates the bijector.

        Args:
          num_channels: C.
          lu_decomposition: use the LU parameterization (default) or a plain
            matrix.
          seed: integer seed of the random-rotation initialization.
          dtype: dtype of the weights and accepted inputs.
          validate_args: raise on a singular `W` at run time.
          name: name.

        Raises:
          ValueError: for a non-positive `num_channels`, a `seed` that is not
            None or a non-negative integer, or a non-floating `dtype`.
        """
        parameters = dict(locals())
        owner = "Invertible1x1Conv"
        c = checks.check_positive_int(num_channels, "num_channels", owner)
        seed = checks.check_seed(seed, owner, allow_none=True)
        dtype = checks.check_dtype_arg(dtype, owner)
        with tf.name_scope(name or "invertible_1x1_conv") as name:
            self._num_channels = c
            self._lu = bool(lu_decomposition)
            self._dtype_weights = tf.as_dtype(dtype)
            super().__init__(
                forward_min_event_ndims=3,
                is_constant_jacobian=False,
                validate_args=validate_args,
                parameters=parameters,
                dtype=None,
                name=name,
            )
        # numpy's RandomState takes seeds < 2**32 (builders derive large ones).
        w0 = random_rotation(
            c, seed % 2**32 if seed is not None else np.random.randint(2**31)
        )
        store = WeightStore(name=self.name.rstrip("/"), dtype=dtype)
        if self._lu:
            p, lower, upper = scipy.linalg.lu(w0)
            s = np.diag(upper)
            self._permutation = store.add("permutation", [c, c], p, trainable=False)
            self._sign_s = store.add("sign_s", [c], np.sign(s), trainable=False)
            self._lower_upper = store.add(
                "lower_upper", [c, c], np.tril(lower, -1) + np.triu(upper, 1)
            )
            self._log_s = store.add("log_s", [c], np.log(np.abs(s)))
        else:
            self._kernel = store.add("kernel", [c, c], w0)
        self._store = self._track_keras_layer(store)

    @property
    def num_channels(self) -> int:
        """The number of channels `C` of the `[..., H, W, C]` event."""
        return self._num_channels

    @property
    def lu_decomposition(self) -> bool:
        """Whether the kernel is held as `P L (U + diag(s))` (Glow's LU form)."""
        return self._lu

    def _lu_factors(self):
        return lu_factors(
            self._lower_upper, self._log_s, self._sign_s, self._permutation
        )

    def weight_matrix(self) -> tf.Tensor:
        """The current `C x C` matrix `W` (a tensor)."""
        if self._lu:
            p, lower, upper, _ = self._lu_factors()
            return p @ lower @ upper
        return tf.convert_to_tensor(self._kernel)

    def _assertions(self):
        if not self.validate_args:
            return []
        msg = (
            f"Invertible1x1Conv '{self.name}': the weight matrix W is singular "
            "(log|det W| is not finite)."
        )
        if self._lu:
            s = tf.exp(tf.convert_to_tensor(self._log_s))
            return [tf.debugging.assert_positive(s, message=msg)]
        logabsdet = _logabsdet(tf.convert_to_tensor(self._kernel))
        return [tf.debugging.assert_all_finite(logabsdet, msg)]

    def _inverse_matrix(self):
        """`(W^{-1}, log|det W|)`: the matrix sampling applies."""
        if self._lu:
            p, lower, upper, log_s = self._lu_factors()
            w = p @ lower @ upper
            # W^{-1} = U'^{-1} L^{-1} P^T with L = I + N_L and
            # U' = D (I + D^{-1} N_U): both inverses are nilpotent series.
            eye = tf.eye(self._num_channels, dtype=w.dtype)
            inv_d = tf.exp(-log_s) * tf.convert_to_tensor(self._sign_s)
            strict_upper = upper - tf.linalg.diag(tf.linalg.diag_part(upper))
            # Both series in one batch of 2 matrices: half the (tiny) dots,
            # and XLA's per-op overhead dominates at these sizes.
            both = _unit_triangular_inverse(
                tf.stack([lower - eye, inv_d[:, None] * strict_upper])
            )
            lower_inv, upper_inv = both[0], both[1] * inv_d[None, :]
            w_inv = upper_inv @ lower_inv @ tf.transpose(p)
            # One Newton-Schulz step, X <- X (2I - W X), squares the rounding
            # error the series accumulates for larger C in float32.
            w_inv = w_inv @ (2.0 * eye - w @ w_inv)
            return w_inv, tf.reduce_sum(log_s)
        w = tf.convert_to_tensor(self._kernel)
        return tf.linalg.inv(w), _logabsdet(w)

    def _matrix(self):
        """`(W, log|det W|)`: the matrix density evaluation applies."""
        return self.weight_matrix(), self._logdet()

    def _check(self, x, arg_name):
        checks.check_float_dtype(x, arg_name, "Invertible1x1Conv", self._dtype_weights)
        checks.check_event(
            x, arg_name, "Invertible1x1Conv", [None, None, self._num_channels]
        )

    def _apply(self, x, matrix, logdet, sign):
        shape = tf.shape(x)
        c = self._num_channels
        # One matmul over all pixels: y_flat = x_flat @ M^T.
        y = tf.matmul(tf.reshape(x, [-1, c]), matrix, transpose_b=True)
        return tf.reshape(y, shape), self._per_image(x, logdet, sign)

    @staticmethod
    def _per_image(t, logdet, sign):
        """`sign * H * W * logdet`, one value per image of `t`."""
        shape = tf.shape(t)
        ldj = sign * logdet * tf.cast(shape[-3] * shape[-2], t.dtype)
        return tf.zeros_like(t[..., 0, 0, 0]) + ldj

    def _logdet(self):
        if self._lu:
            return tf.reduce_sum(tf.convert_to_tensor(self._log_s))
        return _logabsdet(tf.convert_to_tensor(self._kernel))

    def _ldj_only(self, t, arg_name, sign):
        # The log-det needs only `t`'s shape, never the matrix inverse (so a
        # singular plain `W` gives an infinite log-det rather than an error).
        self._check(t, arg_name)
        with tf.control_dependencies(self._assertions()):
            return self._per_image(t, self._logdet(), sign)

    def _forward_log_det_jacobian(self, x):
        return self._ldj_only(x, "x", -1.0)

    def _inverse_log_det_jacobian(self, y):
        return self._ldj_only(y, "y", 1.0)

    def _forward_and_log_det(self, x):
        self._check(x, "x")
        with tf.control_dependencies(self._assertions()):
            w_inv, logdet = self._inverse_matrix()
            return self._apply(x, w_inv, logdet, -1.0)

    def _inverse_and_log_det(self, y):
        self._check(y, "y")
        with tf.control_dependencies(self._assertions()):
            w, logdet = self._matrix()
            return self._apply(y, w, logdet, 1.0)
