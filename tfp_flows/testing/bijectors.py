"""`check_bijector`: the checks every bijector of this package passes, for yours.

The same function runs this package's registry of bijectors
(`tests/test_registry.py`); see `docs/extending.md` for writing a bijector.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from tensorflow_probability import bijectors as tfb

from tfp_flows.internal.types import DTypeLike
from tfp_flows.internal.types import TensorLike

__all__ = ["CHECKS", "OPTIONAL_CHECKS", "check_bijector", "perturb_weights"]

# Run by default, in this order.
CHECKS = (
    "round_trip",
    "fldj_vs_ildj",
    "fldj_vs_autodiff",
    "ldj_shapes",
    "gradients",
    "eager_function_xla",
)
# Run only when asked for.
OPTIONAL_CHECKS = ("round_trip_far_out",)
_NEED_INVERSE = ("round_trip", "fldj_vs_ildj", "round_trip_far_out")

# Default (rtol, atol) per dtype; the autodiff Jacobian's own.
_TOLERANCES = {tf.float32: (1e-4, 1e-4), tf.float64: (1e-9, 1e-9)}
_AUTODIFF_TOLERANCES = {tf.float32: (1e-3, 1e-3), tf.float64: (1e-6, 1e-6)}
_OTHER_DTYPES = (1e-2, 1e-2)  # float16 / bfloat16


class _Context:
    """What every check needs: the bijector, the event and the tolerances."""

    def __init__(
        self,
        bijector,
        event_shape,
        dtype,
        *,
        has_inverse,
        num_weights,
        input_fn,
        tolerances,
        context_shape=None,
        far_out_scales=(1.0, 10.0, 100.0, 1000.0),
    ):
        self.unbound = bijector
        self.far_out_scales = tuple(float(v) for v in far_out_scales)
        self.context_shape = None if context_shape is None else tuple(context_shape)
        self.bijector = bijector
        self.event_shape = tuple(event_shape)
        self.nd = len(event_shape)
        self.dtype = dtype
        self.has_inverse = has_inverse
        self.num_weights = num_weights
        self.input_fn = input_fn
        self.tolerances = tolerances
        self.check = None  # the check running

    def context(self, batch_shape, seed):
        """A standard normal context `batch_shape + context_shape` (or None)."""
        if self.context_shape is None:
            return None
        rng = np.random.RandomState(1000 + seed)
        shape = tuple(batch_shape) + self.context_shape
        return tf.constant(rng.normal(size=shape), dtype=self.dtype)

    def bound(self, batch_shape, seed, context=None):
        """The bijector, bound to a context of `batch_shape` if conditional."""
        if self.context_shape is None:
            return self.unbound
        if context is None:
            context = self.context(batch_shape, seed)
        return self.unbound.with_context(context)

    def tol(self, check=None):
        return self.tolerances[check or self.check]

    def sample(self, batch_shape, seed):
        shape = tuple(batch_shape) + self.event_shape
        if self.input_fn is not None:
            return tf.cast(self.input_fn(shape, seed), self.dtype)
        rng = np.random.RandomState(seed)
        return tf.constant(rng.normal(size=shape), dtype=self.dtype)

    def fail(self, message, cause=None):
        b = self.bijector
        raise AssertionError(
            f"check_bijector: check '{self.check}' failed for "
            f"{type(b).__name__} '{b.name}' (event_shape={list(self.event_shape)}, "
            f"{self.dtype.name}): {message}"
        ) from cause

    def expect_shape(self, what, t, shape):
        if tuple(t.shape) != tuple(shape):
            self.fail(f"{what} has shape {list(t.shape)}; expected {list(shape)}.")

    def expect_finite(self, what, t):
        a = np.asarray(t)
        bad = ~np.isfinite(a)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            self.fail(
                f"{what} has {int(bad.sum())} non-finite values of {a.size} "
                f"(first at index {first}: {a[first]!r})."
            )

    def expect_close(self, what, actual, expected, names=("got", "expected"), tol=None):
        """`|actual - expected| <= atol + rtol * |expected|` everywhere."""
        rtol, atol = tol or self.tol()
        a = np.asarray(actual, np.float64)
        e = np.asarray(expected, np.float64)
        if a.shape != e.shape:
            self.fail(
                f"{what}: {names[0]} has shape {list(a.shape)}, {names[1]} "
                f"{list(e.shape)}."
            )
        with np.errstate(invalid="ignore", over="ignore"):
            diff = np.abs(a - e)
            ok = (
                (a == e)
                | (diff <= atol + rtol * np.abs(e))
                | (np.isnan(a) & np.isnan(e))
            )
        if ok.all():
            return
        bad = ~ok
        worst = np.where(bad, np.nan_to_num(diff, nan=np.inf), -1.0)
        position = np.unravel_index(int(np.argmax(worst)), a.shape) if a.ndim else ()
        idx = tuple(int(i) for i in position)

        def show(t):
            text = np.array2string(t, threshold=8, edgeitems=3, precision=6)
            return text.replace("\n", "\n    ")

        self.fail(
            f"{what}: {int(bad.sum())} of {a.size} values differ by more than "
            f"atol + rtol * |{names[1]}| (rtol={rtol:g}, atol={atol:g}); worst at "
            f"index {idx}: {names[0]}={a[idx]:.9g}, {names[1]}={e[idx]:.9g}, "
            f"|difference|={diff[idx]:.3g}.\n  {names[0]}: {show(a)}\n"
            f"  {names[1]}: {show(e)}"
        )


def _fresh(t):
    """A new tensor object: defeats TFP's bijector result cache."""
    return tf.identity(t)


