"""MAF and IAF: masked autoregressive bijectors on a Keras 3 `MADE`.

Both apply, per dimension `d`, an elementwise invertible map `g` whose
parameters come from a MADE, i.e. from the dimensions before `d`:

    affine:  g(u) = shift + exp(log_scale) * u,   log|g'| = log_scale
    gated:   g(u) = sigma * u + (1 - sigma) * m,  log|g'| = log(sigma),
             sigma = sigmoid(s + gate_bias)       (Kingma et al. 2016, eq. 14)
    spline:  g = a monotone rational-quadratic spline of `num_bins` bins on
             `[-spline_bound, spline_bound]`, identity outside (Durkan et al.
             2019, "Neural Spline Flows"); `3 * num_bins - 1` parameters
    sigmoidal:  the deep sigmoidal flow (DSF) of Huang et al. 2018, "Neural
             Autoregressive Flows", eq. 5: `f(t) = sigma^{-1}(w^T sigma(a t +
             b))`, K = `num_hidden_sigmoids` units, `a > 0`, `w` on the
             simplex, `sigmoid_layers` of them composed; `3 K L` parameters
    dense_sigmoidal: the dense variant DDSF (eq. 8): `sigmoid_layers` layers
             of K units mixed by row-stochastic matrices `u`, `w`

The sigmoidal transformers `f` are monotone networks with an explicit
log-derivative but no closed-form inverse. As in the NAF paper, `f` runs in
the one-pass direction (MAF: data -> base, `g = f^{-1}`; IAF: base -> data,
`g = f`) and the other direction solves `f(t) = v` by a bracketed Newton
iteration (`tfp_flows.bijectors._sigmoidal`): MAF sampling and IAF density
are numerical. For the tails, as the affine transform's `log_scale_bound`,
`log a` and `b` are soft-bounded (to 5 and 10) and `f` has a linear term
`1e-3 t`, so that the solve stays finite and exact however far out the MADE's
outputs go (the module docstring of `_sigmoidal` gives the why).

MAF (Papamakarios et al. 2017) reads the parameters from the data side `y`:
`inverse(y)` (density) is one MADE pass, `forward(x)` (sampling) takes `D`
sequential passes. IAF (Kingma et al. 2016) reads them from the base side `x`:
`forward(x)` (sampling) is one pass, `inverse(y)` takes `D` passes. IAF is
thus MAF with the roles of the two directions swapped (TFP writes it as
`tfb.Invert(tfb.MaskedAutoregressiveFlow(...))`); here both share one class so
that IAF keeps Kingma's gated update in its sampling direction.

The sequential direction runs `MADE.solve`: a `tf.while_loop` of `D` steps
that compiles under XLA and evaluates, per step, only what that step needs.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfp_flows.bijectors._sigmoidal import SIGMOIDAL_TRANSFORMS
from tfp_flows.bijectors._sigmoidal import check_sigmoidal_args
from tfp_flows.bijectors._sigmoidal import num_sigmoidal_params
from tfp_flows.bijectors._sigmoidal import sigmoidal_forward
from tfp_flows.bijectors._sigmoidal import sigmoidal_inverse
from tfp_flows.bijectors._spline import check_spline_args
from tfp_flows.bijectors._spline import num_spline_params
from tfp_flows.bijectors._spline import rq_spline
from tfp_flows.bijectors._spline import rq_spline_inverse
from tfp_flows.bijectors.base import ContextBijector
from tfp_flows.internal.checks import check_event
from tfp_flows.internal.checks import check_float_dtype
from tfp_flows.internal.checks import shape_str
from tfp_flows.internal.conditioning import check_context
from tfp_flows.internal.conditioning import check_no_context
from tfp_flows.internal.types import TensorLike
from tfp_flows.nn.made import MADE

__all__ = ["IAF", "MAF"]

_TRANSFORMS = ("affine", "gated", "spline", *SIGMOIDAL_TRANSFORMS)


def transform_num_params(
    transform: str,
    *,
    num_bins: int = 8,
    num_hidden_sigmoids: int = 8,
    sigmoid_layers: int = 1,
) -> int:
    """MADE outputs per dimension that `transform` needs (`num_params`)."""
    if transform == "spline":
        return num_spline_params(num_bins)
    if transform in SIGMOIDAL_TRANSFORMS:
        return num_sigmoidal_params(
            num_hidden_sigmoids, sigmoid_layers, transform == "dense_sigmoidal"
        )
    return 2


class _MaskedAutoregressive(ContextBijector):
    """Shared code of MAF and IAF (see the module docstring).

    A conditional MADE makes the bijector conditional (`context_shape ==
    (context_size,)`); `with_context` is `ContextBijector`'s.
    """

    _params_from_output = True  # MAF: parameters are a function of y.
    _default_name = "maf"

    def __init__(
        self,
        made: MADE,
        *,
        transform: str = "affine",
        log_scale_bound: float | None = 5.0,
        gate_bias: float = 2.0,
        num_bins: int = 8,
        spline_bound: float = 3.0,
        num_hidden_sigmoids: int = 8,
        sigmoid_layers: int = 1,
        context: TensorLike | None = None,
        validate_args: bool = False,
        name: str | None = None,
    ):
        parameters = dict(locals())
        owner = type(self).__name__
        if not isinstance(made, MADE):
            raise TypeError(
                f"{owner}: argument `made` must be a tfp_flows.nn.MADE; got "
                f"{type(made)!r}."
            )
        if transform not in _TRANSFORMS:
            raise ValueError(
                f"{owner}: argument `transform` must be one of {_TRANSFORMS}; "
                f"got {transform!r}."
            )
        if transform == "spline":
            check_spline_args(owner, num_bins, spline_bound, "spline_bound")
        detail = f" with num_bins={num_bins}" if transform == "spline" else ""
        if transform in SIGMOIDAL_TRANSFORMS:
            check_sigmoidal_args(owner, num_hidden_sigmoids, sigmoid_layers)
            detail = (
                f" with num_hidden_sigmoids={num_hidden_sigmoids}, "
                f"sigmoid_layers={sigmoid_layers}"
            )
        want = transform_num_params(
            transform,
            num_bins=num_bins,
            num_hidden_sigmoids=num_hidden_sigmoids,
            sigmoid_layers=sigmoid_layers,
        )
        if made.num_params != want:
            raise ValueError(
                f"{owner}: argument `made` must have num_params={want} (for the "
                f"'{transform}' transform{detail}); got num_params="
                f"{made.num_params}."
            )
        if log_scale_bound is not None and not log_scale_bound > 0:
            raise ValueError(
                f"{owner}: argument `log_scale_bound` must be > 0 or None; "
                f"got {log_scale_bound!r}."
            )
        dtype = tf.as_dtype(made.variable_dtype)
        if context is not None:
            if not made.conditional:
                check_no_context(context, owner)
            context = check_context(context, [made.context_size], dtype, owner)
        self._made = made
        self._transform = transform
        self._log_scale_bound = log_scale_bound
        self._gate_bias = gate_bias
        self._num_bins = num_bins
        self._spline_bound = float(spline_bound)
        self._num_hidden_sigmoids = int(num_hidden_sigmoids)
        self._sigmoid_layers = int(sigmoid_layers)
        with tf.name_scope(name or self._default_name) as name:
            super().__init__(
                forward_min_event_ndims=1,
                is_constant_jacobian=False,
                validate_args=validate_args,
                dtype=dtype,
                parameters=parameters,
                name=name,
            )
        size = made.context_size
        self._init_context(None if size is None else (int(size),))
        self._context = context
        self._track_keras_layer(made)

    # -- public ------------------------------------------------------------
    @property
    def made(self) -> MADE:
        """The MADE computing the parameters."""
        return self._made

    @property
    def transform(self) -> str:
        """`'affine'`, `'gated'`, `'spline'`, `'sigmoidal'` or `'dense_sigmoidal'`."""
        return self._transform

    @property
    def num_hidden_sigmoids(self) -> int:
        """Sigmoid units K per layer of the sigmoidal transforms."""
        return self._num_hidden_sigmoids

    @property
    def sigmoid_layers(self) -> int:
        """Layers L of the sigmoidal transforms."""
        return self._sigmoid_layers

    @property
    def num_bins(self) -> int:
        """Bins of the `'spline'` transform."""
        return self._num_bins

    @property
    def spline_bound(self) -> float:
        """The spline acts on `[-spline_bound, spline_bound]` (identity outside)."""
        return self._spline_bound

    @property
    def event_size(self) -> int:
        """D."""
        return self._made.event_size

    def _context_dtype(self) -> tf.DType:
        return tf.as_dtype(self._made.variable_dtype)

    # -- the elementwise transform g ----------------------------------------
    def _log_scale(self, raw):
        b = self._log_scale_bound
        # Soft clamp: smooth, identity near 0, |log_scale| < b.
        return raw if b is None else b * tf.tanh(raw / b)

    def _sigmoidal(self, t, params, inverse):
        """`f(t)` (or `f^{-1}(t)`) of the sigmoidal transformer and `log f'`.

        `log f'` is taken at the point where `f` is evaluated: at `t` for
        `f(t)`, at the result for `f^{-1}(t)`.
        """
        raw = tf.stack(params, axis=-1)
        args = (
            self._num_hidden_sigmoids,
            self._sigmoid_layers,
            self._transform == "dense_sigmoidal",
        )
        if inverse:
            return sigmoidal_inverse(t, raw, *args)
        return sigmoidal_forward(t, raw, *args)

    def _g(self, u, params):
        """`v = g(u)` and `log|g'(u)|` elementwise."""
        if self._transform in SIGMOIDAL_TRANSFORMS:
            # MAF: g = f^{-1} (f maps data to base); IAF: g = f.
            v, log_df = self._sigmoidal(u, params, inverse=self._params_from_output)
            return v, -log_df if self._params_from_output else log_df
        if self._transform == "spline":
            return rq_spline(u, tf.stack(params, axis=-1), self._spline_bound)
        a, s = params
        if self._transform == "affine":
            log_scale = self._log_scale(s)
            return u * tf.exp(log_scale) + a, log_scale
        s = s + tf.cast(self._gate_bias, s.dtype)
        sigma = tf.sigmoid(s)
        # sigma * u + (1 - sigma) * m, written as m + sigma * (u - m).
        return a + sigma * (u - a), tf.math.log_sigmoid(s)

    def _g_inverse(self, v, params):
        """`u = g^{-1}(v)` and `log|g'(u)|` elementwise."""
        if self._transform in SIGMOIDAL_TRANSFORMS:
            u, log_df = self._sigmoidal(v, params, inverse=not self._params_from_output)
            return u, -log_df if self._params_from_output else log_df
        if self._transform == "spline":
            return rq_spline_inverse(v, tf.stack(params, axis=-1), self._spline_bound)
        a, s = params
        if self._transform == "affine":
            log_scale = self._log_scale(s)
            return (v - a) * tf.exp(-log_scale), log_scale
        s = s + tf.cast(self._gate_bias, s.dtype)
        # (v - (1 - sigma) m) / sigma = m + (v - m) / sigma, 1/sigma = 1 + e^{-s}.
        return a + (v - a) * (1.0 + tf.exp(-s)), tf.math.log_sigmoid(s)

    # -- checks --------------------------------------------------------------
    def _check(self, x, arg_name):
        owner = type(self).__name__
        check_float_dtype(x, arg_name, owner, dtype=self.dtype)
        check_event(x, arg_name, owner, [self._made.event_size])
        self._require_context()
        if self.validate_args:
            message = (
                f"{owner}: argument `{arg_name}` (shape {shape_str(x.shape)}) "
                "contains NaN or Inf (validate_args=True)."
            )
            if tf.executing_eagerly():
                if not bool(tf.reduce_all(tf.math.is_finite(x))):
                    raise ValueError(message)
            else:
                x = tf.debugging.assert_all_finite(x, message)
        return x

    def _finite_input(self, t, arg_name):
        # The base class asserts finiteness too; in eager mode raise first, as
        # a ValueError that also names the shape.
        if self.validate_args and tf.executing_eagerly():
            self._check(t, arg_name)
        return super()._finite_input(t, arg_name)

    # -- fused hooks ---------------------------------------------------------
    def _one_pass(self, u, fn):
        params = self._made.params(u, self._context)
        v, log_det = fn(u, params)
        return v, tf.reduce_sum(log_det, axis=-1)

    def _forward_and_log_det(self, x):
        x = self._check(x, "x")
        if self._params_from_output:  # MAF sampling: D passes.
            return self._made.solve(self._g, x, self._context)
        return self._one_pass(x, self._g)

    def _inverse_and_log_det(self, y):
        y = self._check(y, "y")
        if self._params_from_output:  # MAF density: one pass.
            x, fldj = self._one_pass(y, self._g_inverse)
        else:  # IAF density: D passes.
            x, fldj = self._made.solve(self._g_inverse, y, self._context)
        return x, -fldj


class MAF(_MaskedAutoregressive):
    """Masked autoregressive flow (Papamakarios et al. 2017).

    `y_d = g(x_d; theta_d(y_{<d}))` with `theta = made(y)`: `inverse` (density)
    is one MADE pass, `forward` (sampling) `D` sequential passes in a
    `tf.while_loop` (XLA-compilable). With `transform='affine'` and
    `log_scale_bound=None` this is exactly `tfb.MaskedAutoregressiveFlow`
    with `shift_and_log_scale_fn = made`.

    Args:
      made: a `tfp_flows.nn.MADE` with `event_size=D` and `num_params=2`
        (`3 * num_bins - 1` for the spline, `3 * K * L` for `'sigmoidal'`;
        in general `transform_num_params(transform, ...)` of this module).
      transform: `'affine'` (shift, log-scale), `'gated'` (Kingma's update),
        `'spline'` (rational-quadratic, Durkan et al. 2019; all-zero MADE
        outputs give the identity), `'sigmoidal'` (DSF, Huang et al. 2018)
        or `'dense_sigmoidal'` (DDSF). The sigmoidal transformers map data
        to base in MAF (so sampling solves numerically) and base to data in
        IAF (so the density of given data solves numerically).
      log_scale_bound: affine only: `log_scale = b * tanh(raw / b)` (a smooth
        clamp that keeps every scale in `(e^-b, e^b)`); None: `log_scale = raw`.
      gate_bias: gated only: `sigma = sigmoid(s + gate_bias)`, so that at
        initialization (`s ~ 0`) sigma is close to 1 (Kingma et al. use +1/+2).
      num_bins: spline only: K bins (`3K - 1` MADE outputs per dimension).
      spline_bound: spline only: it maps `[-B, B]` onto itself; the identity
        outside (after ActNorm, data lie mostly within `[-3, 3]`).
      num_hidden_sigmoids: sigmoidal only: K sigmoid units per layer (the
        paper's `d`; the authors' `num_ds_dim`).
      sigmoid_layers: sigmoidal only: L layers (composed DSFs, the authors'
        `num_ds_layers`; for DDSF the depth of the dense network).
      context: bind a context `[C]` or `[..., C]` (conditional MADE only).
      validate_args: check for NaN/Inf in inputs.
      name: bijector name.

    Raises:
      TypeError, ValueError: for a bad `made`, `transform`, `log_scale_bound`,
        `num_bins`, `spline_bound`, `num_hidden_sigmoids`, `sigmoid_layers`
        or `context`.

    #### Examples

    >>> made = MADE(3, hidden_units=[8], seed=0)
    >>> bij = MAF(made)
    >>> x = tf.random.stateless_normal([2, 3], seed=[1, 2])
    >>> y = bij.forward(x)
    >>> bool(tf.reduce_all(tf.abs(bij.inverse(tf.identity(y)) - x) < 1e-5))
    True
    >>> naf = MAF(MADE(3, num_params=12, hidden_units=[8], seed=0),
    ...           transform="sigmoidal", num_hidden_sigmoids=4)
    >>> y = naf.forward(x)  # sampling direction: a bracketed Newton solve
    >>> bool(tf.reduce_all(tf.abs(naf.inverse(tf.identity(y)) - x) < 1e-4))
    True

    #### References

    Papamakarios, Pavlakou, Murray. Masked Autoregressive Flow for Density
    Estimation. NeurIPS 2017. https://arxiv.org/abs/1705.07057

    Durkan, Bekasov, Murray, Papamakarios. Neural Spline Flows. NeurIPS 2019.
    https://arxiv.org/abs/1906.04032

    Huang, Krueger, Lacoste, Courville. Neural Autoregressive Flows. ICML
    2018. https://arxiv.org/abs/1804.00779
    """

    _params_from_output = True
    _default_name = "maf"


class IAF(_MaskedAutoregressive):
    """Inverse autoregressive flow (Kingma et al. 2016).

    `y_d = g(x_d; theta_d(x_{<d}))` with `theta = made(x)`: `forward`
    (sampling) is one MADE pass, `inverse` (density of given data) takes `D`
    sequential passes. The default transform is the gated update
    `y = sigma * x + (1 - sigma) * m` of the paper.

    Args: as `MAF`; `transform` defaults to `'gated'`.

    #### Examples

    >>> made = MADE(3, hidden_units=[8], seed=0)
    >>> bij = IAF(made)
    >>> x = tf.random.stateless_normal([2, 3], seed=[1, 2])
    >>> y = bij.forward(x)
    >>> bool(tf.reduce_all(tf.abs(bij.inverse(tf.identity(y)) - x) < 1e-5))
    True

    #### References

    Kingma, Salimans, Jozefowicz, Chen, Sutskever, Welling. Improved
    Variational Inference with Inverse Autoregressive Flow. NeurIPS 2016.
    https://arxiv.org/abs/1606.04934

    Huang, Krueger, Lacoste, Courville. Neural Autoregressive Flows. ICML
    2018 (the `'sigmoidal'` / `'dense_sigmoidal'` transforms).
    https://arxiv.org/abs/1804.00779
    """

    _params_from_output = False
    _default_name = "iaf"

    def __init__(self, made: MADE, *, transform: str = "gated", **kwargs: Any):
        super().__init__(made, transform=transform, **kwargs)
