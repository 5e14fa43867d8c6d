"""SylvesterFlow: Householder Sylvester normalizing flow (van den Berg et al. 2018)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfp_flows.bijectors._amortized import AmortizedBijector
from tfp_flows.bijectors._amortized import solve_tanh_equation
from tfp_flows.internal import checks
from tfp_flows.internal.keras import WeightStore
from tfp_flows.internal.types import DTypeLike
from tfp_flows.internal.types import TensorLike

__all__ = ["SylvesterFlow"]


class SylvesterFlow(AmortizedBijector):
    """Householder Sylvester flow (van den Berg et al. 2018, sections 2-3).

        y = x + Q R tanh(R~ Q^T x + b)
        log|det dy/dx| = sum_i log|1 + R_ii R~_ii tanh'((R~ Q^T x + b)_i)|

    `Q = H_1 H_2 ... H_K` is a product of `K` Householder reflections
    `H_k = I - 2 v_k v_k^T / ||v_k||^2` (orthogonal, `D x D`), `R` and `R~` are
    upper triangular with diagonals `tanh(raw)`, so `R_ii R~_ii > -1` and,
    since `0 < tanh' <= 1`, the map is invertible for any raw parameters
    (the paper's sufficient condition `R_ii R~_ii > -1 / ||h'||_inf`).

    The log-det is Sylvester's identity: `det(I + Q R D R~ Q^T) =
    det(I + D R~ R)`, and `D R~ R` is upper triangular with diagonal
    `tanh'_i R~_ii R_ii`.

    The inverse is numerical (iterative, to float tolerance; the paper gives
    none): with `v = Q^T x` and `t = Q^T y`, `t = v + R tanh(R~ v + b)`
    is upper triangular in `v`, so it is solved by back substitution,
    `i = D-1, ..., 0`: each `v_i` solves the monotone scalar equation

        v_i + R_ii tanh(R~_ii v_i + s_i) = t_i - sum_{j>i} R_ij tanh(a_j),
        s_i = b_i + sum_{k>i} R~_ik v_k,

    by the bracketed Newton/bisection of `PlanarFlow`, in a `tf.while_loop` of
    `D` steps (XLA-compilable). Then `x = Q v`.

    Parameters are Keras 3 weights (`r1_upper`, `r2_upper` `[D(D-1)/2]`,
    `r1_diag`, `r2_diag`, `b` `[D]`, `householder` `[K, D]`) or amortized from
    a context vector with `context_size=C` (see `PlanarFlow`).

    Args:
      event_size: D.
      num_householder: K, the number of reflections (default D).
      context_size: C for amortized parameters, or None for own weights.
      context: a context `[C]` or `[..., C]` to bind (amortized only).
      init_scale: std of the normal initial triangular entries.
      seed: integer seed of the initial weights.
      weight_store: share another `SylvesterFlow`'s weights (its
        `weight_store`); None creates new weights.
      dtype: weight dtype.
      validate_args: check inputs and parameters for NaN/Inf.
      name: bijector name.

    Raises:
      ValueError: bad sizes, a bad or non-finite context, inputs not `[..., D]`.

    #### Examples

    >>> flow = SylvesterFlow(3, seed=1)
    >>> x = tf.constant([[0.5, -1.0, 0.2], [2.0, 0.3, -0.7]])
    >>> y = flow.forward(x)
    >>> bool(tf.reduce_all(tf.abs(flow.inverse(tf.identity(y)) - x) < 1e-4))
    True

    #### References

    Rianne van den Berg, Leonard Hasenclever, Jakub M. Tomczak, Max Welling.
    Sylvester Normalizing Flows for Variational Inference. UAI 2018.
    https://arxiv.org/abs/1803.05649
    """

    _owner = "SylvesterFlow"

    def __init__(
        self,
        event_size: int,
        *,
        num_householder: int | None = None,
        context_size: int | None = None,
        context: TensorLike | None = None,
        init_scale: float = 0.1,
        seed: int = 0,
        weight_store: WeightStore | None = None,
        dtype: DTypeLike = tf.float32,
        validate_args: bool = False,
        name: str | None = None,
    ):
        parameters = dict(locals())
        self._init_scale = checks.check_number(
            init_scale, "init_scale", self._owner, minimum=0.0, strict=False
        )
        self._seed = checks.check_seed(seed, self._owner)
        self._init_common(event_size, context_size, context, dtype)
        d = self._event_size
        self._num_householder = checks.check_positive_int(
            d if num_householder is None else num_householder,
            "num_householder",
            self._owner,
        )
        with tf.name_scope(name or "sylvester_flow") as name:
            super().__init__(
                forward_min_event_ndims=1,
                is_constant_jacobian=False,
                validate_args=validate_args,
                parameters=parameters,
                dtype=self._weight_dtype,
                name=name,
            )
        k, n_up = self._num_householder, d * (d - 1) // 2
        rng = np.random.default_rng(self._seed)
        # Index map: entry (i, j), j > i, of a strictly upper triangle -> 1 + its
        # position in the packed vector; 0 (a zero pad) elsewhere.
        idx = np.zeros([d, d], np.int32)
        rows, cols = np.triu_indices(d, k=1)
        idx[rows, cols] = np.arange(1, n_up + 1)
        self._upper_index = idx
        specs = {}
        if n_up:
            specs["r1_upper"] = ([n_up], rng.normal(scale=init_scale, size=[n_up]))
            specs["r2_upper"] = ([n_up], rng.normal(scale=init_scale, size=[n_up]))
        specs["r1_diag"] = ([d], rng.uniform(-0.5, 0.5, size=[d]))
        specs["r2_diag"] = ([d], rng.uniform(-0.5, 0.5, size=[d]))
        specs["b"] = ([d], np.zeros([d]))
        specs["householder"] = ([k, d], rng.normal(size=[k, d]))
        self._setup_parameters(specs, store=weight_store)

    @property
    def num_householder(self) -> int:
        """K, the number of Householder reflections in Q."""
        return self._num_householder

    # -- parameters ----------------------------------------------------------
    def _triangular(self, upper, diag):
        """Upper-triangular `[..., D, D]` from packed strict upper and raw diagonal."""
        d = self._event_size
        diag = tf.tanh(diag)
        if upper is None:
            return tf.linalg.diag(diag)
        padded = tf.concat([tf.zeros_like(upper[..., :1]), upper], axis=-1)
        strict = tf.reshape(
            tf.gather(padded, self._upper_index.reshape(-1), axis=-1),
            tf.concat([tf.shape(upper)[:-1], [d, d]], 0),
        )
        return strict + tf.linalg.diag(diag)

    def constrained_parameters(
        self,
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
        """`(r1, r2, b, householder)`, batch dims first.

        Shapes: upper-triangular `[D, D]` twice, `[D]`, `[K, D]`.
        """
        p = self._params()
        r1 = self._triangular(p.get("r1_upper"), p["r1_diag"])
        r2 = self._triangular(p.get("r2_upper"), p["r2_diag"])
        return r1, r2, p["b"], p["householder"]

    @staticmethod
    def _reflect(x, v):
        """`H x = x - 2 v (v^T x) / ||v||^2`, batched over leading dims."""
        coef = tf.math.divide_no_nan(
            2.0 * tf.reduce_sum(v * x, axis=-1), tf.reduce_sum(v * v, axis=-1)
        )
        return x - coef[..., None] * v

    def _q_transpose(self, x, hh):
        # Q^T = H_K ... H_1 (each H_k symmetric): apply H_1 first.
        for k in range(self._num_householder):
            x = self._reflect(x, hh[..., k, :])
        return x

    def _q(self, x, hh):
        for k in reversed(range(self._num_householder)):
            x = self._reflect(x, hh[..., k, :])
        return x

    # -- hooks ---------------------------------------------------------------
    def _forward_and_log_det(self, x):
        x = self._check_input(x, "x")
        r1, r2, b, hh = self.constrained_parameters()
        v = self._q_transpose(x, hh)
        th = tf.tanh(tf.linalg.matvec(r2, v) + b)
        y = x + self._q(tf.linalg.matvec(r1, th), hh)
        diag = tf.linalg.diag_part(r1) * tf.linalg.diag_part(r2)
        return y, tf.reduce_sum(tf.math.log1p(diag * (1.0 - th * th)), axis=-1)

    def _inverse_and_log_det(self, y):
        y = self._check_input(y, "y")
        r1, r2, b, hh = self.constrained_parameters()
        d = self._event_size
        t = self._q_transpose(y, hh)
        shape = tf.shape(t)
        r1 = tf.broadcast_to(r1, tf.concat([shape, [d]], 0))
        r2 = tf.broadcast_to(r2, tf.concat([shape, [d]], 0))
        b = tf.broadcast_to(b, shape)
        dtype = t.dtype

        def body(step, v, th):
            i = d - 1 - step
            onehot = tf.one_hot(i, d, dtype=dtype)
            row1 = tf.gather(r1, i, axis=-2)  # [..., D]
            row2 = tf.gather(r2, i, axis=-2)
            p = tf.gather(row1, i, axis=-1)
            q = tf.gather(row2, i, axis=-1)
            # Unknown entries of v and th are still 0, and the diagonal terms
            # are excluded because v_i, th_i are 0 too.
            rhs = tf.gather(t, i, axis=-1) - tf.reduce_sum(row1 * th, axis=-1)
            s = tf.gather(b, i, axis=-1) + tf.reduce_sum(row2 * v, axis=-1)
            v_i = solve_tanh_equation(rhs, p, q, s)
            v = v + v_i[..., None] * onehot
            th = th + tf.tanh(q * v_i + s)[..., None] * onehot
            return step + 1, v, th

        _, v, th = tf.while_loop(
            lambda step, *_: step < d,
            body,
            (tf.constant(0), tf.zeros_like(t), tf.zeros_like(t)),
            maximum_iterations=d,
        )
        x = self._q(v, hh)
        diag = tf.linalg.diag_part(r1) * tf.linalg.diag_part(r2)
        return x, -tf.reduce_sum(tf.math.log1p(diag * (1.0 - th * th)), axis=-1)