def _n(t):
    return np.asarray(t)


# -- the checks --------------------------------------------------------------
def _round_trip(c):
    b = c.bound([3], seed=0)
    x = c.sample([3], seed=0)
    y = b.forward(x)
    if y.dtype != c.dtype:
        c.fail(f"forward(x) has dtype {y.dtype.name}; expected {c.dtype.name}.")
    c.expect_finite("forward(x)", y)
    x_rec = b.inverse(_fresh(y))
    c.expect_close(
        "inverse(forward(x)) != x", x_rec, x, names=("inverse(forward(x))", "x")
    )


def _round_trip_far_out(c):
    """The round trip on 64 inputs at scales 1, 10, 100 and 1000.

    Far out in the tails an iterative inverse (Newton, bisection) with a fixed
    budget or a bad bracket stops early or diverges.
    """
    b = c.bound([64], seed=5)
    for scale in c.far_out_scales:
        x = c.sample([64], seed=5) * scale
        x_rec = b.inverse(_fresh(b.forward(x)))
        c.expect_finite(f"inverse(forward(x)) at input scale {scale:g}", x_rec)
        c.expect_close(
            f"inverse(forward(x)) != x at input scale {scale:g}",
            x_rec,
            x,
            names=("inverse(forward(x))", "x"),
        )


def _fldj_vs_ildj(c):
    b = c.bound([3], seed=0)
    x = c.sample([3], seed=0)
    y = b.forward(_fresh(x))
    fldj = b.forward_log_det_jacobian(_fresh(x), event_ndims=c.nd)
    ildj = b.inverse_log_det_jacobian(
        _fresh(y), event_ndims=b.inverse_event_ndims(c.nd)
    )
    c.expect_shape("forward_log_det_jacobian(x) for a batch of 3", fldj, (3,))
    c.expect_finite("forward_log_det_jacobian(x)", fldj)
    c.expect_close(
        "forward_log_det_jacobian(x) != -inverse_log_det_jacobian(forward(x))",
        fldj,
        -_n(ildj),
        names=("fldj", "-ildj"),
    )


def _fldj_vs_autodiff(c):
    """The fldj against slogdet of the autodiff Jacobian on the flattened event."""
    b = c.bound([2], seed=1)
    x = c.sample([2], seed=1)
    size = int(np.prod(c.event_shape))
    x_flat = tf.reshape(x, [2, size])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x_flat)
        y = b.forward(tf.reshape(x_flat, [2, *c.event_shape]))
        y_flat = tf.reshape(y, [2, -1])
    jac = tape.batch_jacobian(y_flat, x_flat, experimental_use_pfor=False)
    if jac is None:
        c.fail("forward(x) does not depend on x (the Jacobian is None).")
    c.expect_shape(
        "the Jacobian of forward on the flattened event (a bijection keeps "
        "the event size)",
        jac,
        (2, size, size),
    )
    _, logabsdet = np.linalg.slogdet(_n(jac).astype(np.float64))
    fldj = b.forward_log_det_jacobian(_fresh(x), event_ndims=c.nd)
    c.expect_close(
        "forward_log_det_jacobian(x) != log|det| of the autodiff Jacobian",
        fldj,
        logabsdet,
        names=("fldj", "slogdet(jacobian)"),
    )


