"""Monotone rational-quadratic splines with identity tails, elementwise.

Durkan et al. 2019, "Neural Spline Flows", section 3.1 and appendix A.

On `[-B, B]` the map is a spline of `K` bins; knot `k` is `(x_k, y_k)` with
`x_0 = y_0 = -B`, `x_K = y_K = B`, and derivative `delta_k` at each knot
(`delta_0 = delta_K = 1`, so the spline joins the identity tails smoothly).
In bin `k`, with `xi = (x - x_k) / w_k` in `[0, 1]`, `s_k = h_k / w_k`:

    y = y_k + h_k [s_k xi^2 + delta_k xi (1 - xi)] / den,
    den = s_k + (delta_{k+1} + delta_k - 2 s_k) xi (1 - xi),
    dy/dx = s_k^2 [delta_{k+1} xi^2 + 2 s_k xi (1 - xi) + delta_k (1 - xi)^2]
            / den^2.

The inverse solves the quadratic `a xi^2 + b xi + c = 0` (NSF appendix A) by
the cancellation-free root `xi = 2c / (-b - sqrt(b^2 - 4ac))`.

The `3K - 1` unconstrained parameters per element are laid out as
`[K widths, K heights, K - 1 interior derivatives]`: widths and heights go
through a softmax (each bin at least `MIN_BIN` of the range), derivatives
through a softplus shifted so that raw `0` gives derivative `1`. All-zero
parameters are therefore the identity map.
"""

from __future__ import annotations

import math
import numbers

import tensorflow as tf

MIN_BIN = 1e-3
MIN_DERIVATIVE = 1e-3
# softplus(raw + _SHIFT) + MIN_DERIVATIVE == 1 at raw == 0.
_SHIFT = math.log(math.expm1(1.0 - MIN_DERIVATIVE))


def num_spline_params(num_bins: int) -> int:
    """Unconstrained parameters per element of a `num_bins` spline."""
    return 3 * num_bins - 1


def _knots(raw, bound):
    """Knot positions, bin sizes and knot derivatives from `raw` `[..., 3K-1]`."""
    k = (raw.shape[-1] + 1) // 3
    dtype = raw.dtype
    two_b = tf.cast(2.0 * bound, dtype)

    def bins(logits):
        # softmax written out: TF's CPU kernel rejects inputs of rank > 5
        # (images with extra batch dims are [..., H, W, C, K]).
        e = tf.exp(logits - tf.stop_gradient(tf.reduce_max(logits, -1, keepdims=True)))
        frac = MIN_BIN + (1.0 - MIN_BIN * k) * (e / tf.reduce_sum(e, -1, keepdims=True))
        size = two_b * frac
        # Knot k = -B + sum of the first k sizes; the last knot is exactly B.
        edges = tf.math.cumsum(size, axis=-1, exclusive=True) - bound
        return edges, size

    x_k, w = bins(raw[..., :k])
    y_k, h = bins(raw[..., k : 2 * k])
    inner = MIN_DERIVATIVE + tf.math.softplus(raw[..., 2 * k :] + _SHIFT)
    one = tf.ones_like(inner[..., :1])
    deriv = tf.concat([one, inner, one], axis=-1)  # [..., K + 1]
    return k, x_k, w, y_k, h, deriv


def check_spline_args(owner, num_bins, bound, bound_name):
    """Raises a ValueError naming `num_bins` or `bound_name` if invalid."""
    if isinstance(num_bins, bool) or not isinstance(num_bins, int) or num_bins < 2:
        raise ValueError(
            f"{owner}: argument `num_bins` must be an int >= 2; got {num_bins!r}."
        )
    ok = isinstance(bound, numbers.Real) and not isinstance(bound, bool)
    if not ok or not bound > 0:
        raise ValueError(
            f"{owner}: argument `{bound_name}` must be > 0; got {bound!r}."
        )


def _pick(onehot, t):
    return tf.reduce_sum(onehot * t, axis=-1)


def _locate(v, raw, bound, along_y):
    """The bin of each `v` (by the x knots, or the y knots if `along_y`).

    Returns `inside` (`|v| < B`), `v` clipped to `[-B, B]` (safe values for
    the tails) and the bin's `x_k, w_k, y_k, h_k, delta_k, delta_{k+1}`.
    """
    k, x_k, w, y_k, h, deriv = _knots(raw, bound)
    vc = tf.clip_by_value(v, -bound, bound)
    edges = y_k if along_y else x_k
    # Bin index: the number of interior knots at or left of v.
    idx = tf.reduce_sum(tf.cast(vc[..., None] >= edges[..., 1:], tf.int32), axis=-1)
    onehot = tf.one_hot(idx, k, dtype=v.dtype)
    picked = [_pick(onehot, t) for t in (x_k, w, y_k, h)]
    lo_d = _pick(onehot, deriv[..., :-1])
    hi_d = _pick(onehot, deriv[..., 1:])
    return tf.abs(v) < bound, vc, (*picked, lo_d, hi_d)


def _log_slope(s, xi, dk, dk1, den):
    """`log dy/dx` in a bin at relative position `xi` (NSF eq. 5)."""
    num = dk1 * xi * xi + 2.0 * s * xi * (1.0 - xi) + dk * (1.0 - xi) ** 2
    return 2.0 * tf.math.log(s) + tf.math.log(num) - 2.0 * tf.math.log(den)


def rq_spline(x, raw, bound):
    """`y = g(x)` and `log|g'(x)|`, elementwise; `raw` is `x.shape + [3K-1]`."""
    inside, xc, (xk, wk, yk, hk, dk, dk1) = _locate(x, raw, bound, along_y=False)
    s = hk / wk
    xi = tf.clip_by_value((xc - xk) / wk, 0.0, 1.0)
    t = xi * (1.0 - xi)
    den = s + (dk1 + dk - 2.0 * s) * t
    y = yk + hk * (s * xi * xi + dk * t) / den
    log_det = _log_slope(s, xi, dk, dk1, den)
    return tf.where(inside, y, x), tf.where(inside, log_det, tf.zeros_like(x))


def rq_spline_inverse(y, raw, bound):
    """`x = g^{-1}(y)` and `log|g'(x)|` (of the forward map), elementwise."""
    inside, yc, (xk, wk, yk, hk, dk, dk1) = _locate(y, raw, bound, along_y=True)
    s = hk / wk
    dy = yc - yk
    slope_sum = dk1 + dk - 2.0 * s
    a = hk * (s - dk) + dy * slope_sum
    b = hk * dk - dy * slope_sum
    c = -s * dy
    disc = tf.maximum(b * b - 4.0 * a * c, 0.0)
    xi = tf.clip_by_value((2.0 * c) / (-b - tf.sqrt(disc)), 0.0, 1.0)
    x = xk + xi * wk
    den = s + slope_sum * xi * (1.0 - xi)
    log_det = _log_slope(s, xi, dk, dk1, den)
    return tf.where(inside, x, y), tf.where(inside, log_det, tf.zeros_like(y))
