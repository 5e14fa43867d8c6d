"""Glow and RealNVP builders and sampling with a temperature.

All these functions return a `tfd.TransformedDistribution` over `[H, W, C]`
images whose base is a standard normal and whose bijector is a `MultiScale`;
with `context_size=C` (a vector context, e.g. a one-hot class) or
`context_shape=(H', W', C')` (an image context, e.g. a low-resolution or
masked image) `glow` and `realnvp` return a `ConditionalFlow` instead, whose
`condition(c)` is such a distribution.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence

import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd
from tensorflow_probability.python.distributions.transformed_distribution import (
    _TransformedDistribution,
)

from tfp_flows.bijectors.act_norm import ActNorm
from tfp_flows.bijectors.affine_coupling import AffineCoupling
from tfp_flows.bijectors.glow_step import GlowStep
from tfp_flows.bijectors.glow_steps import GlowSteps
from tfp_flows.bijectors.multi_scale import Level
from tfp_flows.bijectors.multi_scale import MultiScale
from tfp_flows.flows._base import standard_normal
from tfp_flows.flows.conditional import ConditionalFlow
from tfp_flows.internal import checks
from tfp_flows.internal.conditioning import is_conditional_family
from tfp_flows.internal.flow_distribution import FlowDistribution
from tfp_flows.internal.specs import register_builder
from tfp_flows.internal.types import DTypeLike
from tfp_flows.internal.types import Seed
from tfp_flows.internal.types import ShapeLike
from tfp_flows.internal.types import TensorLike
from tfp_flows.nn.coupling_nets import check_network_policy

__all__ = [
    "REVERSIBLE_FROM_STEPS",
    "STACKED_FROM_STEPS",
    "glow",
    "realnvp",
    "sample_with_temperature",
]

#: `glow(stacked_steps=None)` holds each level's steps as one `GlowSteps`
#: from this many steps per level on (see `glow`'s `stacked_steps`).
STACKED_FROM_STEPS = 8

#: `glow(reversible=None)` gives a stacked level reversible gradients from
#: this many steps per level on (see `glow`'s `reversible`).
REVERSIBLE_FROM_STEPS = 16


def _bool_or_rule(value: bool | None, arg: str, owner: str, rule: bool) -> bool:
    """`value` if True or False, `rule` if None; anything else raises."""
    if value is None:
        return rule
    if not isinstance(value, bool):
        raise ValueError(
            f"{owner}: argument `{arg}` must be None, True or False; got {value!r}."
        )
    return value


def _check_image_shape(
    event_shape: Sequence[int],
    num_levels: int,
    owner: str,
    squeezes: Callable[[int], int],
) -> tuple[list[int], int]:
    h, w, c = checks.check_image_shape(event_shape, "event_shape", owner)
    num_levels = checks.check_positive_int(num_levels, "num_levels", owner)
    factor = 2 ** squeezes(num_levels)
    if h % factor or w % factor:
        raise ValueError(
            f"{owner}: argument `event_shape` {[h, w, c]} has height/width not "
            f"divisible by {factor}, which {num_levels} level(s) of 2x2 squeezes need."
        )
    return [h, w, c], num_levels


def _context_shape(
    context_size: int | None, context_shape: Sequence[int] | None, owner: str
) -> tuple[int, ...] | None:
    """The context's event shape from a builder's two context arguments."""
    if context_size is not None and context_shape is not None:
        raise ValueError(
            f"{owner}: pass `context_size` (a vector context) or `context_shape` "
            f"(an image context (H, W, C)), not both; got {context_size!r} and "
            f"{context_shape!r}."
        )
    if context_size is not None:
        return (checks.check_positive_int(context_size, "context_size", owner),)
    if context_shape is None:
        return None
    try:
        dims = list(context_shape)
    except TypeError:
        dims = []
    if len(dims) not in (1, 3):
        raise ValueError(
            f"{owner}: argument `context_shape` must be (C,) or (H, W, C); got "
            f"{context_shape!r}."
        )
    return tuple(
        checks.check_positive_int(d, f"context_shape[{i}]", owner)
        for i, d in enumerate(dims)
    )


def _finish(
    base: tfd.Distribution,
    bijector: tfb.Bijector,
    context: tuple[int, ...] | None,
    *,
    owner: str,
    name: str,
) -> tfd.TransformedDistribution | ConditionalFlow:
    """The builder's result: a flow, or a `ConditionalFlow` with a context."""
    if context is None:
        return FlowDistribution(base, bijector, owner=owner, name=name)
    return ConditionalFlow(
        base, [bijector], name=name, context_shape=context, owner=owner
    )