def _ldj_shapes(c):
    """Extra batch dims are kept; extra event dims are summed over."""
    b, nd = c.bound([2, 3], seed=2), c.nd
    x = c.sample([2, 3], seed=2)
    ldj = b.forward_log_det_jacobian(_fresh(x), event_ndims=nd)
    c.expect_shape(
        f"forward_log_det_jacobian(x, event_ndims={nd}) for batch shape [2, 3]",
        ldj,
        (2, 3),
    )
    ldj_more = b.forward_log_det_jacobian(_fresh(x), event_ndims=nd + 1)
    c.expect_shape(
        f"forward_log_det_jacobian(x, event_ndims={nd + 1}) for batch shape "
        "[2, 3] (one batch dim summed over)",
        ldj_more,
        (2,),
    )
    c.expect_close(
        f"forward_log_det_jacobian(x, event_ndims={nd + 1}) != the sum over "
        f"the last batch dim of event_ndims={nd}",
        ldj_more,
        _n(ldj).sum(axis=1),
        names=(f"ldj(event_ndims={nd + 1})", f"sum of ldj(event_ndims={nd})"),
    )
    if c.has_inverse:
        y = b.forward(_fresh(x))
        ildj = b.inverse_log_det_jacobian(_fresh(y), event_ndims=nd)
        c.expect_shape(
            f"inverse_log_det_jacobian(y, event_ndims={nd}) for batch shape [2, 3]",
            ildj,
            (2, 3),
        )


def _gradients(c):
    variables = c.unbound.trainable_variables
    names = [v.name for v in variables]
    if c.num_weights is not None and len(variables) != c.num_weights:
        c.fail(
            f"expected {c.num_weights} trainable variables, got {len(variables)}: "
            f"{names}."
        )
    if c.num_weights is None and not variables:
        c.fail(
            "the bijector lists no trainable variables: register the Keras "
            "layers that own its weights with `track_keras_layer` (or pass "
            "num_weights=0 for a bijector without parameters)."
        )
    x = c.sample([4], seed=3)
    ctx = c.context([4], seed=3)
    with tf.GradientTape(persistent=True) as tape:
        if ctx is not None:
            tape.watch(ctx)
        b = c.bound([4], seed=3, context=ctx)
        y = b.forward(_fresh(x))
        loss = tf.reduce_sum(tf.sin(y)) + tf.reduce_sum(
            b.forward_log_det_jacobian(_fresh(x), event_ndims=c.nd)
        )
        if c.has_inverse:
            loss += tf.reduce_sum(
                b.inverse_log_det_jacobian(_fresh(y) + 0.0, event_ndims=c.nd)
            )
    grads = tape.gradient(loss, variables)
    if ctx is not None:
        g_ctx = tape.gradient(loss, ctx)
        if g_ctx is None or not np.any(_n(tf.convert_to_tensor(g_ctx)) != 0):
            c.fail(
                "forward(x) and the log-dets do not depend on the bound context "
                f"(shape {list(ctx.shape)}): `with_context` binds nothing the "
                "bijector uses."
            )
    for v, g in zip(variables, grads, strict=True):
        if g is None:
            c.fail(
                f"no gradient reaches the trainable variable {v.name!r} (shape "
                f"{v.shape.as_list()}) from forward, its log-det"
                + (" and the inverse log-det" if c.has_inverse else "")
                + ": the bijector does not use it."
            )
        g = _n(tf.convert_to_tensor(g))
        if not np.all(np.isfinite(g)):
            c.fail(f"non-finite gradient for {v.name!r}: {g!r}.")
        if not np.any(g != 0):
            c.fail(
                f"zero gradient for {v.name!r} (shape {v.shape.as_list()}): it "
                "has no effect on forward or the log-det at these inputs."
            )


