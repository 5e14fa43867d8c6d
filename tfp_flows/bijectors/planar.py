"""PlanarFlow: `y = x + u_hat * h(w^T x + b)` with an exact batched inverse."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfp_flows.bijectors._amortized import AmortizedBijector
from tfp_flows.bijectors._amortized import solve_tanh_equation
from tfp_flows.internal import checks
from tfp_flows.internal.keras import WeightStore
from tfp_flows.internal.types import DTypeLike
from tfp_flows.internal.types import TensorLike

__all__ = ["PlanarFlow"]

_ACTIVATIONS = ("tanh", "leaky_relu")


class PlanarFlow(AmortizedBijector):
    """Planar flow (Rezende & Mohamed 2015, section 4.1 and appendix A.1).

        y = x + u_hat * h(w^T x + b)
        log|det dy/dx| = log|1 + u_hat^T psi(x)|,  psi(x) = h'(w^T x + b) w
                       = log(1 + (w^T u_hat) h'(w^T x + b))

    `u_hat` is the appendix-A.1 reparameterization of the raw `u`,

        u_hat = u + (m(w^T u) - w^T u) w / ||w||^2,   m(a) = -1 + softplus(a),

    so `w^T u_hat = m(w^T u) > -1` for any raw parameters, and with
    `0 < h' <= 1` (tanh, leaky ReLU) the map is invertible.

    The inverse is exact (to float tolerance), batched and XLA-compilable.
    With `a = w^T x + b`, projecting `y` on `w` gives the scalar equation

        1. w^T y + b = a + c h(a),   c = w^T u_hat > -1,

    whose left side is strictly increasing in `a`. For tanh it is solved by a
    bracketed Newton/bisection iteration (`|tanh| <= 1` brackets the root in
    `[t - |c|, t + |c|]`); for leaky ReLU in closed form (`a = t / (1 + c)` if
    `t >= 0`, else `t / (1 + slope c)`). Then

        2. x = y - u_hat h(a).

    Parameters are Keras 3 weights (`u`, `w` of shape `[D]`, `b` of shape
    `[]`) or, with `context_size=C`, amortized: `[u, w, b] = c @ K + k` from a
    context vector `c` (e.g. an encoder's output, the VAE case), with the
    kernel `K` and bias `k` as weights; bind a context with `with_context`.

    Args:
      event_size: D.
      activation: `'tanh'` (default) or `'leaky_relu'`.
      negative_slope: leaky ReLU's slope for negative inputs, in `(0, 1]`.
      context_size: C for amortized parameters, or None for own weights.
      context: a context `[C]` or `[..., C]` to bind (amortized only).
      init_scale: std of the normal initial `u` and `w` (b starts at 0).
      seed: integer seed of the initial weights.
      weight_store: share the weights (the `weight_store`) of another
        `PlanarFlow` of the same sizes; None creates new weights.
      dtype: weight dtype.
      validate_args: check inputs and parameters for NaN/Inf.
      name: bijector name.

    Raises:
      ValueError: bad `event_size`, `activation`, `negative_slope`,
        `context_size`, a context that is not `[..., C]` or not finite, and
        inputs that are not `[..., D]` (naming the shapes).

    #### Examples

    >>> flow = PlanarFlow(2, seed=1)
    >>> x = tf.constant([[0.5, -1.0], [2.0, 0.3]])
    >>> y = flow.forward(x)
    >>> x_back = flow.inverse(tf.identity(y))
    >>> bool(tf.reduce_all(tf.abs(x_back - x) < 1e-5))
    True
    >>> amortized = PlanarFlow(2, context_size=3).with_context(tf.ones([4, 3]))
    >>> amortized.forward(tf.zeros([4, 2])).shape
    TensorShape([4, 2])

    #### References

    Danilo Jimenez Rezende, Shakir Mohamed. Variational Inference with
    Normalizing Flows. ICML 2015. https://arxiv.org/abs/1505.05770
    """

    _owner = "PlanarFlow"

    def __init__(
        self,
        event_size: int,
        *,
        activation: str = "tanh",
        negative_slope: float = 0.01,
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
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"PlanarFlow: argument `activation` must be one of {_ACTIVATIONS}; "
                f"got {activation!r}."
            )
        if not 0.0 < negative_slope <= 1.0:
            raise ValueError(
                "PlanarFlow: argument `negative_slope` must be in (0, 1]; "
                f"got {negative_slope!r}."
            )
        self._activation = activation
        self._negative_slope = float(negative_slope)
        self._init_scale = checks.check_number(
            init_scale, "init_scale", self._owner, minimum=0.0, strict=False
        )
        self._seed = checks.check_seed(seed, self._owner)
        self._init_common(event_size, context_size, context, dtype)
        with tf.name_scope(name or "planar_flow") as name:
            super().__init__(
                forward_min_event_ndims=1,
                is_constant_jacobian=False,
                validate_args=validate_args,
                parameters=parameters,
                dtype=self._weight_dtype,
                name=name,
            )
        d = self._event_size
        rng = np.random.default_rng(self._seed)
        self._setup_parameters(
            {
                "u": ([d], rng.normal(scale=init_scale, size=[d])),
                "w": ([d], rng.normal(scale=init_scale, size=[d])),
                "b": ([], np.zeros([])),
            },
            store=weight_store,
        )

    @property
    def activation(self) -> str:
        """`'tanh'` or `'leaky_relu'`."""
        return self._activation

    # -- math ----------------------------------------------------------------
    def _h(self, a):
        if self._activation == "tanh":
            return tf.tanh(a)
        return tf.where(a >= 0, a, self._negative_slope * a)

    def _h_prime(self, a):
        if self._activation == "tanh":
            th = tf.tanh(a)
            return 1.0 - th * th
        return tf.where(a >= 0, tf.ones_like(a), self._negative_slope * tf.ones_like(a))

    def constrained_parameters(
        self,
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
        """`(u_hat, w, b, c)` with `c = w^T u_hat > -1` (appendix A.1)."""
        p = self._params()
        u, w, b = p["u"], p["w"], p["b"]
        wu = tf.reduce_sum(w * u, axis=-1)
        w_sq = tf.reduce_sum(w * w, axis=-1)
        m = tf.math.softplus(wu) - 1.0
        u_hat = u + tf.math.divide_no_nan(m - wu, w_sq)[..., None] * w
        # c = w^T u_hat equals m(w^T u) exactly when w != 0 (and 0 when w = 0);
        # using m keeps c > -1 free of rounding error.
        c = tf.where(w_sq > 0, m, tf.zeros_like(m))
        return u_hat, w, b, c

    def _forward_and_log_det(self, x):
        x = self._check_input(x, "x")
        u_hat, w, b, c = self.constrained_parameters()
        a = tf.reduce_sum(w * x, axis=-1) + b
        y = x + u_hat * self._h(a)[..., None]
        return y, tf.math.log1p(c * self._h_prime(a))

    def _inverse_and_log_det(self, y):
        y = self._check_input(y, "y")
        u_hat, w, b, c = self.constrained_parameters()
        t = tf.reduce_sum(w * y, axis=-1) + b
        c = tf.broadcast_to(c, tf.shape(t))
        if self._activation == "tanh":
            a = solve_tanh_equation(t, c, tf.ones_like(t), tf.zeros_like(t))
        else:
            # g(a) = a + c h(a) is increasing with g(0) = 0: sign(a) = sign(t).
            slope = tf.where(
                t >= 0, tf.ones_like(t), self._negative_slope * tf.ones_like(t)
            )
            a = t / (1.0 + c * slope)
        x = y - u_hat * self._h(a)[..., None]
        return x, -tf.math.log1p(c * self._h_prime(a))
