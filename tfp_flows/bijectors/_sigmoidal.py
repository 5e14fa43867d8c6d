"""Not public API: the sigmoidal transformers of neural autoregressive flows.

Huang, Krueger, Lacoste, Courville 2018, "Neural Autoregressive Flows",
section 3.1. For one dimension, with pseudo-parameters from the conditioner:

* DSF, eq. (5): `y = sigma^{-1}( w^T sigma(a * x + b) )`, `a, b, w` in R^K,
  `a_k > 0` (softplus), `w` on the simplex (softmax). `sigmoid_layers = L`
  such maps are composed ("deep", the authors' `num_ds_layers`).
* DDSF, eq. (8): `h^{l} = sigma^{-1}( w^{l} sigma(a^{l} * (u^{l} h^{l-1}) +
  b^{l}) )`, `h^0 = x`, `y = h^L`, with `u^{l}` (`K x d_{l-1}`) and `w^{l}`
  (`d_l x K`) positive with rows summing to one (softmax per row), `a^{l} > 0`,
  `d_0 = d_L = 1` and `K` sigmoid units per layer (as the authors'
  `DenseSigmoidFlow`: the paper's `w^{l}` is `d_l x d_l`, which for the last
  layer, `d_L = 1`, would make it affine; here every layer keeps its K
  sigmoids, and `L = 1` is exactly the DSF).

Both are strictly increasing for any pseudo-parameters: a positive
combination of increasing sigmoids, under the increasing logit.

Bounded pseudo-parameters and a linear term (the tails). The paper's map,
`g` below, is a bijection of R for any `a > 0`, but MAF sampling and IAF
density meet it far out, where the MADE's outputs grow with its inputs.
Measured before this fix (`tests/registry_autoregressive.py`, float32 and
float64 alike): MAF sampling gave NaN from input scale 10 (DSF) and 3 (DDSF),
for three reasons: (i) a raw slope of -30 gives `a ~ 1e-13`, the root
`(y - b) / a` overflows, and every later dimension reads it; (ii) `b` of the
size of the earlier dimensions moves the root by `b / a`, so that `|x_d|`
grew by about 1e4 per dimension until float32 could not resolve `g` any more
(no float `x` with `g(x) = y`); (iii) units far apart relative to `1 / a`
leave plateaus where `g'` underflows (`~e^{-|z|}`), so `g` is numerically not
injective and the solve lands on a wrong point of the plateau. Hence, as the
affine transform's `log_scale_bound` (the authors' code floors `a` at
`softplus + 1e-6` instead):

* `log a = B_a tanh(log softplus(raw_a) / B_a)`, `B_a = 5`: `a` in
  `(e^-5, e^5)`, `= softplus` to about 1% where `|log a| <= 1`;
* `b = B_b tanh(raw_b / B_b) + offset`, `B_b = 10`;
* `f(t) = g(t) + LEAK * t`, `LEAK = 1e-3`: `f' >= LEAK` everywhere, so
  `f` is still strictly increasing onto R and no plateau is flatter than
  `LEAK`; `log f' = log(g' + LEAK)`, in log space.

With them each layer's root lies within `(|y| + B_b + 1) e^{B_a}` of 0, set
by its own input alone (no growth along the dimensions), and the slope of a
layer is at most `2 max_j a_j <= 2 e^{B_a}` (`sum_j w_j sigma_j (1 -
sigma_j) <= min(S, 1 - S) <= 2 S (1 - S)`), at least `LEAK`. The map is
otherwise the paper's: `LEAK` is a thousandth of the initial slope, and the
bounds bind only where the MADE's outputs are far outside their training
range.

Numerics, all in log space (no underflow for any finite input):

1. With `z = a u h + b` and `S_i = sum_j w_ij sigma(z_j)`, `sum_j w_ij = 1`
   gives `1 - S_i = sum_j w_ij sigma(-z_j)`, so
   `log S_i = LSE_j(log w_ij + log sigma(z_j))`,
   `log(1 - S_i) = LSE_j(log w_ij + log sigma(-z_j))` and
   `h_i = log S_i - log(1 - S_i)` exactly: no clipping of `S` away from 0 and
   1 (the authors' code mixes in a `delta`), no `log(0)`.
2. `dh_i/dh'_m = sum_j w_ij sigma(z_j) sigma(-z_j) a_j u_jm / (S_i (1-S_i))`,
   all terms positive, so the chain rule runs on logs:
   `log dh_i/dx = LSE_j(log w_ij + log sigma(z_j) + log sigma(-z_j) + log a_j
   + LSE_m(log u_jm + log dh'_m/dx)) - log S_i - log(1 - S_i)`.
3. `log softplus(raw)` (before its bound) is computed as `raw` where `raw < -20`
   (`softplus` underflows near -100 in float32; `log softplus(r) = r +
   O(e^r)` there).

Inverse (`x` from `y`): a safeguarded Newton iteration inside a bracket that
always holds the root.

1. The root of `g(t) = y`: each layer's outputs lie between the smallest and
   the largest of its sigmoid pre-activations (a convex combination of
   sigmoids under the logit), and each pre-activation `a_j (u_j . h) + b_j`
   between `a_j min(h) + b_j` and `a_j max(h) + b_j`. Composing, `lo(x) <=
   g(x) <= hi(x)` with `lo`, `hi` increasing piecewise-linear maps built from
   `min_j` / `max_j` of the lines `a_j t + b_j`, whose inverses are explicit
   (`min_j` of lines equals `s` at `t = max_j (s - b_j) / a_j`). So `x_g =
   g^{-1}(y)` lies in `[L, H] = [hi^{-1}(y), lo^{-1}(y)]`.
2. The root `x` of `f(t) = g(t) + LEAK t = y`: if `x_g >= 0`, `f(x_g) = y +
   LEAK x_g >= y` and `f(0) = g(0) <= g(x_g) = y`, so `0 <= x <= x_g`; the
   mirror case likewise. So `x` lies in `[min(0, L), max(0, H)]`.
3. Newton steps are taken only inside the bracket and while they at least
   halve the step before last (Numerical Recipes' `rtsafe`); otherwise the
   bracket is bisected, so two steps at worst halve it, whatever the slope.

The loop (a `tf.while_loop` of at most `max_iterations` steps, stopping early
once every element has converged) compiles under XLA; its gradient is not
taken through the loop but by the implicit function theorem, as one Newton
step from the (constant) root.

Pseudo-parameter layout per element, layer by layer: `[u logits (K d_{l-1},
dense layers with d_{l-1} > 1 only), raw a (K), raw b (K), w logits (d_l K)]`.
Raw zeros give `a = 1`, uniform `w`, `u`, and `b_k` at fixed offsets spread
over `[-1, 1]` (equivalent to an initial output bias of the conditioner), so
that the K units start distinct: with equal units their gradients would be
equal too.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

# softplus(raw + _A_SHIFT) == 1 at raw == 0.
_A_SHIFT = math.log(math.expm1(1.0))
_LOG_SOFTPLUS_LINEAR_BELOW = -20.0
_B_SPREAD = 1.0
# Soft bounds (`bound * tanh(v / bound)`) on `log a` and `b`: see the module
# docstring, "Bounded pseudo-parameters".
_LOG_SLOPE_BOUND = 5.0
_SHIFT_BOUND = 10.0
# The linear term `LEAK * t` of the transformer (module docstring).
LEAK = 1e-3
_MAX_LOG_STEP = 40.0
SIGMOIDAL_TRANSFORMS = ("sigmoidal", "dense_sigmoidal")


def layer_dims(
    num_sigmoids: int, num_layers: int, dense: bool
) -> list[tuple[int, int, int]]:
    """Per layer `(d_in, K, d_out)`: inputs, sigmoid units, outputs."""
    if not dense:
        return [(1, num_sigmoids, 1)] * num_layers
    widths = [1] + [num_sigmoids] * (num_layers - 1) + [1]
    return [(widths[i], num_sigmoids, widths[i + 1]) for i in range(num_layers)]


def num_sigmoidal_params(num_sigmoids: int, num_layers: int, dense: bool) -> int:
    """Pseudo-parameters per element: `3 K L` (DSF), quadratic in K (DDSF)."""
    total = 0
    for d_in, k, d_out in layer_dims(num_sigmoids, num_layers, dense):
        total += (k * d_in if d_in > 1 else 0) + 2 * k + d_out * k
    return total


def check_sigmoidal_args(owner, num_hidden_sigmoids, sigmoid_layers):
    """Raises a ValueError naming `num_hidden_sigmoids` or `sigmoid_layers`."""
    for name, value in (
        ("num_hidden_sigmoids", num_hidden_sigmoids),
        ("sigmoid_layers", sigmoid_layers),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(
                f"{owner}: argument `{name}` must be an integer >= 1; got {value!r}."
            )
        if value < 1:
            raise ValueError(
                f"{owner}: argument `{name}` must be an integer >= 1; got {value}."
            )


def _log_softmax(logits):
    # Written out: TF's CPU softmax kernels reject inputs of rank > 5.
    return logits - tf.reduce_logsumexp(logits, axis=-1, keepdims=True)


def _log_softplus(raw):
    linear = raw < _LOG_SOFTPLUS_LINEAR_BELOW
    safe = tf.where(linear, tf.zeros_like(raw), raw)  # no log(0), no NaN grads
    return tf.where(linear, raw, tf.math.log(tf.math.softplus(safe)))


def _soft_bound(v, bound):
    """`bound * tanh(v / bound)`: smooth, identity near 0, inside `(-bound, bound)`."""
    return bound * tf.tanh(v / bound)


def _split(t, sizes):
    """`t[..., P]` -> `t[..., s]` for consecutive sizes, reshaped if a pair."""
    out, i = [], 0
    for size in sizes:
        n = int(np.prod(size))
        piece = t[..., i : i + n]
        if isinstance(size, tuple):
            piece = tf.reshape(piece, tf.concat([tf.shape(piece)[:-1], size], 0))
        out.append(piece)
        i += n
    return out


def _unpack(raw, num_sigmoids, num_layers, dense):
    """Per layer `(log_u or None, log_a, b, log_w)` from `raw` `[..., P]`."""
    dtype = raw.dtype
    k = num_sigmoids
    spread = np.linspace(-_B_SPREAD, _B_SPREAD, k) if k > 1 else np.zeros([1])
    offsets = tf.constant(spread, dtype)
    layers, i = [], 0
    for d_in, _, d_out in layer_dims(num_sigmoids, num_layers, dense):
        sizes = ([(k, d_in)] if d_in > 1 else []) + [k, k, (d_out, k)]
        n = sum(int(np.prod(s)) for s in sizes)
        pieces = _split(raw[..., i : i + n], sizes)
        i += n
        log_u = _log_softmax(pieces.pop(0)) if d_in > 1 else None
        raw_a, raw_b, raw_w = pieces
        log_a = _soft_bound(_log_softplus(raw_a + _A_SHIFT), _LOG_SLOPE_BOUND)
        b = _soft_bound(raw_b, _SHIFT_BOUND) + offsets
        layers.append((log_u, log_a, b, _log_softmax(raw_w)))
    return layers


def _network(x, layers):
    """`y(x)` and `log y'(x)`, elementwise; `layers` from `_unpack`."""
    h = x[..., None]  # [..., d_0 = 1]
    log_dh = tf.zeros_like(h)
    for log_u, log_a, b, log_w in layers:
        if log_u is None:  # d_in = 1: u = 1
            uh, log_du = h, log_dh  # broadcast against the K units
        else:
            uh = tf.reduce_sum(tf.exp(log_u) * h[..., None, :], axis=-1)
            log_du = tf.reduce_logsumexp(log_u + log_dh[..., None, :], axis=-1)
        z = tf.exp(log_a) * uh + b  # [..., K]
        log_p = tf.math.log_sigmoid(z)
        log_q = tf.math.log_sigmoid(-z)
        log_s = tf.reduce_logsumexp(log_w + log_p[..., None, :], axis=-1)
        log_1ms = tf.reduce_logsumexp(log_w + log_q[..., None, :], axis=-1)
        slope = log_p + log_q + log_a + log_du  # [..., K]
        log_num = tf.reduce_logsumexp(log_w + slope[..., None, :], axis=-1)
        h = log_s - log_1ms
        log_dh = log_num - log_s - log_1ms
    return h[..., 0], log_dh[..., 0]


def _transformer(x, layers):
    """`f(x) = g(x) + LEAK * x` and `log f'(x)`; `g` is `_network`."""
    g, log_dg = _network(x, layers)
    log_leak = tf.constant(math.log(LEAK), x.dtype)
    # log(g' + LEAK) = max + log1p(exp(-|difference|)): no overflow, no log(0).
    log_df = tf.maximum(log_dg, log_leak) + tf.math.log1p(
        tf.exp(-tf.abs(log_dg - log_leak))
    )
    return g + LEAK * x, log_df


def sigmoidal_forward(x, raw, num_sigmoids, num_layers, dense):
    """`y = f(x)` and `log f'(x)` elementwise; `raw` is `x.shape + [P]`."""
    return _transformer(x, _unpack(raw, num_sigmoids, num_layers, dense))


def _bracket(y, layers):
    """`(lo, hi)` with `lo <= g^{-1}(y) <= hi` (`g`: without the linear term).

    Module docstring, step 1 of the inverse.
    """
    lo = hi = y
    for _, log_a, b, _ in reversed(layers):
        a = tf.exp(log_a)
        lo = tf.reduce_min((lo[..., None] - b) / a, axis=-1)
        hi = tf.reduce_max((hi[..., None] - b) / a, axis=-1)
    return lo, hi


def _root_bracket(y, layers):
    """`(lo, hi)` with `lo <= f^{-1}(y) <= hi` (module docstring, step 2)."""
    lo, hi = _bracket(y, layers)
    zero = tf.zeros_like(lo)
    return tf.minimum(lo, zero), tf.maximum(hi, zero)


def sigmoidal_inverse(y, raw, num_sigmoids, num_layers, dense, max_iterations=200):
    """`x = f^{-1}(y)` and `log f'(x)`, elementwise (safeguarded Newton)."""
    layers_c = _unpack(tf.stop_gradient(raw), num_sigmoids, num_layers, dense)
    y_c = tf.stop_gradient(y)
    dtype = y.dtype
    eps = tf.constant(np.finfo(dtype.as_numpy_dtype).eps, dtype)
    lo, hi = _root_bracket(y_c, layers_c)
    # Widen by a few ulps: the bracket's own rounding must not exclude the root.
    lo = lo - 8.0 * eps * (1.0 + tf.abs(lo))
    hi = hi + 8.0 * eps * (1.0 + tf.abs(hi))
    x0 = tf.clip_by_value(y_c, lo, hi)

    def body(i, x, lo, hi, dx, dx_old, done):
        fx, log_d = _transformer(x, layers_c)
        f = fx - y_c
        lo = tf.where(f < 0, x, lo)
        hi = tf.where(f > 0, x, hi)
        newton = x - f * tf.exp(-log_d)
        # Newton only inside the bracket and while it at least halves the
        # step before last (Numerical Recipes' rtsafe); else bisect. So two
        # steps at worst halve the bracket, whatever the slope.
        inside = (newton > lo) & (newton < hi)  # False for NaN / Inf too
        fast = tf.abs(newton - x) <= 0.5 * dx_old
        x_new = tf.where(inside & fast, newton, 0.5 * lo + 0.5 * hi)
        x_new = tf.where(f == 0, x, x_new)
        tol = 4.0 * eps * (1.0 + tf.abs(x_new))
        done = (tf.abs(x_new - x) <= tol) | (hi - lo <= tol)
        return i + 1, x_new, lo, hi, tf.abs(x_new - x), dx, done

    def cond(i, x, lo, hi, dx, dx_old, done):
        return tf.logical_not(tf.reduce_all(done))

    width = hi - lo
    _, x, _, _, _, _, _ = tf.while_loop(
        cond,
        body,
        (tf.constant(0), x0, lo, hi, width, width, tf.zeros_like(y_c, dtype=tf.bool)),
        maximum_iterations=max_iterations,
    )
    # Implicit function theorem: one Newton step from the constant root has,
    # at the root, the derivative dx/dtheta = -(df/dtheta - dy/dtheta) / f'(x).
    x = tf.stop_gradient(x)
    layers = _unpack(raw, num_sigmoids, num_layers, dense)
    fx, log_d = _transformer(x, layers)
    # (The slope is capped so that a flat spot gives a finite step, never NaN.)
    inv_slope = tf.stop_gradient(tf.exp(tf.minimum(-log_d, _MAX_LOG_STEP)))
    x = x - tf.math.multiply_no_nan(inv_slope, fx - y)
    # log f' at the differentiable x (its gradient reaches y and the params).
    return x, _transformer(x, layers)[1]