# Specs saved before `stacked_steps` defaulted to None did not record it:
# they are rebuilt with the old default (K `GlowStep`s), their weights' layout.
@register_builder("glow", legacy_defaults={"stacked_steps": False})
def glow(
    event_shape: Sequence[int] = (8, 8, 1),
    *,
    num_levels: int = 2,
    num_steps: int = 4,
    hidden_units: int = 64,
    lu_decomposition: bool = True,
    additive: bool = False,
    learn_top: bool = True,
    context_size: int | None = None,
    context_shape: Sequence[int] | None = None,
    stacked_steps: bool | None = None,
    reversible: bool | None = None,
    keep_hidden: bool = False,
    seed: int = 0,
    dtype: DTypeLike = tf.float32,
    dtype_policy: str | None = None,
    validate_args: bool = False,
    name: str = "glow",
) -> tfd.TransformedDistribution | ConditionalFlow:
    """Glow (Kingma & Dhariwal 2018): L levels of [squeeze, K GlowSteps, split].

    Args:
      event_shape: `[H, W, C]`; H and W divisible by `2**num_levels`.
      num_levels: L.
      num_steps: K, GlowSteps per level.
      hidden_units: width of each coupling network.
      lu_decomposition: LU-parameterized 1x1 convolutions.
      additive: additive couplings (Glow's "additive" ablation).
      learn_top: learned prior on the last level.
      context_size: C for a class-conditional Glow (a vector context such
        as a one-hot label): every coupling network sees the context
        broadcast over H and W, the split priors see it beside the kept
        half, and the top prior's mean and log-scale get a zero-initialized
        linear map of it (Glow's `ycond`, section 5 of the paper).
      context_shape: `(H', W', C')` for an image context (super-resolution,
        inpainting, colorization): brought to each level's resolution
        before the coupling networks and priors see it (see
        `tfp_flows.internal.conditioning.context_features`). Pass one of
        `context_size` / `context_shape`.
      stacked_steps: hold each level's K steps as one `GlowSteps` (stacked
        weights, one `tf.while_loop`, the step body traced once) instead of
        K `GlowStep`s: the same math and the same initial weights, with or
        without a context or `dtype_policy`. None (the default): stacked when
        `num_steps >= STACKED_FROM_STEPS` (8), where it pays, as measured at
        32x32x3, 3 levels x 8 steps, width 256 (docs/benchmarks.md, "Glow at
        scale"): one trace per level instead of K (first training step
        9-52 s instead of 71-273 s without XLA), activation memory flat in K
        with `reversible` (peak RSS 1.1-1.5 GB instead of 1.7-2.1 GB), and
        the same or a better training step: 2.6 s both without XLA at batch
        64 (at batch 16, under load, the spreads overlap), 2.6 s / 1.8 s
        against 7.0 s / 3.2 s for K `GlowStep`s under XLA at batch 64 / 16
        (at 3x32x512 the stacked step was 1.3-1.4x slower than K
        `GlowStep`s without XLA: the loop and the reversible backward's extra
        pass; `stacked_steps=False` is the faster step where memory and the
        first step's trace are no concern). Below 8 steps per level
        the default stays K `GlowStep`s (the layout of earlier versions).
        Train a stacked flow with `jit_compile=False`: under XLA the loop is
        unrolled (XLA's CPU code for a loop of convolutions is slow), so
        compile time grows with K again. The weights are laid out
        differently, so a model saved with one setting loads only with the
        same setting (a spec saved before this default, without the
        argument, rebuilds unstacked, as it was saved).
      reversible: with `stacked_steps`, compute gradients by rebuilding each
        step's input from its output instead of storing it: activation
        memory independent of K, for one more pass of each step's coupling
        network per training step. None (the default): reversible when
        `num_steps >= REVERSIBLE_FROM_STEPS` (16), where it pays, as
        measured at 32x32x3, 3 levels, without XLA (docs/benchmarks.md,
        "Glow at scale"): at 32 steps per level, width 512, batch 16 the
        training step's own memory was 320 MB against 2.4 GB for stored
        activations (unstacked), the step 1.15x slower; at 8 steps per
        level, width 256, it saved 46% / 70% of the step's memory (162 vs
        299 MB at batch 16, 179 vs 604 MB at batch 64) for a step 1.5% / 11%
        slower, so below 16 the default stores the activations (the faster
        step). Pass True where memory binds (a GPU, a large batch). True
        needs stacked steps (`stacked_steps=True`, or the default from
        `STACKED_FROM_STEPS` steps).
      keep_hidden: with `reversible`, keep each step's last hidden
        activation (`[N, H, W, hidden_units]`, the input of the coupling
        network's last convolution) from `log_prob`'s forward pass, so that
        the backward pass recomputes only the network's first and last
        convolutions, not its `hidden_units x hidden_units` middle one (most
        of its work at Glow's widths). A faster training step for activation
        memory that grows with K again by that tensor per step (see
        docs/benchmarks.md, "Glow at scale", for both at 3 x 32 x 512).
        Changes no weight.
      seed: integer seed of every initializer (weights are reproducible).
      dtype: weight dtype.
      dtype_policy: None, or `'mixed_bfloat16'` / `'mixed_float16'`: the
        coupling networks compute in 16 bits over float32 weights (Keras
        mixed precision); ActNorm, the 1x1 convolutions, every log-det, the
        priors and the base density stay in float32, and the round trip stays
        exact. On CPUs with AVX512-BF16 (and on GPUs, float16) the convolutions
        run about twice as fast; TensorFlow's oneDNN kernels give that speed,
        XLA's CPU convolutions do not, so train with `jit_compile=False` there
        (docs/benchmarks.md, "Mixed precision").
      validate_args: passed to every part.
      name: name.

    Returns:
      A `tfd.TransformedDistribution` over `[H, W, C]` (a `ConditionalFlow`
      with a context). Call `initialize_act_norms(flow, data_batch)` (or
      `FlowModel.initialize_act_norms((x, context))`) before training.

    Raises:
      ValueError: for an event shape the levels cannot squeeze (or not three
        positive integers), a bad count, a `seed` that is not a non-negative
        integer, or a non-floating `dtype`.

    #### Examples

    >>> flow = glow((8, 8, 1), num_levels=2, num_steps=1, hidden_units=8)
    >>> flow.event_shape
    TensorShape([8, 8, 1])
    >>> flow.log_prob(tf.zeros([3, 8, 8, 1])).shape
    TensorShape([3])
    >>> cond = glow((8, 8, 1), num_levels=2, num_steps=1, hidden_units=8,
    ...             context_size=10)
    >>> cond.log_prob(tf.zeros([3, 8, 8, 1]), context=tf.one_hot([0, 1, 2], 10)).shape
    TensorShape([3])
    """
    owner = "glow"
    (h, w, c), num_levels = _check_image_shape(
        event_shape, num_levels, owner, lambda n: n
    )
    num_steps = checks.check_positive_int(num_steps, "num_steps", owner)
    hidden_units = checks.check_positive_int(hidden_units, "hidden_units", owner)
    seed = checks.check_seed(seed, owner)
    dtype = checks.check_dtype_arg(dtype, owner)
    check_network_policy(dtype_policy, dtype, owner)
    context = _context_shape(context_size, context_shape, owner)
    stacked_steps = _bool_or_rule(
        stacked_steps, "stacked_steps", owner, num_steps >= STACKED_FROM_STEPS
    )
    given = reversible
    reversible = _bool_or_rule(
        reversible,
        "reversible",
        owner,
        stacked_steps and num_steps >= REVERSIBLE_FROM_STEPS,
    )
    if given is True and not stacked_steps:
        raise ValueError(
            f"{owner}: argument `reversible=True` needs stacked steps "
            f"(`stacked_steps=True`, the default from {STACKED_FROM_STEPS} steps "
            f"per level); got stacked_steps={stacked_steps} with "
            f"num_steps={num_steps}."
        )
    if keep_hidden not in (True, False):
        raise ValueError(
            f"{owner}: argument `keep_hidden` must be True or False; got "
            f"{keep_hidden!r}."
        )
    if keep_hidden and not reversible:
        raise ValueError(
            f"{owner}: argument `keep_hidden=True` needs reversible gradients "
            f"(`reversible=True`, the default from {REVERSIBLE_FROM_STEPS} steps "
            f"per level with stacked steps); got reversible={reversible} with "
            f"num_steps={num_steps}."
        )
    levels = []
    channels = c
    for i in range(num_levels):
        channels *= 4
        steps: list[tfb.Bijector]
        if stacked_steps:
            # Step k is seeded as GlowStep k below (seed + 2 * k).
            steps = [
                GlowSteps(
                    channels,
                    num_steps,
                    hidden_units=hidden_units,
                    lu_decomposition=lu_decomposition,
                    additive=additive,
                    reversible=reversible,
                    keep_hidden=bool(keep_hidden),
                    context_shape=context,
                    seed=seed * 7919 + 100 * i,
                    dtype=dtype,
                    dtype_policy=dtype_policy,
                    validate_args=validate_args,
                    name=f"{name}_l{i}",
                )
            ]
            levels.append(Level(squeeze=True, steps=steps, split=True))
            if i < num_levels - 1:
                channels //= 2
            continue
        steps = [
            GlowStep(
                channels,
                hidden_units=hidden_units,
                lu_decomposition=lu_decomposition,
                additive=additive,
                context_shape=context,
                seed=seed * 7919 + 100 * i + 2 * k,
                dtype=dtype,
                dtype_policy=dtype_policy,
                validate_args=validate_args,
                name=f"{name}_l{i}_s{k}",
            )
            for k in range(num_steps)
        ]
        levels.append(Level(squeeze=True, steps=steps, split=True))
        if i < num_levels - 1:
            channels //= 2  # the kept half (MultiScale keeps the first C // 2)
    bijector = MultiScale(
        [h, w, c],
        levels,
        learn_top=learn_top,
        context_shape=context,
        dtype=dtype,
        validate_args=validate_args,
        name=name,
    )
    return _finish(
        standard_normal([h, w, c], dtype), bijector, context, owner=owner, name=name
    )


