"""FFJORD: a continuous normalizing flow on TFP's ODE solvers, Keras 3 weights."""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows.bijectors.base import ContextBijector
from tfp_flows.internal import checks
from tfp_flows.internal.keras import keras
from tfp_flows.internal.types import DTypeLike

__all__ = ["FFJORD"]

TRACE_ESTIMATORS = ("hutchinson", "exact")
NOISE_TYPES = ("rademacher", "gaussian")
SOLVERS = ("dormand_prince", "bdf", "rk4")
TIME_CONDITIONINGS = ("concat_squash", "concat")
ACTIVATIONS = ("tanh", "softplus", "swish")


class _TimeConditionedDense(keras.layers.Layer):
    """One layer of the dynamics network, conditioned on `s = [t, context]`.

    `'concat_squash'` (FFJORD's ConcatSquashLinear; with a context, as in
    PointFlow's conditional CNF):

        out = (W h + b) * sigmoid(G s + g) + B s

    `'concat'` (FFJORD's ConcatLinear): `out = W [h, s] + b`.
    """

    def __init__(self, in_size, units, cond_size, mode, seed, dtype, name):
        super().__init__(name=name, dtype=dtype)
        self.mode = mode
        init = keras.initializers.GlorotUniform(seed=seed)
        in_kernel = in_size + (cond_size if mode == "concat" else 0)
        self.kernel = self.add_weight(
            name="kernel", shape=(in_kernel, units), initializer=init
        )
        self.bias = self.add_weight(name="bias", shape=(units,), initializer="zeros")
        if mode == "concat_squash":
            gate_init = keras.initializers.GlorotUniform(seed=seed + 1)
            self.gate_kernel = self.add_weight(
                name="gate_kernel", shape=(cond_size, units), initializer=gate_init
            )
            self.gate_bias = self.add_weight(
                name="gate_bias", shape=(units,), initializer="zeros"
            )
            hyper_init = keras.initializers.GlorotUniform(seed=seed + 2)
            self.hyper_bias = self.add_weight(
                name="hyper_bias", shape=(cond_size, units), initializer=hyper_init
            )
        self.built = True

    def call(self, h, s):
        if self.mode == "concat":
            return tf.matmul(tf.concat([h, s], -1), self.kernel) + self.bias
        gate = tf.sigmoid(tf.matmul(s, self.gate_kernel) + self.gate_bias)
        return (tf.matmul(h, self.kernel) + self.bias) * gate + tf.matmul(
            s, self.hyper_bias
        )