def _eager_function_xla(c):
    """Eager, tf.function and XLA agree, with an unknown batch dimension."""
    nd = c.nd
    x = c.sample([3], seed=4)
    ctx = c.context([3], seed=4)
    names = ["forward(x)", "forward_log_det_jacobian(x)"]
    if c.has_inverse:
        names += ["inverse(y)", "inverse_log_det_jacobian(y)"]

    def run(x, ctx=None):
        b = c.bound([], seed=4, context=ctx)
        y = b.forward(x)
        fldj = b.forward_log_det_jacobian(x, event_ndims=nd)
        out = [y, fldj]
        if c.has_inverse:
            y2 = tf.identity(y) * 1.0
            out += [b.inverse(y2), b.inverse_log_det_jacobian(y2, event_ndims=nd)]
        return out

    specs = [tf.TensorSpec([None, *c.event_shape], c.dtype)]
    args = [x]
    if ctx is not None:
        specs.append(tf.TensorSpec([None, *(c.context_shape or ())], c.dtype))
        args.append(ctx)
    eager = run(*[_fresh(a) for a in args])
    modes = {}
    for mode, jit in (("tf.function", False), ("XLA", True)):
        fn = tf.function(run, input_signature=specs, jit_compile=jit)
        try:
            modes[mode] = fn(*[_fresh(a) for a in args])
        except Exception as e:  # noqa: BLE001 - reported with the mode
            c.fail(
                f"{mode} (input_signature with an unknown batch dimension) "
                f"raised {type(e).__name__}: {e}",
                cause=e,
            )
    for mode, outs in modes.items():
        for name, want, g in zip(names, eager, outs, strict=True):
            c.expect_close(
                f"{name} under {mode} != eager", g, want, names=(mode, "eager")
            )


_RUNNERS = {
    "round_trip": _round_trip,
    "round_trip_far_out": _round_trip_far_out,
    "fldj_vs_ildj": _fldj_vs_ildj,
    "fldj_vs_autodiff": _fldj_vs_autodiff,
    "ldj_shapes": _ldj_shapes,
    "gradients": _gradients,
    "eager_function_xla": _eager_function_xla,
}


def _infer_dtype(bijector):
    if bijector.dtype is not None:
        return tf.as_dtype(bijector.dtype)
    for v in bijector.trainable_variables:
        if v.dtype.is_floating:
            return v.dtype
    return tf.float32


def _tolerances(dtype, rtol, atol, overrides):
    default = _TOLERANCES.get(dtype, _OTHER_DTYPES)
    autodiff = _AUTODIFF_TOLERANCES.get(dtype, _OTHER_DTYPES)
    base = (
        default[0] if rtol is None else float(rtol),
        default[1] if atol is None else float(atol),
    )
    out = {name: base for name in CHECKS + OPTIONAL_CHECKS}
    out["fldj_vs_autodiff"] = (
        autodiff[0] if rtol is None else float(rtol),
        autodiff[1] if atol is None else float(atol),
    )
    overrides = dict(overrides or {})
    unknown = set(overrides) - set(out)
    if unknown:
        raise ValueError(
            f"check_bijector: argument `tolerances` has unknown check names "
            f"{sorted(unknown)}; the checks are {list(CHECKS + OPTIONAL_CHECKS)}."
        )
    if "round_trip" in overrides and "round_trip_far_out" not in overrides:
        overrides["round_trip_far_out"] = overrides["round_trip"]
    for name, t in overrides.items():
        if not isinstance(t, Mapping) or not set(t) <= {"rtol", "atol"}:
            raise ValueError(
                f"check_bijector: argument `tolerances[{name!r}]` must be a dict "
                f"with keys 'rtol' and/or 'atol'; got {t!r}."
            )
        out[name] = (
            float(t.get("rtol", out[name][0])),
            float(t.get("atol", out[name][1])),
        )
    return out