@register_builder("realnvp")
def realnvp(
    event_shape: Sequence[int] = (8, 8, 1),
    *,
    num_levels: int = 2,
    num_couplings: int = 3,
    hidden_units: int = 64,
    act_norm: bool = True,
    learn_top: bool = True,
    context_size: int | None = None,
    context_shape: Sequence[int] | None = None,
    seed: int = 0,
    dtype: DTypeLike = tf.float32,
    dtype_policy: str | None = None,
    validate_args: bool = False,
    name: str = "realnvp",
) -> tfd.TransformedDistribution | ConditionalFlow:
    """RealNVP's multi-scale flow (Dinh et al. 2017, section 3.6).

    Each level but the last: `num_couplings` checkerboard couplings with
    alternating parity, a squeeze, `num_couplings` channel-mask couplings with
    alternating parity, then half the channels exit. The last level: four
    checkerboard couplings. With `act_norm=True` an ActNorm precedes every
    coupling (in place of RealNVP's batch normalization).

    Args:
      event_shape: `[H, W, C]`; H and W divisible by `2**(num_levels - 1)`.
      num_levels: levels.
      num_couplings: couplings per mask type and level.
      hidden_units: width of each coupling network.
      act_norm: an ActNorm before every coupling.
      learn_top: learned prior on the last level.
      context_size: C for a vector context: every coupling, the split priors
        and the top prior are conditioned on it (as `glow`).
      context_shape: `(H', W', C')` for an image context (as `glow`).
      seed: integer seed of every initializer.
      dtype: weight dtype.
      dtype_policy: None, or `'mixed_bfloat16'` / `'mixed_float16'`: the
        coupling networks compute in 16 bits over float32 weights (Keras
        mixed precision); ActNorm, the 1x1 convolutions, every log-det, the
        priors and the base density stay in float32, and the round trip stays
        exact. On CPUs with AVX512-BF16 (and on GPUs, float16) the convolutions
        run about twice as fast; TensorFlow's oneDNN kernels give that speed,
        XLA's CPU convolutions do not, so train with `jit_compile=False` there
        (docs/benchmarks.md, "Mixed precision").
      validate_args: passed to every part.
      name: name.

    Returns:
      A `tfd.TransformedDistribution` over `[H, W, C]` (a `ConditionalFlow`
      with a context).

    Raises:
      ValueError: as `glow` (event shape, counts, `hidden_units`, `seed`,
        `dtype`).

    #### Examples

    >>> flow = realnvp((8, 8, 1), num_levels=2, num_couplings=1, hidden_units=8)
    >>> flow.log_prob(tf.zeros([2, 8, 8, 1])).shape
    TensorShape([2])
    """
    owner = "realnvp"
    (h, w, c), num_levels = _check_image_shape(
        event_shape, num_levels, owner, lambda n: n - 1
    )
    num_couplings = checks.check_positive_int(num_couplings, "num_couplings", owner)
    hidden_units = checks.check_positive_int(hidden_units, "hidden_units", owner)
    seed = checks.check_seed(seed, owner)
    dtype = checks.check_dtype_arg(dtype, owner)
    check_network_policy(dtype_policy, dtype, owner)
    context = _context_shape(context_size, context_shape, owner)
    counter = [0]

    def couplings(channels: int, mask: str, count: int, tag: str) -> list[tfb.Bijector]:
        parts: list[tfb.Bijector] = []
        for k in range(count):
            counter[0] += 1
            if act_norm:
                parts.append(
                    ActNorm(
                        channels,
                        dtype=dtype,
                        validate_args=validate_args,
                        name=f"{name}_{tag}{k}_act_norm",
                    )
                )
            parts.append(
                AffineCoupling(
                    channels,
                    mask=mask,
                    parity=k % 2,
                    hidden_units=hidden_units,
                    context_shape=context,
                    seed=seed * 7919 + counter[0],
                    dtype=dtype,
                    dtype_policy=dtype_policy,
                    validate_args=validate_args,
                    name=f"{name}_{tag}{k}",
                )
            )
        return parts

    levels = []
    channels = c
    for i in range(num_levels):
        if i < num_levels - 1:
            pre = couplings(channels, "checkerboard", num_couplings, f"l{i}_cb")
            channels *= 4
            post = couplings(channels, "channel", num_couplings, f"l{i}_ch")
            levels.append(Level(pre_steps=pre, squeeze=True, steps=post, split=True))
            channels = channels // 2
        else:
            pre = couplings(channels, "checkerboard", 4, f"l{i}_cb")
            levels.append(Level(pre_steps=pre, squeeze=False, steps=(), split=False))
    bijector = MultiScale(
        [h, w, c],
        levels,
        learn_top=learn_top,
        context_shape=context,
        dtype=dtype,
        validate_args=validate_args,
        name=name,
    )
    return _finish(
        standard_normal([h, w, c], dtype), bijector, context, owner=owner, name=name
    )


