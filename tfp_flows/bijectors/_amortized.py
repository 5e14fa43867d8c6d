"""Not public API: shared code of the variational-inference bijectors.

Two things Planar, Radial and Sylvester flows share:

1. Parameters that come either from the bijector's own Keras 3 weights or,
   amortized, from a context vector `c` (an encoder's output) through a linear
   map owned by the bijector: `theta(c) = c @ kernel + bias`. The bias starts at
   the unamortized initial values, so both variants start at the same flow.
2. A batched solver of the monotone scalar equation `v + p * tanh(q * v + s) = t`
   (with `p * q > -1`), which the planar and Sylvester inverses reduce to.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfp_flows.bijectors.base import ContextBijector
from tfp_flows.internal import checks
from tfp_flows.internal.conditioning import check_context
from tfp_flows.internal.conditioning import check_finite_context
from tfp_flows.internal.conditioning import check_no_context
from tfp_flows.internal.keras import WeightStore
from tfp_flows.internal.types import TensorLike

__all__ = ["AmortizedBijector", "solve_tanh_equation"]


def solve_tanh_equation(
    t: TensorLike,
    p: TensorLike,
    q: TensorLike,
    s: TensorLike,
    *,
    max_iterations: int = 60,
) -> tf.Tensor:
    """Solves `v + p * tanh(q * v + s) = t` elementwise for `v` (needs `p*q > -1`).

    The left side `g(v)` is strictly increasing (`g' = 1 + p q tanh'(.) > 0`
    because `tanh' in (0, 1]` and `p q > -1`), so the root is unique. Since
    `|tanh| <= 1`, it lies in the bracket `[t - |p|, t + |p|]`:

      1. `g(t - |p|) - t = -|p| + p tanh(.) <= 0`,
      2. `g(t + |p|) - t = +|p| + p tanh(.) >= 0`.

    Each iteration takes a Newton step from the current point and falls back to
    bisection when the step leaves the bracket, then shrinks the bracket with
    the sign of `g - t` (safeguarded Newton, Numerical Recipes' `rtsafe`). The
    loop stops when every element's step is below float resolution or after
    `max_iterations`; it is a `tf.while_loop` and compiles under XLA.

    Args:
      t: right-hand side, float tensor.
      p: outer coefficient (broadcastable with `t`).
      q: inner slope (broadcastable; `p * q > -1`).
      s: inner shift (broadcastable).
      max_iterations: bound on the iterations (bisection alone gains one bit
        per iteration; Newton converges quadratically near the root).

    Returns:
      `v`, with the broadcast shape of the inputs.
    """
    t, p, q, s = [tf.convert_to_tensor(a) for a in (t, p, q, s)]
    t, p, q, s = _broadcast(t, p, q, s)
    dtype = t.dtype
    eps = tf.constant(np.finfo(dtype.as_numpy_dtype).eps, dtype)
    lo = t - tf.abs(p)
    hi = t + tf.abs(p)
    v = t - p * tf.tanh(q * t + s)  # one fixed-point step: exact when p*tanh is flat
    v = tf.clip_by_value(v, lo, hi)

    def body(i, v, lo, hi, done):
        th = tf.tanh(q * v + s)
        f = v + p * th - t
        df = 1.0 + p * q * (1.0 - th * th)
        lo = tf.where(f < 0, v, lo)
        hi = tf.where(f > 0, v, hi)
        newton = v - f / df
        inside = (newton > lo) & (newton < hi)
        v_new = tf.where(inside, newton, 0.5 * (lo + hi))
        v_new = tf.where(f == 0, v, v_new)
        step = tf.abs(v_new - v)
        done = step <= 4.0 * eps * (1.0 + tf.abs(v_new))
        return i + 1, v_new, lo, hi, done

    def cond(i, v, lo, hi, done):
        return tf.logical_not(tf.reduce_all(done))

    done0 = tf.zeros_like(t, dtype=tf.bool)
    _, v, _, _, _ = tf.while_loop(
        cond,
        body,
        (tf.constant(0), v, lo, hi, done0),
        maximum_iterations=max_iterations,
    )
    # Gradients by the implicit function theorem, not through the loop: one
    # Newton step from the (constant) root has, at the root, the derivative
    # dv/dtheta = -(dg/dtheta - dt/dtheta) / g'(v).
    v = tf.stop_gradient(v)
    th = tf.tanh(q * v + s)
    return v - (v + p * th - t) / (1.0 + p * q * (1.0 - th * th))


def _broadcast(*tensors):
    shape = tf.shape(tensors[0])
    for x in tensors[1:]:
        shape = tf.broadcast_dynamic_shape(shape, tf.shape(x))
    return [tf.broadcast_to(x, shape) for x in tensors]


class AmortizedBijector(ContextBijector):
    """Base of the VI flows: named parameters from weights or from a context.

    Subclasses call `_init_common(...)` before `super().__init__` and
    `_setup_parameters(specs)` in `__init__` after it, where `specs` maps a
    name to `(shape, initial numpy value)`, and read `self._params()` (a dict
    of tensors of shape `batch + shape`, batch `[]` without a context) in
    their hooks. An amortized bijector (`context_size=C`) is a conditional
    `ContextBijector` with `context_shape == (C,)`: `with_context` is the
    base class's, and the context checks are the package's one
    (`internal/conditioning.check_context`), plus finiteness.
    """

    _owner = "AmortizedBijector"

    def _init_common(self, event_size, context_size, context, dtype):
        owner = self._owner
        self._event_size = checks.check_positive_int(event_size, "event_size", owner)
        self._context_size = (
            None
            if context_size is None
            else checks.check_positive_int(context_size, "context_size", owner)
        )
        self._weight_dtype = checks.check_dtype_arg(dtype, owner)
        self._init_context(
            None if self._context_size is None else (self._context_size,)
        )
        if context is not None:
            if self._context_size is None:
                check_no_context(context, owner)
            context = check_context(
                context, self._context_shape or (), self._weight_dtype, owner
            )
            self._context = check_finite_context(context, owner)

    def _context_dtype(self) -> tf.DType:
        return self._weight_dtype

    def _bind_parts(self, context):
        # `with_context` has checked dtype and shape; a VI context (an
        # encoder's output) is also checked for NaN/Inf when eager.
        check_finite_context(context, self._owner)

    def _setup_parameters(self, specs, store=None):
        """Creates (or shares, with `store`) the Keras weights of `specs`."""
        self._specs = dict(specs)
        self._sizes = {k: int(np.prod(shape)) for k, (shape, _) in self._specs.items()}
        self._num_raw = sum(self._sizes.values())
        if store is None:
            store = WeightStore(
                name=self.name.rstrip("/") or self._owner.lower(),
                dtype=self._weight_dtype,
            )
            if self._context_size is None:
                for key, (shape, init) in self._specs.items():
                    store.add(key, shape, np.asarray(init, np.float64))
            else:
                flat = np.concatenate(
                    [
                        np.asarray(init, np.float64).reshape(-1)
                        for _, init in self._specs.values()
                    ]
                )
                rng = np.random.default_rng(self._seed)
                store.add(
                    "context_kernel",
                    [self._context_size, self._num_raw],
                    rng.normal(
                        scale=0.01 / np.sqrt(self._context_size),
                        size=[self._context_size, self._num_raw],
                    ),
                )
                store.add("context_bias", [self._num_raw], flat)
        self._store = self._track_keras_layer(store)

    @property
    def event_size(self) -> int:
        """D, the size of the event."""
        return self._event_size

    @property
    def context_size(self) -> int | None:
        """C when the parameters come from a context, else None."""
        return self._context_size

    @property
    def weight_store(self) -> WeightStore:
        """The Keras 3 layer that owns this bijector's weights."""
        return self._store

    def _params(self):
        """Raw parameters: dict of tensors `batch + shape`."""
        owner = self._owner
        weights = {w.name.split("/")[-1]: w for w in self._store.weights}
        if self._context_size is None:
            out = {k: tf.convert_to_tensor(weights[k]) for k in self._specs}
        else:
            c = self._require_context()
            flat = (
                tf.linalg.matvec(weights["context_kernel"], c, transpose_a=True)
                + weights["context_bias"]
            )
            batch = tf.shape(flat)[:-1]
            out, start = {}, 0
            for key, (shape, _) in self._specs.items():
                size = self._sizes[key]
                part = flat[..., start : start + size]
                out[key] = tf.reshape(part, tf.concat([batch, list(shape)], 0))
                start += size
        if self.validate_args:
            for key, value in out.items():
                message = (
                    f"{owner}: parameter `{key}` contains NaN or Inf "
                    "(validate_args=True)."
                )
                if tf.executing_eagerly():
                    if not bool(tf.reduce_all(tf.math.is_finite(value))):
                        raise ValueError(message)
                else:
                    out[key] = tf.debugging.assert_all_finite(value, message)
        return out

    def _check_input(self, x, arg_name):
        checks.check_float_dtype(x, arg_name, self._owner, dtype=self._weight_dtype)
        checks.check_event(x, arg_name, self._owner, [self._event_size])
        if self._context is not None and x.shape.rank is not None:
            check_context(
                self._context,
                self._context_shape or (),
                self._weight_dtype,
                self._owner,
                batch_shape=x.shape[:-1],
                values_name=arg_name,
            )
        if self.validate_args:
            message = (
                f"{self._owner}: argument `{arg_name}` (shape "
                f"{checks.shape_str(x.shape)}) contains NaN or Inf "
                "(validate_args=True)."
            )
            if tf.executing_eagerly():
                if not bool(tf.reduce_all(tf.math.is_finite(x))):
                    raise ValueError(message)
            else:
                x = tf.debugging.assert_all_finite(x, message)
        return x