class _FFJORDDynamics(keras.layers.Layer):
    """Owns the dynamics network `f(z, t, c)` and the Hutchinson noise seed.

    Its `call` integrates the augmented ODE. It is a Keras layer so that the
    `training` flag of the enclosing Keras call (`model.fit` passes `True`)
    picks the trace estimator: Keras hands an outer call's `training` to
    every layer called inside it.
    """

    def __init__(self, config, seed, dtype, name="ffjord_dynamics"):
        super().__init__(name=name, dtype=dtype)
        self.config = dict(config)
        d = config["event_size"]
        cond = 1 + (config["context_size"] or 0)
        sizes = [d, *config["hidden_units"], d]
        self.blocks = [
            _TimeConditionedDense(
                sizes[i],
                sizes[i + 1],
                cond,
                config["time_conditioning"],
                seed * 1000 + 10 * i,
                dtype,
                name=f"layer_{i}",
            )
            for i in range(len(sizes) - 1)
        ]
        self.activation = {
            "tanh": tf.tanh,
            "softplus": tf.math.softplus,
            "swish": tf.nn.silu,
        }[config["activation"]]
        # The state of the Hutchinson noise: a stateless seed `[seed, k]`,
        # `k` advanced by one per solve (one `assign`, also inside a compiled
        # Keras train step and under XLA). A non-trainable weight, so that
        # checkpoints and `.keras` files carry it (a resumed run draws the
        # noise the uninterrupted one would have drawn).
        self.noise_seed = self.add_weight(
            name="noise_seed",
            shape=(2,),
            dtype="int32",
            initializer=lambda shape, dtype=None: tf.constant([seed, 0], "int32"),
            trainable=False,
        )
        self.built = True

    # -- the vector field ----------------------------------------------------
    def vector_field(self, t, z, context):
        """`f(z, t, c)` for `z` `[N, D]`, scalar `t`, `context` `[N, C]` or None."""
        s = tf.zeros_like(z[:, :1]) + tf.cast(t, z.dtype)
        if context is not None:
            s = tf.concat([s, context], -1)
        h = z
        for i, block in enumerate(self.blocks):
            h = block(h, s)
            if i < len(self.blocks) - 1:
                h = self.activation(h)
        return h

    def _noise(self, shape, dtype):
        seed = tf.convert_to_tensor(self.noise_seed)
        self.noise_seed.assign_add(tf.constant([0, 1], tf.int32))
        if self.config["noise"] == "gaussian":
            return tf.random.stateless_normal(shape, seed=seed, dtype=dtype)
        bits = tf.random.stateless_uniform(
            shape, seed=seed, minval=0, maxval=2, dtype=tf.int32
        )
        return tf.cast(2 * bits - 1, dtype)

    def _augmented_fn(self, estimator, eps, sign, t_end):
        """`(t, (z, l)) -> (dz/dt, dl/dt)` with `dl/dt = tr(d(dz/dt)/dz)`.

        `sign = -1` gives the reversed-time field `g(s, w) = -f(w, T - s)` of
        the inverse (time runs from 0 to T in both directions).
        """
        d = self.config["event_size"]

        def fn(t, state, **constants):
            z = state[0]
            context = constants.get("context")
            time = t if sign > 0 else t_end - t
            with tf.GradientTape(
                persistent=estimator == "exact", watch_accessed_variables=False
            ) as tape:
                tape.watch(z)
                dz = self.vector_field(time, z, context)
                if sign < 0:
                    dz = -dz
            if estimator == "hutchinson":
                # eps^T (df/dz) eps from one vector-Jacobian product.
                vjp = tape.gradient(dz, z, output_gradients=eps)
                trace = tf.reduce_sum(vjp * eps, axis=-1)
            else:
                # Sum of the D diagonal entries, one VJP with e_i each.
                trace = tf.zeros_like(z[:, 0])
                for i in range(d):
                    e_i = tf.one_hot(tf.fill(tf.shape(z)[:1], i), d, dtype=z.dtype)
                    row = tape.gradient(dz, z, output_gradients=e_i)
                    trace = trace + row[:, i]
                del tape
            return dz, trace

        return fn

    def _solve(self, fn, z0, constants):
        cfg = self.config
        dtype = z0.dtype
        t_end = tf.constant(cfg["time_length"], dtype)
        state = (z0, tf.zeros_like(z0[:, 0]))
        if cfg["solver"] == "rk4":
            return _rk4(fn, state, t_end, cfg["num_steps"], constants)
        if cfg["solver"] == "dormand_prince":
            solver = tfp.math.ode.DormandPrince(
                rtol=cfg["rtol"], atol=cfg["atol"], first_step_size=cfg["first_step"]
            )
        else:
            solver = tfp.math.ode.BDF(rtol=cfg["rtol"], atol=cfg["atol"])
        result = solver.solve(
            fn,
            tf.constant(0.0, dtype),
            state,
            solution_times=[t_end],
            constants=constants,
        )
        return result.states[0][-1], result.states[1][-1]

    def call(self, z, context=None, inverse=False, training=None):
        """`(z(T), integral of tr)` from `z(0) = z` `[N, D]` (reversed: inverse)."""
        cfg = self.config
        estimator = cfg["trace_estimator"] if training else cfg["eval_trace_estimator"]
        eps = None
        if estimator == "hutchinson":
            # One draw per solve, fixed along the trajectory (paper, alg. 1).
            eps = self._noise(tf.shape(z), z.dtype)
        t_end = tf.constant(cfg["time_length"], z.dtype)
        fn = self._augmented_fn(estimator, eps, -1 if inverse else 1, t_end)
        constants = {} if context is None else {"context": context}
        return self._solve(fn, z, constants)


