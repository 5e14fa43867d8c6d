"""RadialFlow: `y = x + beta h(alpha, r) (x - x0)` with a closed-form inverse."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfp_flows.bijectors._amortized import AmortizedBijector
from tfp_flows.internal import checks
from tfp_flows.internal.keras import WeightStore
from tfp_flows.internal.types import DTypeLike
from tfp_flows.internal.types import TensorLike

__all__ = ["RadialFlow"]

_SOFTPLUS_INV_1 = float(np.log(np.expm1(1.0)))  # softplus(x) = 1


class RadialFlow(AmortizedBijector):
    """Radial flow (Rezende & Mohamed 2015, section 4.1 and appendix A.2).

        y = x + beta h(alpha, r) (x - x0),  r = ||x - x0||,  h = 1 / (alpha + r)
        log|det dy/dx| = (D - 1) log(1 + beta h) + log(1 + beta h + beta h' r)
                       = (D - 1) log(1 + beta h) + log(1 + alpha beta h^2)

    (using `h' = -h^2`). Invertibility needs `beta >= -alpha` (appendix A.2);
    it holds for any raw parameters through

        alpha = softplus(alpha_raw) > 0,   beta = -alpha + softplus(beta_raw).

    The inverse is exact, in closed form: `y - x0 = (x - x0)(1 + beta h)`
    with `1 + beta h > 0`, so with `s = ||y - x0||` the radius solves

        1. s = r (1 + beta / (alpha + r))
        2. r^2 + (alpha + beta - s) r - alpha s = 0,  whose root r >= 0 is
           r = (-B + sqrt(B^2 + 4 alpha s)) / 2,  B = alpha + beta - s
           (written as 2 alpha s / (B + sqrt(...)) when B > 0, to avoid
           cancellation),
        3. x = x0 + (y - x0) / (1 + beta h(alpha, r)).

    Parameters are Keras 3 weights (`x0` `[D]`, `alpha_raw`, `beta_raw`
    scalars; the initial flow is the identity, `beta = 0`) or amortized from a
    context vector with `context_size=C` (see `PlanarFlow`).

    Args:
      event_size: D.
      context_size: C for amortized parameters, or None for own weights.
      context: a context `[C]` or `[..., C]` to bind (amortized only).
      init_scale: std of the normal initial `x0`.
      seed: integer seed of the initial weights.
      weight_store: share another `RadialFlow`'s weights (its
        `weight_store`); None creates new weights.
      dtype: weight dtype.
      validate_args: check inputs and parameters for NaN/Inf.
      name: bijector name.

    Raises:
      ValueError: bad sizes, a bad or non-finite context, inputs not `[..., D]`.

    #### Examples

    >>> flow = RadialFlow(2, seed=1)
    >>> _ = flow.weight_store.weights[2].assign(1.5)  # beta_raw: beta > 0
    >>> x = tf.constant([[0.5, -1.0], [2.0, 0.3]])
    >>> y = flow.forward(x)
    >>> bool(tf.reduce_all(tf.abs(flow.inverse(tf.identity(y)) - x) < 1e-5))
    True

    #### References

    Danilo Jimenez Rezende, Shakir Mohamed. Variational Inference with
    Normalizing Flows. ICML 2015. https://arxiv.org/abs/1505.05770
    """

    _owner = "RadialFlow"

    def __init__(
        self,
        event_size: int,
        *,
        context_size: int | None = None,
        context: TensorLike | None = None,
        init_scale: float = 1.0,
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
        with tf.name_scope(name or "radial_flow") as name:
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
                "x0": ([d], rng.normal(scale=init_scale, size=[d])),
                "alpha_raw": ([], np.full([], _SOFTPLUS_INV_1)),
                "beta_raw": ([], np.full([], _SOFTPLUS_INV_1)),
            },
            store=weight_store,
        )

    def constrained_parameters(self) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """`(x0, alpha, beta)` with `alpha > 0` and `beta >= -alpha`."""
        p = self._params()
        alpha = tf.math.softplus(p["alpha_raw"])
        beta = tf.math.softplus(p["beta_raw"]) - alpha
        return p["x0"], alpha, beta

    def _log_det(self, h, alpha, beta):
        d = tf.cast(self._event_size, h.dtype)
        return (d - 1.0) * tf.math.log1p(beta * h) + tf.math.log1p(alpha * beta * h * h)

    def _forward_and_log_det(self, x):
        x = self._check_input(x, "x")
        x0, alpha, beta = self.constrained_parameters()
        diff = x - x0
        r = tf.norm(diff, axis=-1)
        h = 1.0 / (alpha + r)
        y = x + (beta * h)[..., None] * diff
        return y, self._log_det(h, alpha, beta)

    def _inverse_and_log_det(self, y):
        y = self._check_input(y, "y")
        x0, alpha, beta = self.constrained_parameters()
        diff = y - x0
        s = tf.norm(diff, axis=-1)
        big_b = alpha + beta - s
        root = tf.sqrt(big_b * big_b + 4.0 * alpha * s)
        # Both forms are the same root; each is used where it has no cancellation.
        pos = big_b > 0
        safe_den = tf.where(pos, big_b + root, tf.ones_like(root))
        r = tf.where(pos, 2.0 * alpha * s / safe_den, 0.5 * (root - big_b))
        h = 1.0 / (alpha + r)
        x = x0 + diff / (1.0 + beta * h)[..., None]
        return x, -self._log_det(h, alpha, beta)