def sample_with_temperature(
    flow: tfd.TransformedDistribution,
    sample_shape: ShapeLike = (),
    *,
    temperature: float | TensorLike = 1.0,
    seed: Seed = None,
) -> tf.Tensor:
    """Samples `flow.bijector.forward(temperature * eps)`, `eps ~ base`.

    Glow's temperature T < 1 trades diversity for quality (section 5.3).

    Args:
      flow: a `tfd.TransformedDistribution`.
      sample_shape: leading sample shape.
      temperature: non-negative scale of the base noise.
      seed: optional seed for the base sample.

    Returns:
      Samples of shape `sample_shape + event_shape`.

    Raises:
      ValueError: `flow` is not a transformed distribution (a conditional
        family needs `flow.condition(c)`), a bad `sample_shape`, or a
        `temperature` that is not a number >= 0.
    """
    owner = "sample_with_temperature"
    if not isinstance(flow, _TransformedDistribution):
        hint = (
            " (a conditional family: pass `flow.condition(context)`)"
            if is_conditional_family(flow)
            else ""
        )
        raise ValueError(
            f"{owner}: argument `flow` must be a "
            f"tfd.TransformedDistribution{hint}; got {type(flow)!r}."
        )
    sample_shape = checks.check_sample_shape(sample_shape, owner)
    if not isinstance(temperature, (tf.Tensor, tf.Variable)):
        temperature = checks.check_number(
            temperature, "temperature", owner, minimum=0.0, strict=False
        )
    eps = flow.distribution.sample(sample_shape, seed=seed)
    t = tf.cast(temperature, eps.dtype)
    return flow.bijector.forward(eps * t)
