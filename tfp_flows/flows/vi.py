"""Flows for variational inference and the 2-D energies of Rezende & Mohamed.

`planar_flow`, `radial_flow` and `sylvester_flow` return a
`tfd.TransformedDistribution`: `num_layers` steps on a standard normal base;
`householder_flow` a learned diagonal affine and `K` reflections (a
full-covariance Gaussian on the default base).
`fit_reverse_kl` fits any such flow to an unnormalized density `exp(-U(z))`
by minimizing the reverse KL, and `log_normalizer_on_grid` gives `log Z` by
numerical integration, so the KL estimate `E_q[log q + U] + log Z` is absolute.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from tfp_flows.bijectors.act_norm import ActNorm
from tfp_flows.bijectors.householder import Householder
from tfp_flows.bijectors.planar import PlanarFlow
from tfp_flows.bijectors.radial import RadialFlow
from tfp_flows.bijectors.sylvester import SylvesterFlow
from tfp_flows.flows._base import base_distribution_or_default
from tfp_flows.flows._base import chain_flow
from tfp_flows.flows.conditional import ConditionalFlow
from tfp_flows.internal import checks
from tfp_flows.internal.checks import check_positive_int
from tfp_flows.internal.checks import shape_str
from tfp_flows.internal.keras import keras
from tfp_flows.internal.keras import keras_layers_of
from tfp_flows.internal.specs import register_builder
from tfp_flows.internal.types import DTypeLike
from tfp_flows.internal.types import TensorLike

#: An unnormalized negative log-density `U`: samples `[..., 2]` -> `[...]`.
Energy = Callable[[tf.Tensor], tf.Tensor]

__all__ = [
    "ENERGIES",
    "energy_u1",
    "energy_u2",
    "energy_u3",
    "energy_u4",
    "fit_reverse_kl",
    "householder_flow",
    "log_normalizer_on_grid",
    "planar_flow",
    "radial_flow",
    "reverse_kl_estimate",
    "sylvester_flow",
]


# -- flows -------------------------------------------------------------------
def _stack(
    cls, kind, event_size, num_layers, base_distribution, seed, dtype, kwargs, context
):
    d = check_positive_int(event_size, "event_size", kind)
    k = check_positive_int(num_layers, "num_layers", kind)
    seed = checks.check_seed(seed, kind)
    dtype = checks.check_dtype_arg(dtype, kind)
    if context is not None:
        context = check_positive_int(context, "context_size", kind)
    base_distribution, _ = base_distribution_or_default(
        base_distribution, [d], dtype, kind
    )
    steps = [
        cls(
            d,
            context_size=context,
            seed=seed * 1000 + i,
            dtype=dtype,
            name=f"{kind}_{i}",
            **kwargs,
        )
        for i in range(k)
    ]
    if context is None:
        return chain_flow(base_distribution, steps, owner=kind, name=kind)
    return ConditionalFlow(
        base_distribution, steps, context_size=context, name=kind, owner=kind
    )


@register_builder("planar_flow")
def planar_flow(
    event_size: int,
    *,
    num_layers: int = 8,
    activation: str = "tanh",
    context_size: int | None = None,
    base_distribution: tfd.Distribution | None = None,
    seed: int = 0,
    dtype: DTypeLike = tf.float32,
) -> tfd.TransformedDistribution | ConditionalFlow:
    """`num_layers` `PlanarFlow` steps on a standard normal (or given) base.

    Args:
      event_size: D.
      num_layers: K.
      activation: the planar flow's nonlinearity (see `PlanarFlow`).
      context_size: C for an amortized flow `q(z | c)` (Rezende & Mohamed
        2015, section 4.2): every step's parameters are a linear map of a
        context vector `[..., C]` (an encoder's output; see the bijector's
        `context_size`), and the builder returns a `ConditionalFlow` whose
        `condition(c)` is an ordinary flow. None: free weights.
      base_distribution: the base (event `[D]`); default `N(0, I)`.
      seed: seed of the initial weights.
      dtype: weight dtype.

    Returns:
      A `tfd.TransformedDistribution` over `[D]` (a `ConditionalFlow` with
      `context_size`).

    #### Examples

    >>> flow = planar_flow(2, num_layers=4)
    >>> z, log_q = flow.experimental_sample_and_log_prob(3, seed=1)
    >>> z.shape, log_q.shape
    (TensorShape([3, 2]), TensorShape([3]))
    """
    return _stack(
        PlanarFlow,
        "planar_flow",
        event_size,
        num_layers,
        base_distribution,
        seed,
        dtype,
        {"activation": activation},
        context_size,
    )


@register_builder("radial_flow")
def radial_flow(
    event_size: int,
    *,
    num_layers: int = 8,
    context_size: int | None = None,
    base_distribution: tfd.Distribution | None = None,
    seed: int = 0,
    dtype: DTypeLike = tf.float32,
) -> tfd.TransformedDistribution | ConditionalFlow:
    """`num_layers` `RadialFlow` steps on a standard normal (or given) base.

    Args:
      event_size: D.
      num_layers: K.
      context_size: C for an amortized flow `q(z | c)` (Rezende & Mohamed
        2015, section 4.2): every step's parameters are a linear map of a
        context vector `[..., C]` (an encoder's output; see the bijector's
        `context_size`), and the builder returns a `ConditionalFlow` whose
        `condition(c)` is an ordinary flow. None: free weights.
      base_distribution: the base (event `[D]`); default `N(0, I)`.
      seed: seed of the initial weights.
      dtype: weight dtype.

    Returns:
      A `tfd.TransformedDistribution` over `[D]` (a `ConditionalFlow` with
      `context_size`).

    #### Examples

    >>> radial_flow(2, num_layers=2).log_prob(tf.zeros([5, 2])).shape
    TensorShape([5])
    """
    return _stack(
        RadialFlow,
        "radial_flow",
        event_size,
        num_layers,
        base_distribution,
        seed,
        dtype,
        {},
        context_size,
    )


@register_builder("sylvester_flow")
def sylvester_flow(
    event_size: int,
    *,
    num_layers: int = 4,
    num_householder: int | None = None,
    context_size: int | None = None,
    base_distribution: tfd.Distribution | None = None,
    seed: int = 0,
    dtype: DTypeLike = tf.float32,
) -> tfd.TransformedDistribution | ConditionalFlow:
    """`num_layers` Householder `SylvesterFlow` steps on a standard normal base.

    Args:
      event_size: D.
      num_layers: K.
      num_householder: reflections per step (see `SylvesterFlow`).
      context_size: C for an amortized flow `q(z | c)` (Rezende & Mohamed
        2015, section 4.2): every step's parameters are a linear map of a
        context vector `[..., C]` (an encoder's output; see the bijector's
        `context_size`), and the builder returns a `ConditionalFlow` whose
        `condition(c)` is an ordinary flow. None: free weights.
      base_distribution: the base (event `[D]`); default `N(0, I)`.
      seed: seed of the initial weights.
      dtype: weight dtype.

    Returns:
      A `tfd.TransformedDistribution` over `[D]` (a `ConditionalFlow` with
      `context_size`).

    #### Examples

    >>> sylvester_flow(2, num_layers=2).sample(4, seed=1).shape
    TensorShape([4, 2])
    """
    return _stack(
        SylvesterFlow,
        "sylvester_flow",
        event_size,
        num_layers,
        base_distribution,
        seed,
        dtype,
        {"num_householder": num_householder},
        context_size,
    )


@register_builder("householder_flow")
def householder_flow(
    event_size: int,
    *,
    num_reflections: int | None = None,
    diagonal_affine: bool = True,
    base_distribution: tfd.Distribution | None = None,
    seed: int = 0,
    dtype: DTypeLike = tf.float32,
) -> tfd.TransformedDistribution:
    """A diagonal affine map, then `K` Householder reflections, on a base.

        z ~ base (default N(0, I)),   y = Q (exp(log_scale) * z + shift),
        Q = H_K ... H_1,   H_k = I - 2 v_k v_k^T / ||v_k||^2
        log p(y) = log base(z) - sum(log_scale)       (log|det Q| = 0)

    What it is, honestly: the reflections are volume preserving and a
    standard normal is rotation invariant, so reflections alone on `N(0, I)`
    give `N(0, I)` whatever the vectors (their gradients are zero). The
    learned diagonal affine (an `ActNorm` on vectors: a per-dimension shift
    and log-scale, initialized from data by `initialize_act_norms` or left at
    the identity) makes the default flow the Gaussian
    `N(Q shift, Q diag(exp(2 log_scale)) Q^T)`: with `K = D` reflections
    (the default) every full-covariance Gaussian, parametrized by its
    eigendecomposition, with `O(K D)` exact `log_prob` and sampling. Use it as
    a full-covariance Gaussian baseline or a learned rotation, or give a
    non-rotation-invariant `base_distribution`; for a non-Gaussian density put
    the `Householder` bijector between other flow layers, or use it as the
    paper does, as a VAE posterior (`tfp_flows.vae.make_posterior(
    'householder', ...)`, Tomczak & Welling 2016).

    No `context_size`: in the paper the reflection vectors are amortized,
    computed from the encoder's last hidden layer, and that conditional form
    is `tfp_flows.vae.HouseholderPosterior` (the encoder's output is its
    context). As a density builder, conditioning only the reflections would
    still give a base-invariant flow on the default base; condition the
    affine part instead with `flows.maf(..., context_size=C)` or
    `flows.coupling_flow(..., context_size=C)`.

    Args:
      event_size: D.
      num_reflections: K >= 1 (default D: enough for any rotation).
      diagonal_affine: put the learned diagonal affine between the base and
        the reflections.
      base_distribution: the base (event `[D]`, this dtype); default `N(0, I)`.
      seed: seed of the initial reflection vectors.
      dtype: weight dtype.

    Returns:
      A `tfd.TransformedDistribution` over `[D]`.

    Raises:
      ValueError: bad sizes, a base of the wrong event shape or dtype, and
        `diagonal_affine=False` with the default standard normal base (the
        flow would be `N(0, I)` with weights that cannot learn).

    #### Examples

    >>> flow = householder_flow(3, num_reflections=2)
    >>> flow.log_prob(tf.zeros([4, 3])).shape
    TensorShape([4])
    """
    kind = "householder_flow"
    d = check_positive_int(event_size, "event_size", kind)
    k = check_positive_int(
        d if num_reflections is None else num_reflections, "num_reflections", kind
    )
    if not isinstance(diagonal_affine, (bool, np.bool_)):
        raise ValueError(
            f"{kind}: argument `diagonal_affine` must be True or False; got "
            f"{diagonal_affine!r}."
        )
    seed = checks.check_seed(seed, kind)
    dtype = checks.check_dtype_arg(dtype, kind)
    base_distribution, is_default = base_distribution_or_default(
        base_distribution, [d], dtype, kind
    )
    if is_default and not diagonal_affine:
        raise ValueError(
            f"{kind}: argument `diagonal_affine` is False with the default "
            "standard normal base: reflections of N(0, I) are N(0, I) for any "
            "vectors, so the flow could not learn. Keep diagonal_affine=True or "
            "pass a `base_distribution` that is not rotation invariant."
        )
    steps: list[tfb.Bijector] = []
    if diagonal_affine:
        steps.append(ActNorm(d, event_ndims=1, dtype=dtype, name=f"{kind}_affine"))
    steps.append(Householder(d, k, seed=seed, dtype=dtype, name=f"{kind}_reflections"))
    return chain_flow(base_distribution, steps, owner=kind, name=kind)


# -- energies ------------------------------------------------------------------
def _check_2d(z, name):
    z = tf.convert_to_tensor(z, dtype_hint=tf.float32)
    if z.shape.rank is not None and (z.shape.rank == 0 or z.shape[-1] not in (None, 2)):
        raise ValueError(
            f"{name}: argument `z` must have shape [..., 2]; got shape "
            f"{shape_str(z.shape)}."
        )
    return z, z[..., 0], z[..., 1]


def _w1(z1):
    return tf.sin(2.0 * math.pi * z1 / 4.0)


def _w2(z1):
    return 3.0 * tf.exp(-0.5 * tf.square((z1 - 1.0) / 0.6))


def _w3(z1):
    return 3.0 * tf.sigmoid((z1 - 1.0) / 0.3)


def _wall(z1):
    # U2-U4 as printed do not depend on z1 outside the waves, so exp(-U) is not
    # normalizable; a soft wall beyond |z1| = 4 (the paper's plotting box)
    # makes them proper and leaves them unchanged inside the box.
    return 0.5 * tf.square(tf.nn.relu(tf.abs(z1) - 4.0) / 0.2)


def energy_u1(z: TensorLike) -> tf.Tensor:
    """U1 of Rezende & Mohamed (2015), table 1: a ring with two modes.

    `U1(z) = 1/2 ((||z|| - 2) / 0.4)^2
            - log(exp(-1/2 ((z1 - 2)/0.6)^2) + exp(-1/2 ((z1 + 2)/0.6)^2))`
    """
    z, z1, _ = _check_2d(z, "energy_u1")
    ring = 0.5 * tf.square((tf.norm(z, axis=-1) - 2.0) / 0.4)
    modes = tf.reduce_logsumexp(
        tf.stack(
            [-0.5 * tf.square((z1 - 2.0) / 0.6), -0.5 * tf.square((z1 + 2.0) / 0.6)],
            -1,
        ),
        axis=-1,
    )
    return ring - modes


def energy_u2(z: TensorLike) -> tf.Tensor:
    """U2: `1/2 ((z2 - w1(z)) / 0.4)^2`, `w1 = sin(2 pi z1 / 4)` (+ the wall)."""
    _, z1, z2 = _check_2d(z, "energy_u2")
    return 0.5 * tf.square((z2 - _w1(z1)) / 0.4) + _wall(z1)


def energy_u3(z: TensorLike) -> tf.Tensor:
    """U3: `-log(e^{-1/2 ((z2 - w1)/0.35)^2} + e^{-1/2 ((z2 - w1 + w2)/0.35)^2})`.

    `w2(z) = 3 exp(-1/2 ((z1 - 1) / 0.6)^2)` (+ the wall beyond |z1| = 4).
    """
    _, z1, z2 = _check_2d(z, "energy_u3")
    a = -0.5 * tf.square((z2 - _w1(z1)) / 0.35)
    b = -0.5 * tf.square((z2 - _w1(z1) + _w2(z1)) / 0.35)
    return -tf.reduce_logsumexp(tf.stack([a, b], -1), axis=-1) + _wall(z1)


def energy_u4(z: TensorLike) -> tf.Tensor:
    """U4: `-log(e^{-1/2 ((z2 - w1)/0.4)^2} + e^{-1/2 ((z2 - w1 + w3)/0.35)^2})`.

    `w3(z) = 3 sigmoid((z1 - 1) / 0.3)` (+ the wall beyond |z1| = 4).
    """
    _, z1, z2 = _check_2d(z, "energy_u4")
    a = -0.5 * tf.square((z2 - _w1(z1)) / 0.4)
    b = -0.5 * tf.square((z2 - _w1(z1) + _w3(z1)) / 0.35)
    return -tf.reduce_logsumexp(tf.stack([a, b], -1), axis=-1) + _wall(z1)


ENERGIES: dict[str, Energy] = {
    "U1": energy_u1,
    "U2": energy_u2,
    "U3": energy_u3,
    "U4": energy_u4,
}


def log_normalizer_on_grid(
    energy: Energy, *, limit: float = 6.0, num_points: int = 801
) -> float:
    """`log Z = log integral exp(-U(z)) dz` on `[-limit, limit]^2` (float64 grid).

    A midpoint sum with cell area `(2 limit / num_points)^2`; the energies
    here are negligible beyond `limit = 6` (U1's ring has radius 2, width 0.4).

    #### Examples

    >>> round(log_normalizer_on_grid(lambda z: 0.5 * tf.reduce_sum(z * z, -1)), 4)
    1.8379
    """
    owner = "log_normalizer_on_grid"
    checks.check_callable(energy, "energy", owner)
    limit = checks.check_number(limit, "limit", owner, minimum=0.0)
    n = check_positive_int(num_points, "num_points", owner, 2)
    h = 2.0 * limit / n
    g = -limit + h * (np.arange(n) + 0.5)
    zz = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    u = tf.cast(energy(tf.constant(zz, tf.float64)), tf.float64)
    return float(tf.reduce_logsumexp(-u)) + 2.0 * math.log(h)


# -- fitting -------------------------------------------------------------------
def reverse_kl_estimate(
    flow: tfd.Distribution,
    energy: Energy,
    log_z: float,
    *,
    num_samples: int = 20000,
    seed: int = 0,
) -> dict[str, float]:
    """Monte Carlo `ELBO = -E_q[log q(z) + U(z)]` and `KL(q || p) = log Z - ELBO`.

    Returns:
      `{"elbo": ..., "kl": ..., "kl_stderr": ...}` (floats, nats).
    """
    owner = "reverse_kl_estimate"
    _check_vi_flow(flow, owner)
    checks.check_callable(energy, "energy", owner)
    num_samples = check_positive_int(num_samples, "num_samples", owner)
    z, log_q = flow.experimental_sample_and_log_prob(num_samples, seed=seed)
    u = _energy_of(energy, z, log_q, owner)
    terms = (log_q + tf.cast(u, log_q.dtype)).numpy().astype(np.float64)
    elbo = -float(np.mean(terms))
    return {
        "elbo": elbo,
        "kl": log_z - elbo,
        "kl_stderr": float(np.std(terms) / np.sqrt(len(terms))),
    }


def _check_vi_flow(flow, owner):
    """A distribution with a (joint) sample-and-log-prob; not a family."""
    if hasattr(flow, "condition") and not hasattr(flow, "bijector"):
        raise ValueError(
            f"{owner}: argument `flow` is a conditional family "
            f"({type(flow).__name__}); pass `flow.condition(context)`."
        )
    checks.check_distribution(flow, "flow", owner)


def _energy_of(energy, z, log_q, owner):
    """`energy(z)`, checked to give one value per sample (shape of `log_q`)."""
    u = tf.convert_to_tensor(energy(z))
    if u.shape.rank is not None and log_q.shape.rank is not None:
        if not u.shape.is_compatible_with(log_q.shape):
            raise ValueError(
                f"{owner}: argument `energy` must map samples [..., D] to one value "
                f"per sample [...]; got output shape {shape_str(u.shape)} for samples "
                f"of shape {shape_str(z.shape)} (expected {shape_str(log_q.shape)})."
            )
    return u


class _AnnealThenCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Constant `lr` for `hold` steps, then a cosine down to `decay_to * lr`."""

    def __init__(self, lr, decay_to, hold, total):
        self.lr, self.decay_to = float(lr), float(decay_to)
        self.hold, self.total = int(hold), int(total)
        self.span = max(1, self.total - self.hold - 1)

    def __call__(self, step):
        t = tf.clip_by_value((tf.cast(step, tf.float32) - self.hold) / self.span, 0, 1)
        cosine = 0.5 * (1.0 + tf.cos(math.pi * t))
        return self.lr * (self.decay_to + (1.0 - self.decay_to) * cosine)

    def get_config(self):
        return {
            "lr": self.lr,
            "decay_to": self.decay_to,
            "hold": self.hold,
            "total": self.total,
        }


def fit_reverse_kl(
    flow: tfd.Distribution,
    energy: Energy,
    *,
    num_steps: int = 2000,
    batch_size: int = 256,
    learning_rate: float = 1e-2,
    anneal_steps: int | None = None,
    decay_to: float = 0.01,
    seed: int = 0,
    jit_compile: bool = True,
) -> list[float]:
    """Fits `flow` to `p(z) ∝ exp(-U(z))` by minimizing `E_q[log q(z) + b_t U(z)]`.

    `b_t = min(1, 0.01 + t / anneal_steps)` anneals the energy as in Rezende &
    Mohamed (2015, section 6.1); `anneal_steps=None` uses `num_steps // 4`.
    Samples and their log-density come from one pass
    (`experimental_sample_and_log_prob`), under XLA by default. Adam on every
    Keras weight of the flow, gradients clipped to global norm 100; the
    learning rate is constant while the energy is annealed, then follows a
    cosine from `learning_rate` down to `decay_to * learning_rate` at the last
    step (`decay_to=1` keeps it constant).

    Args:
      flow: a distribution on `[D]` whose weights are Keras 3 weights.
      energy: `U(z)`, `[..., D] -> [...]`.
      num_steps: optimizer steps.
      batch_size: samples per step.
      learning_rate: Adam's learning rate.
      anneal_steps: steps until the energy weight reaches 1 (None: a quarter).
      decay_to: final learning rate as a fraction of `learning_rate`, in (0, 1].
      seed: sampling seed.
      jit_compile: compile the step with XLA.

    Returns:
      The loss (with the annealed weight) at every step.

    Raises:
      ValueError: if the flow has no trainable Keras weights or is a
        conditional family, `decay_to` is not in (0, 1], a count or the
        learning rate is not positive, or `energy` does not return one value
        per sample.
      TypeError: if `flow` is not a distribution or `energy` not callable.
    """
    owner = "fit_reverse_kl"
    _check_vi_flow(flow, owner)
    checks.check_callable(energy, "energy", owner)
    num_steps = check_positive_int(num_steps, "num_steps", owner)
    batch_size = check_positive_int(batch_size, "batch_size", owner)
    checks.check_number(learning_rate, "learning_rate", owner, minimum=0.0)
    if anneal_steps is not None:
        anneal_steps = check_positive_int(anneal_steps, "anneal_steps", owner)
    seed = checks.check_seed(seed, owner)
    weights = [w for layer in keras_layers_of(flow) for w in layer.trainable_weights]
    if not weights:
        raise ValueError(
            "fit_reverse_kl: argument `flow` has no trainable Keras 3 weights."
        )
    if not isinstance(decay_to, (int, float, np.floating)) or not 0.0 < decay_to <= 1.0:
        raise ValueError(
            f"fit_reverse_kl: argument `decay_to` must be in (0, 1]; got {decay_to!r}."
        )
    anneal = max(1, num_steps // 4 if anneal_steps is None else int(anneal_steps))
    opt = keras.optimizers.Adam(
        _AnnealThenCosine(learning_rate, decay_to, anneal, num_steps)
    )
    dtype = flow.dtype

    @tf.function(jit_compile=jit_compile)
    def step(t):
        beta = tf.minimum(1.0, 0.01 + tf.cast(t, dtype) / anneal)
        with tf.GradientTape() as tape:
            z, log_q = flow.experimental_sample_and_log_prob(
                batch_size, seed=tf.stack([tf.constant(seed), t])
            )
            u = _energy_of(energy, z, log_q, owner)
            loss = tf.reduce_mean(log_q + beta * tf.cast(u, dtype))
        grads = tape.gradient(loss, weights)
        grads, _ = tf.clip_by_global_norm(grads, 100.0)
        opt.apply_gradients(zip(grads, weights, strict=True))
        return loss

    return [float(step(tf.constant(t))) for t in range(num_steps)]