def _rk4(fn, state, t_end, num_steps, constants):
    """Classical fixed-step Runge-Kutta 4; gradients backpropagate through it."""
    h = t_end / num_steps

    def add(a, b, c):
        return tuple(x + c * y for x, y in zip(a, b, strict=True))

    def body(i, z, ldj):
        t = tf.cast(i, h.dtype) * h
        s = (z, ldj)
        k1 = fn(t, s, **constants)
        k2 = fn(t + h / 2, add(s, k1, h / 2), **constants)
        k3 = fn(t + h / 2, add(s, k2, h / 2), **constants)
        k4 = fn(t + h, add(s, k3, h), **constants)
        new = tuple(
            x + h / 6 * (a + 2 * b + 2 * c + d)
            for x, a, b, c, d in zip(s, k1, k2, k3, k4, strict=True)
        )
        return i + 1, new[0], new[1]

    _, z, ldj = tf.while_loop(
        lambda i, z, ldj: i < num_steps,
        body,
        (tf.constant(0), *state),
        maximum_iterations=num_steps,
    )
    return z, ldj


class FFJORD(ContextBijector):
    """Continuous normalizing flow (FFJORD, Grathwohl et al. 2019).

    The forward map (base -> data) integrates the ODE

        dz/dt = f(z(t), t; theta),   z(0) = x,   y = z(T),

    and the log-density follows the instantaneous change of variables
    (Chen et al. 2018, theorem 1):

        log p(y) = log p(x) - integral_0^T tr(df/dz(z(t), t)) dt,

    so `forward_log_det_jacobian(x) = integral_0^T tr(df/dz) dt`, solved with
    `z` as one augmented ODE. The inverse integrates backwards from `y`: with
    `w(s) = z(T - s)`, `dw/ds = -f(w, T - s)` and the log-det integrand is
    `-tr(df/dz)`, so `x = w(T)` and `inverse_log_det_jacobian(y) = -fldj(x)`.

    **Trace estimators.** `'exact'` sums the `D` diagonal entries of
    `df/dz`, one vector-Jacobian product with each unit vector `e_i` (D
    backward passes per evaluation of `f`). `'hutchinson'` uses

        tr(A) = E_eps[eps^T A eps],   E[eps] = 0,  Cov[eps] = I,

    from one vector-Jacobian product `eps^T (df/dz)`, dotted with `eps`;
    `eps` (Rademacher, or Gaussian with `noise='gaussian'`) is drawn once per
    solve and held fixed along the trajectory (the paper's algorithm 1), so
    the log-det is an unbiased estimate. The noise has a stateless seed kept
    in a non-trainable Keras weight (`dynamics.noise_seed`) and advanced at
    every draw: a fresh draw at every training step, inside a compiled (also
    XLA) Keras train step, reproducible from `seed`, and saved with the model
    (checkpoints, `.keras` files).

    `trace_estimator` is used when the enclosing Keras call is in training
    mode (`model.fit`, `layer(x, training=True)`), `eval_trace_estimator`
    otherwise (`evaluate`, `predict`, `log_prob` outside Keras, sampling):
    by default Hutchinson for training and the exact trace for evaluation,
    as the paper reports its test likelihoods.

    **Dynamics.** `f` is an MLP of `hidden_units` with `activation` (smooth,
    so the adaptive solver sees a smooth field) whose layers see the time:
    `time_conditioning='concat_squash'` (the paper's ConcatSquash layer,
    `(W h + b) * sigmoid(G t + g) + B t`) or `'concat'` (`W [h, t] + b`).
    With `context_size=C`, a context `c` joins the time in every layer's
    conditioning input (`s = [t, c]`, as PointFlow's conditional CNF); bind it
    with `with_context`. Every weight is a Keras 3 weight of the tracked layer
    `dynamics`.

    **Solvers.** `'dormand_prince'` (default; `tfp.math.ode.DormandPrince`,
    adaptive RK45 as the paper's dopri5, tolerances `rtol`, `atol`) and
    `'bdf'` (`tfp.math.ode.BDF`, for stiff dynamics) take gradients by TFP's
    adjoint sensitivity method (a backward ODE solve, memory independent of
    the number of steps); `'rk4'` takes `num_steps` fixed Runge-Kutta-4
    steps and backpropagates through them (direct gradients; a fixed cost).
    All three compile under XLA (`tf.function(jit_compile=True)`, Keras
    `jit_compile=True`); the adaptive ones with a data-dependent number of
    steps, since XLA compiles `tf.while_loop`s of unknown trip count. The
    adaptive solvers choose one step size for the whole batch, so a row's
    result depends on the other rows at the level of the tolerances.

    Args:
      event_size: D.
      hidden_units: widths of the dynamics network's hidden layers.
      activation: `'tanh'` (default), `'softplus'` or `'swish'`.
      time_conditioning: `'concat_squash'` (default) or `'concat'`.
      context_size: C for a conditioning vector fed to the dynamics, or None.
      trace_estimator: `'hutchinson'` (default) or `'exact'`, in training.
      eval_trace_estimator: `'exact'` (default) or `'hutchinson'`, otherwise.
      noise: Hutchinson noise, `'rademacher'` (default) or `'gaussian'`.
      solver: `'dormand_prince'` (default), `'bdf'` or `'rk4'`.
      rtol: relative tolerance of the adaptive solvers.
      atol: absolute tolerance of the adaptive solvers.
      num_steps: number of `'rk4'` steps.
      time_length: the integration time T > 0.
      seed: integer seed of the initial weights and of the Hutchinson noise.
      dynamics: the dynamics layer of another `FFJORD` of the same
        configuration, to share its weights (None: new weights).
      dtype: weight dtype.
      validate_args: check inputs for NaN/Inf.
      name: bijector name.

    Raises:
      ValueError: bad `event_size`, `hidden_units`, an option not among its
        choices, non-positive tolerances, `num_steps` or `time_length`, a
        context without `context_size`, a context that is not `[..., C]`, and
        inputs that are not `[..., D]` or of another dtype (naming the shapes).

    #### Examples

    >>> flow = FFJORD(2, hidden_units=(8,), solver="rk4", num_steps=4)
    >>> x = tf.constant([[0.5, -1.0], [2.0, 0.3]])
    >>> y = flow.forward(x)
    >>> x_back = flow.inverse(tf.identity(y))
    >>> bool(tf.reduce_all(tf.abs(x_back - x) < 1e-4))
    True
    >>> flow.forward_log_det_jacobian(x, event_ndims=1).shape
    TensorShape([2])

    #### References

    Will Grathwohl, Ricky T. Q. Chen, Jesse Bettencourt, Ilya Sutskever, David
    Duvenaud. FFJORD: Free-form Continuous Dynamics for Scalable Reversible
    Generative Models. ICLR 2019. https://arxiv.org/abs/1810.01367

    Ricky T. Q. Chen, Yulia Rubanova, Jesse Bettencourt, David Duvenaud.
    Neural Ordinary Differential Equations. NeurIPS 2018.
    https://arxiv.org/abs/1806.07366

    Michael F. Hutchinson. A stochastic estimator of the trace of the
    influence matrix for Laplacian smoothing splines. Communications in
    Statistics - Simulation and Computation 18(3), 1989.

    Guandao Yang, Xun Huang, Zekun Hao, Ming-Yu Liu, Serge Belongie, Bharath
    Hariharan. PointFlow: 3D Point Cloud Generation with Continuous
    Normalizing Flows. ICCV 2019. https://arxiv.org/abs/1906.12320
    """

    _owner = "FFJORD"

    def __init__(
        self,
        event_size: int,
        *,
        hidden_units: Sequence[int] = (64, 64),
        activation: str = "tanh",
        time_conditioning: str = "concat_squash",
        context_size: int | None = None,
        trace_estimator: str = "hutchinson",
        eval_trace_estimator: str = "exact",
        noise: str = "rademacher",
        solver: str = "dormand_prince",
        rtol: float = 1e-5,
        atol: float = 1e-5,
        num_steps: int = 16,
        time_length: float = 1.0,
        seed: int = 0,
        dynamics: keras.layers.Layer | None = None,
        dtype: DTypeLike = tf.float32,
        validate_args: bool = False,
        name: str | None = None,
    ):
        parameters = dict(locals())
        owner = self._owner
        d = checks.check_positive_int(event_size, "event_size", owner)
        units = checks.check_int_sequence(
            hidden_units, "hidden_units", owner, allow_int=True
        )
        for arg, value, choices in (
            ("activation", activation, ACTIVATIONS),
            ("time_conditioning", time_conditioning, TIME_CONDITIONINGS),
            ("trace_estimator", trace_estimator, TRACE_ESTIMATORS),
            ("eval_trace_estimator", eval_trace_estimator, TRACE_ESTIMATORS),
            ("noise", noise, NOISE_TYPES),
            ("solver", solver, SOLVERS),
        ):
            if value not in choices:
                raise ValueError(
                    f"{owner}: argument `{arg}` must be one of {choices}; "
                    f"got {value!r}."
                )
        if context_size is not None:
            context_size = checks.check_positive_int(
                context_size, "context_size", owner
            )
        config = {
            "event_size": d,
            "hidden_units": units,
            "activation": activation,
            "time_conditioning": time_conditioning,
            "context_size": context_size,
            "trace_estimator": trace_estimator,
            "eval_trace_estimator": eval_trace_estimator,
            "noise": noise,
            "solver": solver,
            "rtol": checks.check_number(rtol, "rtol", owner, minimum=0.0),
            "atol": checks.check_number(atol, "atol", owner, minimum=0.0),
            "num_steps": checks.check_positive_int(num_steps, "num_steps", owner),
            "time_length": checks.check_number(
                time_length, "time_length", owner, minimum=0.0
            ),
            # Dormand-Prince's first trial step: a small fraction of T.
            "first_step": 0.01 * float(time_length),
        }
        self._seed = checks.check_seed(seed, owner)
        self._weight_dtype = checks.check_dtype_arg(dtype, owner)
        self._dtype_weights = self._weight_dtype  # the context's dtype
        self._config = config
        self._init_context(None if context_size is None else (context_size,))
        with tf.name_scope(name or "ffjord") as name:
            super().__init__(
                forward_min_event_ndims=1,
                is_constant_jacobian=False,
                validate_args=validate_args,
                parameters=parameters,
                dtype=self._weight_dtype,
                name=name,
            )
        if dynamics is None:
            dynamics = _FFJORDDynamics(config, self._seed, self._weight_dtype.name)
        elif not isinstance(dynamics, _FFJORDDynamics) or dynamics.config != config:
            raise ValueError(
                f"{owner}: argument `dynamics` must be the `dynamics` of an FFJORD "
                "with the same configuration (to share its weights), or None."
            )
        self.dynamics = self.track_keras_layer(dynamics)

    # -- properties ------------------------------------------------------------
    @property
    def event_size(self) -> int:
        """D."""
        return int(self._config["event_size"])

    @property
    def context_size(self) -> int | None:
        """C, or None without a context."""
        return self._config["context_size"]

    @property
    def trace_estimator(self) -> str:
        """The trace estimator used in training (`'hutchinson'` or `'exact'`)."""
        return str(self._config["trace_estimator"])

    @property
    def eval_trace_estimator(self) -> str:
        """The trace estimator used outside training."""
        return str(self._config["eval_trace_estimator"])

    @property
    def solver(self) -> str:
        """`'dormand_prince'`, `'bdf'` or `'rk4'`."""
        return str(self._config["solver"])

    # -- checks ----------------------------------------------------------------
    def _check_input(self, x, arg_name):
        x = tf.convert_to_tensor(x, dtype_hint=self._weight_dtype)
        checks.check_float_dtype(x, arg_name, self._owner, self._weight_dtype)
        checks.check_event_shape(
            x.shape, arg_name, self._owner, [self.event_size], what="event shape"
        )
        return x

    # -- the flow ----------------------------------------------------------------
    def _integrate(self, x, arg_name, inverse):
        x = self._check_input(x, arg_name)
        d = self.event_size
        batch_shape = tf.shape(x)[:-1]
        bound = self._require_context()
        if bound is not None:
            c = self.context_size
            batch_shape = tf.broadcast_dynamic_shape(batch_shape, tf.shape(bound)[:-1])
            context = tf.broadcast_to(bound, tf.concat([batch_shape, [c]], 0))
            x = tf.broadcast_to(x, tf.concat([batch_shape, [d]], 0))
            context = tf.reshape(context, [-1, c])
            z, ldj = self.dynamics(
                tf.reshape(x, [-1, d]), context=context, inverse=inverse
            )
        else:
            z, ldj = self.dynamics(tf.reshape(x, [-1, d]), inverse=inverse)
        y = tf.reshape(z, tf.concat([batch_shape, [d]], 0))
        ldj = tf.reshape(ldj, batch_shape)
        if x.shape.rank is not None and bound is None:
            y = tf.ensure_shape(y, x.shape)
            ldj = tf.ensure_shape(ldj, x.shape[:-1])
        return y, ldj

    def _forward_and_log_det(self, x):
        return self._integrate(x, "x", inverse=False)

    def _inverse_and_log_det(self, y):
        return self._integrate(y, "y", inverse=True)
