"""RealNVP-style coupling flows on vectors.

`coupling_flow(D, ...)` returns a `tfd.TransformedDistribution` over `[D]`: a
stack of `num_layers` affine couplings (`tfp_flows.bijectors.AffineCoupling`
with `event_ndims=1`) whose parity alternates, so every dimension is
transformed by every other layer, optionally with an ActNorm before each
coupling on the data side. `tfp_flows.flows.realnvp` is the image version.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tfp_flows.bijectors.act_norm import ActNorm
from tfp_flows.bijectors.affine_coupling import AffineCoupling
from tfp_flows.bijectors.spline_coupling import SplineCoupling
from tfp_flows.flows._base import base_distribution_or_default
from tfp_flows.flows._base import chain_flow
from tfp_flows.flows.conditional import ConditionalFlow
from tfp_flows.internal import checks
from tfp_flows.internal.specs import register_builder
from tfp_flows.internal.types import DTypeLike

__all__ = ["coupling_flow"]

_MASKS = ("half", "checkerboard")


@register_builder("coupling_flow")
def coupling_flow(
    event_size: int,
    *,
    num_layers: int = 8,
    hidden_units: int = 64,
    mask: str = "half",
    transform: str = "affine",
    num_bins: int = 8,
    spline_bound: float = 3.0,
    actnorm: bool = False,
    base_distribution: tfd.Distribution | None = None,
    context_size: int | None = None,
    seed: int = 0,
    dtype: DTypeLike = tf.float32,
    validate_args: bool = False,
    name: str = "coupling_flow",
) -> tfd.TransformedDistribution | ConditionalFlow:
    """A RealNVP flow on vectors: `num_layers` couplings, alternating.

    Layer `i` (in the data-to-latent direction, the one `log_prob` uses) keeps
    the part of `x` selected by the mask with parity `i % 2` and transforms
    the rest with a shift and scale computed from the kept part:

        z_b = (x_b + shift(x_a)) * scale(x_a),   z_a = x_a
        log p(x) = log N(z) + sum over layers of sum(log scale)

    * `mask='half'`: `x_a` is the first `D // 2` dimensions (even layers) or
      the last `D - D // 2` (odd layers). For `D = 2` this is RealNVP's
      scheme: each coordinate is transformed conditioned on the other, in turn.
    * `mask='checkerboard'`: `x_a` is the even dimensions (even layers) or the
      odd ones (odd layers), RealNVP's checkerboard on a vector.

    `scale = sigmoid(h + 2)` (Glow's parameterization, see `AffineCoupling`)
    is at most 1, so a coupling can only spread the data out on the way to
    the latent's standard normal; set `actnorm=True` for targets that are
    narrower than the base (the ActNorms' learned scales are unbounded), and
    call `tfp_flows.flows.initialize_act_norms(flow, data)` before training.

    With `transform='spline'` each coupling is a `SplineCoupling` instead
    (Neural Spline Flows' RQ-NSF (C)): `z_b = g(x_b; theta(x_a))` with a
    monotone rational-quadratic spline of `num_bins` bins on
    `[-spline_bound, spline_bound]`, which can model sharp (even nearly
    discontinuous) densities that affine couplings only blur.

    Args:
      event_size: D (at least 2 for the 'half' mask).
      num_layers: number of couplings.
      hidden_units: width of each coupling network (two hidden Dense layers).
      mask: `'half'` or `'checkerboard'`; the parity alternates per layer.
      transform: `'affine'` (RealNVP) or `'spline'` (half mask only).
      num_bins: the spline's bins (`'spline'` only).
      spline_bound: the spline's range `[-B, B]` (`'spline'` only).
      actnorm: an `ActNorm(D, event_ndims=1)` before each coupling (data side).
      base_distribution: event shape `[D]`; default a standard normal.
      context_size: C for a conditional flow `p(x | c)`, `c` of shape
        `[..., C]`: every coupling network sees `concat(x_a, c)` (returns a
        `ConditionalFlow`).
      seed: integer seed of every initializer (layer `i` gets `seed * 7919 + i`).
      dtype: weight dtype.
      validate_args: passed to every bijector.
      name: name of the distribution and prefix of the Keras layers.

    Returns:
      A `tfd.TransformedDistribution` over `[D]`, or a `ConditionalFlow` with
      `context_size`.

    Raises:
      ValueError: for a non-positive size or count, an unknown `mask`, D < 2
        with the 'half' mask, a bad `seed` or `dtype`, or a base distribution
        whose event shape is not `[D]` or whose dtype is not `dtype`.
      TypeError: `base_distribution` is not a `tfd.Distribution`.

    #### Examples

    >>> flow = coupling_flow(2, num_layers=4, hidden_units=8)
    >>> flow.log_prob(tf.zeros([3, 2])).shape
    TensorShape([3])
    >>> flow.sample(5, seed=1).shape
    TensorShape([5, 2])

    #### References

    [1]: Laurent Dinh, Jascha Sohl-Dickstein, Samy Bengio. Density estimation
         using Real NVP. ICLR 2017. https://arxiv.org/abs/1605.08803
    """
    owner = "coupling_flow"
    d = checks.check_positive_int(event_size, "event_size", owner)
    k = checks.check_positive_int(num_layers, "num_layers", owner)
    width = checks.check_positive_int(hidden_units, "hidden_units", owner)
    if mask not in _MASKS:
        raise ValueError(
            f"{owner}: argument `mask` must be one of {_MASKS}; got {mask!r}."
        )
    if mask == "half" and d < 2:
        raise ValueError(
            f"{owner}: the 'half' mask splits the vector in two, so argument "
            f"`event_size` must be >= 2; got {d}. Use mask='checkerboard'."
        )
    if transform not in ("affine", "spline"):
        raise ValueError(
            f"{owner}: argument `transform` must be 'affine' or 'spline'; got "
            f"{transform!r}."
        )
    if transform == "spline" and mask != "half":
        raise ValueError(
            f"{owner}: transform='spline' needs mask='half'; got mask={mask!r}."
        )
    seed = checks.check_seed(seed, owner)
    dtype = checks.check_dtype_arg(dtype, owner)
    context_shape = None
    if context_size is not None:
        context_shape = (
            checks.check_positive_int(context_size, "context_size", owner),
        )
    base_distribution, _ = base_distribution_or_default(
        base_distribution, [d], dtype, owner
    )
    # Both classes take the same arguments; the spline's two extra ones go in
    # `extra` (typed loosely: mypy cannot match a dict to named parameters).
    cls: type[AffineCoupling] = AffineCoupling
    extra: dict[str, Any] = {}
    if transform == "spline":
        cls, extra = SplineCoupling, {"num_bins": num_bins, "bound": spline_bound}
    bijectors = []  # forward (base -> data) order
    for i in range(k):
        bijectors.append(
            cls(
                d,
                mask=mask,
                parity=i % 2,
                hidden_units=width,
                event_ndims=1,
                context_shape=context_shape,
                seed=seed * 7919 + i,
                dtype=dtype,
                validate_args=validate_args,
                name=f"{name}_coupling_{i}",
                **extra,
            )
        )
        if actnorm:
            # After coupling i in the forward direction = before it on the
            # data side, so the data reaching each coupling is normalized.
            bijectors.append(
                ActNorm(
                    d,
                    event_ndims=1,
                    dtype=dtype,
                    validate_args=validate_args,
                    name=f"{name}_act_norm_{i}",
                )
            )
    if context_shape is not None:
        return ConditionalFlow(
            base_distribution,
            bijectors,
            name=name,
            context_shape=context_shape,
            owner=owner,
        )
    return chain_flow(base_distribution, bijectors, owner=owner, name=name)