def check_bijector(
    bijector: tfb.Bijector,
    event_shape: Sequence[int],
    *,
    checks: Sequence[str] | None = None,
    dtype: DTypeLike | None = None,
    has_inverse: bool = True,
    num_weights: int | None = None,
    input_fn: Callable[[tuple[int, ...], int], TensorLike] | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    tolerances: Mapping[str, Mapping[str, float]] | None = None,
    context_shape: Sequence[int] | None = None,
    far_out_scales: Sequence[float] = (1.0, 10.0, 100.0, 1000.0),
) -> list[str]:
    """Checks that a bijector is a correct, trainable, compilable bijection.

    The checks every bijector of this package passes (`tests/test_registry.py`
    runs them through this function), in this order:

    * `round_trip`: `inverse(forward(x)) == x`, `forward(x)` finite and of
      `dtype`;
    * `fldj_vs_ildj`: `forward_log_det_jacobian(x) == -inverse_log_det_jacobian(
      forward(x))`, one finite value per batch member;
    * `fldj_vs_autodiff`: `forward_log_det_jacobian(x)` equals `log|det J|` of
      the autodiff Jacobian `J` of `forward` on the flattened event
      (`tf.GradientTape.batch_jacobian`, determinant in float64; build the
      bijector in float64 for the sharpest check);
    * `ldj_shapes`: with batch shape `[2, 3]` the log-det has shape `[2, 3]`;
      with `event_ndims` one larger it has shape `[2]` and is the sum over
      the extra dimension;
    * `gradients`: `trainable_variables` is not empty (or has `num_weights`
      entries) and a loss of `forward(x)` and the log-dets has a finite,
      non-zero gradient for every one of them (a weight the bijector holds
      but does not use, or Keras weights it does not track, fail here);
    * `eager_function_xla`: `forward`, `inverse` and both log-dets agree
      eagerly, in `tf.function` and in `tf.function(jit_compile=True)`, traced
      with an unknown batch dimension.

    and, when asked for in `checks`, `round_trip_far_out` (the round trip at
    input scales `far_out_scales`, 1 to 1000 by default, for iterative
    inverses).

    A conditional bijector (one with `with_context`, e.g. a
    `ContextBijector` built with a `context_shape`) is checked with
    `context_shape`: every check binds a standard normal context with the
    batch of its inputs (`bijector.with_context(c)`), `gradients` also
    requires a non-zero gradient with respect to the context (a context that
    is bound but unused fails) and reaching every weight, including the
    conditioning network's, and `eager_function_xla` traces the context as a
    second input with an unknown batch dimension.

    The inputs are standard normal (or `input_fn`'s), batches of 2 to 4,
    seeded: the result is deterministic. Nothing is changed: a bijector
    initialized at the identity is checked at the identity; perturb its
    weights first (`perturb_weights`) to check it elsewhere. Keep the event
    small (the Jacobian check builds a `size x size` matrix).

    Args:
      bijector: the `tfb.Bijector` to check (e.g. a `FusedBijector` subclass).
      event_shape: the event shape of `forward`'s input, e.g. `[4]` or
        `[4, 4, 2]`; its length is the `event_ndims` used.
      checks: names of the checks to run (default: `CHECKS`, without those
        that need an inverse when `has_inverse=False`).
      dtype: dtype of the inputs; default: `bijector.dtype`, else the dtype of
        its first trainable variable, else float32.
      has_inverse: whether `inverse` exists; False skips the checks that need
        it.
      num_weights: the number of trainable variables the bijector must list;
        None: at least one.
      input_fn: `input_fn(shape, seed) -> array` of inputs in the bijector's
        domain (default: standard normal).
      rtol: relative tolerance of every check, `|got - expected| <= atol +
        rtol * |expected|` (default per dtype: 1e-4 in float32, 1e-9 in
        float64; 1e-3 and 1e-6 for `fldj_vs_autodiff`).
      atol: absolute tolerance of every check (defaults as `rtol`'s).
      tolerances: per-check overrides, `{check name: {'rtol': ..., 'atol':
        ...}}` (`round_trip_far_out` defaults to `round_trip`'s).
      context_shape: the context's event shape for a conditional bijector
        (`(C,)` or `(H, W, C)`); None for an unconditional one.
      far_out_scales: the input scales of `round_trip_far_out` (standard
        normal inputs times each scale).

    Returns:
      The names of the checks that ran (all passed).

    Raises:
      AssertionError: a check failed; the message names the check, the
        bijector, what differed (values, worst index) and the tolerance. An
        exception inside a check is re-raised as an AssertionError naming the
        check (the original is its `__cause__`).
      TypeError: if `bijector` is not a `tfb.Bijector`, or `context_shape`
        is given for one without `with_context`.
      ValueError: for a bad `event_shape`, unknown check names, a check that
        needs an inverse with `has_inverse=False`, a non-floating `dtype` or
        malformed `tolerances`.

    #### Examples

    >>> from tfp_flows.bijectors import ActNorm
    >>> act = ActNorm(3, event_ndims=1, dtype=tf.float64)
    >>> perturb_weights(act, 0.5)  # off the identity it starts at
    >>> check_bijector(act, [3]) == list(CHECKS)  # every check ran and passed
    True

    A broken log-det fails with a message naming the check, the values and
    the tolerance:

    >>> import tensorflow_probability as tfp
    >>> class WrongLogDet(tfp.bijectors.Exp):  # log|dy/dx| is x, not 2x
    ...     def _forward_log_det_jacobian(self, x):
    ...         return 2.0 * x
    >>> try:  # doctest: +ELLIPSIS +NORMALIZE_WHITESPACE
    ...     check_bijector(
    ...         WrongLogDet(), [], checks=["fldj_vs_autodiff"], dtype=tf.float64
    ...     )
    ... except AssertionError as e:
    ...     print(e)
    check_bijector: check 'fldj_vs_autodiff' failed for WrongLogDet 'exp'
    (event_shape=[], float64): forward_log_det_jacobian(x) != log|det| of the
    autodiff Jacobian: 2 of 2 values differ by more than atol + rtol *
    |slogdet(jacobian)| (rtol=1e-06, atol=1e-06); worst at index ...
    """
    if not isinstance(bijector, tfb.Bijector):
        raise TypeError(
            "check_bijector: argument `bijector` must be a tfb.Bijector; got "
            f"{type(bijector).__name__}."
        )
    if isinstance(event_shape, (int, np.integer)) or not all(
        isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0
        for s in event_shape
    ):
        raise ValueError(
            "check_bijector: argument `event_shape` must be a sequence of "
            f"positive ints (e.g. [4] or [4, 4, 2]); got {event_shape!r}."
        )
    if context_shape is not None:
        if not callable(getattr(bijector, "with_context", None)):
            raise TypeError(
                "check_bijector: argument `context_shape` was given, but "
                f"{type(bijector).__name__} has no `with_context` method."
            )
        if isinstance(context_shape, (int, np.integer)) or not all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0
            for s in context_shape
        ):
            raise ValueError(
                "check_bijector: argument `context_shape` must be a sequence of "
                f"positive ints (e.g. [3]); got {context_shape!r}."
            )
    tf_dtype = tf.as_dtype(dtype) if dtype is not None else _infer_dtype(bijector)
    if not tf_dtype.is_floating:
        raise ValueError(
            "check_bijector: argument `dtype` must be a floating dtype; got "
            f"{tf_dtype!r}."
        )
    if checks is None:
        names = [n for n in CHECKS if has_inverse or n not in _NEED_INVERSE]
    else:
        names = [checks] if isinstance(checks, str) else list(checks)
        known = CHECKS + OPTIONAL_CHECKS
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(
                f"check_bijector: argument `checks` has unknown names {unknown}; "
                f"the checks are {list(known)}."
            )
        if not has_inverse:
            need = [n for n in names if n in _NEED_INVERSE]
            if need:
                raise ValueError(
                    f"check_bijector: checks {need} need an inverse, but "
                    "has_inverse=False."
                )
    if not far_out_scales or not all(
        isinstance(v, (int, float, np.integer, np.floating)) and v > 0
        for v in far_out_scales
    ):
        raise ValueError(
            "check_bijector: argument `far_out_scales` must be a non-empty "
            f"sequence of positive numbers; got {far_out_scales!r}."
        )
    if num_weights is not None and (
        isinstance(num_weights, bool)
        or not isinstance(num_weights, (int, np.integer))
        or num_weights < 0
    ):
        raise ValueError(
            "check_bijector: argument `num_weights` must be None or an integer "
            f">= 0; got {num_weights!r}."
        )
    context = _Context(
        bijector,
        [int(s) for s in event_shape],
        tf_dtype,
        has_inverse=bool(has_inverse),
        num_weights=num_weights,
        input_fn=input_fn,
        tolerances=_tolerances(tf_dtype, rtol, atol, tolerances),
        context_shape=None
        if context_shape is None
        else [int(s) for s in context_shape],
        far_out_scales=far_out_scales,
    )
    for name in names:
        context.check = name
        try:
            _RUNNERS[name](context)
        except AssertionError:
            raise
        except Exception as e:  # noqa: BLE001 - re-raised, naming the check
            context.fail(f"raised {type(e).__name__}: {e}", cause=e)
    return names


def perturb_weights(bijector: tfb.Bijector, scale: float, seed: int = 0) -> None:
    """Adds `N(0, scale^2)` noise to every trainable variable (seeded).

    Bijectors often start at the identity (zero-initialized output layers),
    where some errors cannot show; move them off it before `check_bijector`.

    Args:
      bijector: a bijector (or any `tf.Module`) with `trainable_variables`.
      scale: the noise's standard deviation.
      seed: numpy seed of the noise.
    """
    rng = np.random.RandomState(seed)
    for v in bijector.trainable_variables:
        v.assign_add(
            tf.constant(rng.normal(scale=scale, size=v.shape.as_list()), v.dtype)
        )
