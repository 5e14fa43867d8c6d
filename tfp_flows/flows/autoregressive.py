"""MAF and IAF builders, conditional flows and MADE's mask ensemble.

`maf(...)` and `iaf(...)` return a `tfd.TransformedDistribution` (a
`ConditionalFlow` when `context_size` is set): a stack of `num_layers`
autoregressive bijectors with a fixed permutation between them and an
optional ActNorm before each layer (data side).

Conditioning is one argument. A `ConditionalFlow` takes the context once,
`flow.condition(c)` (a `tfd.TransformedDistribution` whose every MAF/IAF layer
is bound to `c`) or `flow.log_prob(x, context=c)` / `flow.sample(n,
context=c)`; there are no per-bijector keyword dictionaries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from typing import overload

import numpy as np
import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from tfp_flows.bijectors._sigmoidal import SIGMOIDAL_TRANSFORMS
from tfp_flows.bijectors._sigmoidal import check_sigmoidal_args
from tfp_flows.bijectors.act_norm import ActNorm
from tfp_flows.bijectors.maf import IAF
from tfp_flows.bijectors.maf import MAF
from tfp_flows.bijectors.maf import transform_num_params
from tfp_flows.flows._base import base_distribution_or_default
from tfp_flows.flows._base import chain_flow
from tfp_flows.flows.conditional import ConditionalFlow
from tfp_flows.internal.checks import check_dtype_arg
from tfp_flows.internal.checks import check_positive_int
from tfp_flows.internal.checks import check_seed
from tfp_flows.internal.keras import keras_layers_of
from tfp_flows.internal.specs import register_builder
from tfp_flows.internal.types import ActivationLike
from tfp_flows.internal.types import DTypeLike
from tfp_flows.internal.types import InputOrder
from tfp_flows.internal.types import TensorLike
from tfp_flows.nn.made import MADE
from tfp_flows.nn.made import check_hidden_units
from tfp_flows.nn.made import made_degrees

# `ConditionalFlow` moved to `tfp_flows.flows.conditional`; re-exported here.
__all__ = ["ConditionalFlow", "iaf", "maf", "mask_ensemble_log_prob"]


def _fold_permutations(d, k, perms, input_order, num_masks):
    """Folds the permutations between layers into the MADE orderings.

    A permutation `P` between two autoregressive layers is a relabelling of
    coordinates: `P o MAF_order o P^-1` is the MAF whose MADE uses the
    relabelled ordering. So the stack `MAF_{K-1} o P o ... o P o MAF_0` is
    exactly `MAF'_{K-1} o ... o MAF'_0 o Q` with every `MAF'` acting on the
    data coordinates and one permutation `Q` of the base variable, which an
    i.i.d. base (the default standard normal) absorbs. The flow's function
    class and density are unchanged, and no gather is left between layers:
    XLA's CPU gathers cost more than a MADE pass at D = 64.

    Folding applies to a fixed ordering (`'left-to-right'`, `'right-to-left'`
    or an explicit permutation) with one mask set; random or resampled
    orderings keep explicit `tfb.Permute` bijectors.

    Returns:
      `(orders, base_perm)`: per layer the `input_order` argument of its MADE
      (`input_order` itself where nothing was folded) and the permutation
      `Q` for `tfb.Permute` at the base (None if the identity).
    """
    fixed = not (isinstance(input_order, str) and input_order == "random")
    if num_masks != 1 or not fixed or all(p is None for p in perms):
        return [input_order] * k, None
    # The layer's own ordering: position of each coordinate of its frame
    # (MADE's degree minus one; invalid orders raise MADE's own error).
    own = made_degrees(d, [], input_order=input_order)[0] - 1
    # `pos[m]`: the data coordinate of coordinate m of layer i's frame. The
    # last layer acts on the data; `tfb.Permute` maps v to y = v[perm], so
    # frame i-1 relates to frame i by pos_{i-1}[perm] = pos_i.
    orders = [None] * k
    pos = np.arange(d)
    for i in range(k - 1, -1, -1):
        data_order = np.empty(d, np.int64)
        data_order[pos] = own
        orders[i] = data_order.tolist()
        if i > 0 and perms[i - 1] is not None:
            prev = np.empty(d, np.int64)
            prev[np.asarray(perms[i - 1])] = pos
            pos = prev
    base_perm = None
    if not np.array_equal(pos, np.arange(d)):
        base_perm = np.argsort(pos).astype(np.int32)
    return orders, base_perm


def _autoregressive_flow(
    layer_class,
    kind,
    *,
    event_size,
    num_layers,
    hidden_units,
    transform,
    permutation,
    actnorm,
    base_distribution,
    context_size,
    activation,
    direct_connections,
    input_order,
    hidden_degrees,
    num_masks,
    log_scale_bound,
    num_bins,
    spline_bound,
    num_hidden_sigmoids,
    sigmoid_layers,
    seed,
    dtype,
    validate_args,
    name,
):
    """The one implementation behind `maf` and `iaf`, given all their arguments.

    The two builders differ only in `layer_class` (`MAF`, or its inverse
    `IAF`), in `kind` (their name in errors and layer names) and in their
    defaults, which live in their public signatures; each passes its own
    arguments on unchanged (`**dict(locals())`, as a TFP constructor's
    `parameters = dict(locals())`).
    """
    owner = kind
    d = check_positive_int(event_size, "event_size", owner)
    k = check_positive_int(num_layers, "num_layers", owner)
    if context_size is not None:
        context_size = check_positive_int(context_size, "context_size", owner)
    hidden_units = check_hidden_units(d, hidden_units, context_size, owner=owner)
    seed = check_seed(seed, owner)
    dtype = check_dtype_arg(dtype, owner)
    if transform in SIGMOIDAL_TRANSFORMS:  # before the MADEs are sized by them
        check_sigmoidal_args(owner, num_hidden_sigmoids, sigmoid_layers)
    num_params = transform_num_params(
        transform,
        num_bins=num_bins,
        num_hidden_sigmoids=num_hidden_sigmoids,
        sigmoid_layers=sigmoid_layers,
    )
    rng = np.random.default_rng(seed)
    if permutation == "reverse":
        perms: list[Any] = [np.arange(d)[::-1]] * (k - 1)  # arrays, or all None
    elif permutation == "random":
        perms = [rng.permutation(d) for _ in range(k - 1)]
    elif permutation is None:
        perms = [None] * (k - 1)
    else:
        raise ValueError(
            f"{owner}: argument `permutation` must be 'reverse', 'random' or None; "
            f"got {permutation!r}."
        )
    base_distribution, default_base = base_distribution_or_default(
        base_distribution, [d], dtype, owner
    )
    orders, base_perm = _fold_permutations(d, k, perms, input_order, num_masks)
    bijectors = []  # forward (base -> data) order
    if base_perm is not None and not default_base:
        bijectors.append(tfb.Permute(permutation=base_perm, name="permute_base"))
    for i in range(k):
        made = MADE(
            d,
            num_params=num_params,
            hidden_units=hidden_units,
            input_order=orders[i],
            hidden_degrees=hidden_degrees,
            activation=activation,
            direct_connections=direct_connections,
            context_size=context_size,
            num_masks=num_masks,
            seed=seed * 1000 + i,
            dtype=dtype.name,
            name=f"{name}_made_{i}",
        )
        bijectors.append(
            layer_class(
                made,
                transform=transform,
                log_scale_bound=log_scale_bound,
                num_bins=num_bins,
                spline_bound=spline_bound,
                num_hidden_sigmoids=num_hidden_sigmoids,
                sigmoid_layers=sigmoid_layers,
                validate_args=validate_args,
                name=f"{kind}_{i}",
            )
        )
        if actnorm:
            bijectors.append(
                ActNorm(d, event_ndims=1, dtype=dtype, name=f"{name}_act_norm_{i}")
            )
        if i < k - 1 and perms[i] is not None and orders[i] is input_order:
            bijectors.append(
                tfb.Permute(permutation=perms[i].astype(np.int32), name=f"permute_{i}")
            )
    if context_size is not None:
        return ConditionalFlow(
            base_distribution, bijectors, context_size, name=name, owner=owner
        )
    return chain_flow(base_distribution, bijectors, owner=owner, name=name)


@overload
def maf(
    event_size: int,
    *,
    num_layers: int = ...,
    hidden_units: Sequence[int] = ...,
    transform: str = ...,
    permutation: str | None = ...,
    actnorm: bool = ...,
    base_distribution: tfd.Distribution | None = ...,
    context_size: None = ...,
    activation: ActivationLike = ...,
    direct_connections: bool = ...,
    input_order: InputOrder = ...,
    hidden_degrees: str = ...,
    num_masks: int = ...,
    log_scale_bound: float | None = ...,
    num_bins: int = ...,
    spline_bound: float = ...,
    num_hidden_sigmoids: int = ...,
    sigmoid_layers: int = ...,
    seed: int = ...,
    dtype: DTypeLike = ...,
    validate_args: bool = ...,
    name: str = ...,
) -> tfd.TransformedDistribution: ...


@overload
def maf(
    event_size: int,
    *,
    num_layers: int = ...,
    hidden_units: Sequence[int] = ...,
    transform: str = ...,
    permutation: str | None = ...,
    actnorm: bool = ...,
    base_distribution: tfd.Distribution | None = ...,
    context_size: int,
    activation: ActivationLike = ...,
    direct_connections: bool = ...,
    input_order: InputOrder = ...,
    hidden_degrees: str = ...,
    num_masks: int = ...,
    log_scale_bound: float | None = ...,
    num_bins: int = ...,
    spline_bound: float = ...,
    num_hidden_sigmoids: int = ...,
    sigmoid_layers: int = ...,
    seed: int = ...,
    dtype: DTypeLike = ...,
    validate_args: bool = ...,
    name: str = ...,
) -> ConditionalFlow: ...


@overload
def maf(
    event_size: int,
    *,
    num_layers: int = ...,
    hidden_units: Sequence[int] = ...,
    transform: str = ...,
    permutation: str | None = ...,
    actnorm: bool = ...,
    base_distribution: tfd.Distribution | None = ...,
    context_size: int | None = ...,
    activation: ActivationLike = ...,
    direct_connections: bool = ...,
    input_order: InputOrder = ...,
    hidden_degrees: str = ...,
    num_masks: int = ...,
    log_scale_bound: float | None = ...,
    num_bins: int = ...,
    spline_bound: float = ...,
    num_hidden_sigmoids: int = ...,
    sigmoid_layers: int = ...,
    seed: int = ...,
    dtype: DTypeLike = ...,
    validate_args: bool = ...,
    name: str = ...,
) -> tfd.TransformedDistribution | ConditionalFlow: ...


@register_builder("maf")
def maf(
    event_size: int,
    *,
    num_layers: int = 5,
    hidden_units: Sequence[int] = (64, 64),
    transform: str = "affine",
    permutation: str | None = "reverse",
    actnorm: bool = False,
    base_distribution: tfd.Distribution | None = None,
    context_size: int | None = None,
    activation: ActivationLike = "relu",
    direct_connections: bool = False,
    input_order: InputOrder = "left-to-right",
    hidden_degrees: str = "equal",
    num_masks: int = 1,
    log_scale_bound: float | None = 5.0,
    num_bins: int = 8,
    spline_bound: float = 3.0,
    num_hidden_sigmoids: int = 8,
    sigmoid_layers: int = 1,
    seed: int = 0,
    dtype: DTypeLike = tf.float32,
    validate_args: bool = False,
    name: str = "maf",
) -> tfd.TransformedDistribution | ConditionalFlow:
    """A masked autoregressive flow: `num_layers` MAF layers on a base.

    `log_prob` costs one MADE pass per layer; `sample` `D` passes per layer.

    Args:
      event_size: D.
      num_layers: K, the number of MAF layers.
      hidden_units: hidden sizes of every MADE.
      transform: `'affine'`, `'gated'`, `'spline'`, `'sigmoidal'` (the deep
        sigmoidal flow of neural autoregressive flows, Huang et al. 2018) or
        `'dense_sigmoidal'` (their DDSF); see `tfp_flows.bijectors.MAF`.
        With a sigmoidal transform `log_prob` stays one MADE pass per layer
        and `sample` solves each dimension by a bracketed Newton iteration.
      permutation: between layers: `'reverse'`, `'random'` (seeded) or None.
        With a fixed `input_order` and one mask set, the permutations are
        folded into the MADE orderings (the same model, no `tfb.Permute`
        gathers between layers); see `_fold_permutations`.
      actnorm: add an ActNorm (vectors) after each MAF layer in the forward
        direction, i.e. before it on the data side; initialize it with
        `tfp_flows.flows.initialize_act_norms(flow, data)`.
      base_distribution: event shape `[D]`; default a standard normal.
      context_size: C for a conditional flow (returns a `ConditionalFlow`).
      activation: hidden activation of every `MADE`.
      direct_connections: input-to-output connections in every `MADE`.
      input_order: ordering of every `MADE` (see `tfp_flows.nn.MADE`).
      hidden_degrees: `'equal'` or `'random'` hidden degrees of every `MADE`.
      num_masks: mask sets per `MADE` (order/connectivity-agnostic training).
      log_scale_bound: see `MAF`.
      num_bins: the `'spline'` transform's bins (see `MAF`); every MADE then
        has `3 * num_bins - 1` outputs per dimension.
      spline_bound: the `'spline'` transform's range `[-B, B]` (see `MAF`).
      num_hidden_sigmoids: the sigmoidal transforms' units K per layer; every
        MADE then has `3 * K * sigmoid_layers` outputs per dimension
        (`'sigmoidal'`; quadratic in K for `'dense_sigmoidal'`).
      sigmoid_layers: the sigmoidal transforms' layers L (see `MAF`).
      seed: seeds every MADE (layer `i` gets `seed * 1000 + i`) and the random
        permutations.
      dtype: weight dtype.
      validate_args: check inputs for NaN/Inf.
      name: name of the distribution and prefix of the Keras layers.

    Returns:
      A `tfd.TransformedDistribution`, or a `ConditionalFlow` if `context_size`.

    Raises:
      ValueError: for bad sizes or options (naming this builder's argument,
        e.g. `hidden_units[0]` too small for `event_size`), a `seed` that is
        not a non-negative integer, a non-floating `dtype`, or a base
        distribution of another event shape or dtype.
      TypeError: `base_distribution` is not a `tfd.Distribution`.

    #### Examples

    >>> flow = maf(2, num_layers=2, hidden_units=[8])
    >>> flow.sample(3, seed=1).shape
    TensorShape([3, 2])
    >>> cond = maf(2, num_layers=2, hidden_units=[8], context_size=1)
    >>> cond.log_prob(tf.zeros([3, 2]), context=tf.ones([3, 1])).shape
    TensorShape([3])
    """
    return _autoregressive_flow(MAF, "maf", **dict(locals()))


@overload
def iaf(
    event_size: int,
    *,
    num_layers: int = ...,
    hidden_units: Sequence[int] = ...,
    transform: str = ...,
    permutation: str | None = ...,
    actnorm: bool = ...,
    base_distribution: tfd.Distribution | None = ...,
    context_size: None = ...,
    activation: ActivationLike = ...,
    direct_connections: bool = ...,
    input_order: InputOrder = ...,
    hidden_degrees: str = ...,
    num_masks: int = ...,
    log_scale_bound: float | None = ...,
    num_bins: int = ...,
    spline_bound: float = ...,
    num_hidden_sigmoids: int = ...,
    sigmoid_layers: int = ...,
    seed: int = ...,
    dtype: DTypeLike = ...,
    validate_args: bool = ...,
    name: str = ...,
) -> tfd.TransformedDistribution: ...


@overload
def iaf(
    event_size: int,
    *,
    num_layers: int = ...,
    hidden_units: Sequence[int] = ...,
    transform: str = ...,
    permutation: str | None = ...,
    actnorm: bool = ...,
    base_distribution: tfd.Distribution | None = ...,
    context_size: int,
    activation: ActivationLike = ...,
    direct_connections: bool = ...,
    input_order: InputOrder = ...,
    hidden_degrees: str = ...,
    num_masks: int = ...,
    log_scale_bound: float | None = ...,
    num_bins: int = ...,
    spline_bound: float = ...,
    num_hidden_sigmoids: int = ...,
    sigmoid_layers: int = ...,
    seed: int = ...,
    dtype: DTypeLike = ...,
    validate_args: bool = ...,
    name: str = ...,
) -> ConditionalFlow: ...


@overload
def iaf(
    event_size: int,
    *,
    num_layers: int = ...,
    hidden_units: Sequence[int] = ...,
    transform: str = ...,
    permutation: str | None = ...,
    actnorm: bool = ...,
    base_distribution: tfd.Distribution | None = ...,
    context_size: int | None = ...,
    activation: ActivationLike = ...,
    direct_connections: bool = ...,
    input_order: InputOrder = ...,
    hidden_degrees: str = ...,
    num_masks: int = ...,
    log_scale_bound: float | None = ...,
    num_bins: int = ...,
    spline_bound: float = ...,
    num_hidden_sigmoids: int = ...,
    sigmoid_layers: int = ...,
    seed: int = ...,
    dtype: DTypeLike = ...,
    validate_args: bool = ...,
    name: str = ...,
) -> tfd.TransformedDistribution | ConditionalFlow: ...


@register_builder("iaf")
def iaf(
    event_size: int,
    *,
    num_layers: int = 5,
    hidden_units: Sequence[int] = (64, 64),
    transform: str = "gated",
    permutation: str | None = "reverse",
    actnorm: bool = False,
    base_distribution: tfd.Distribution | None = None,
    context_size: int | None = None,
    activation: ActivationLike = "relu",
    direct_connections: bool = False,
    input_order: InputOrder = "left-to-right",
    hidden_degrees: str = "equal",
    num_masks: int = 1,
    log_scale_bound: float | None = 5.0,
    num_bins: int = 8,
    spline_bound: float = 3.0,
    num_hidden_sigmoids: int = 8,
    sigmoid_layers: int = 1,
    seed: int = 0,
    dtype: DTypeLike = tf.float32,
    validate_args: bool = False,
    name: str = "iaf",
) -> tfd.TransformedDistribution | ConditionalFlow:
    """An inverse autoregressive flow: `num_layers` IAF layers on a base.

    `sample` (and `log_prob` of its own samples through the cache) costs one
    MADE pass per layer; `log_prob` of given data `D` passes per layer.

    Args:
      event_size: D.
      num_layers: K, the number of IAF layers.
      hidden_units: hidden sizes of every MADE (as `maf`).
      transform: `'gated'` (default: Kingma et al.'s update
        `z = sigma * z + (1 - sigma) * m`), `'affine'`, `'spline'`,
        `'sigmoidal'` or `'dense_sigmoidal'` (neural autoregressive flows:
        `sample` is one MADE pass per layer, `log_prob` of given data a
        bracketed Newton solve per dimension).
      permutation: between layers: `'reverse'`, `'random'` or None (as
        `maf`).
      actnorm: an ActNorm after each IAF layer in the forward direction (as
        `maf`).
      base_distribution: event shape `[D]`; default a standard normal.
      context_size: C for a conditional flow (returns a `ConditionalFlow`).
      activation: hidden activation of every `MADE`.
      direct_connections: input-to-output connections in every `MADE`.
      input_order: ordering of every `MADE` (see `tfp_flows.nn.MADE`).
      hidden_degrees: `'equal'` or `'random'` hidden degrees of every `MADE`.
      num_masks: mask sets per `MADE`.
      log_scale_bound: the `'affine'` transform's soft clamp (see `MAF`).
      num_bins: the `'spline'` transform's bins (as `maf`).
      spline_bound: the `'spline'` transform's range `[-B, B]` (as `maf`).
      num_hidden_sigmoids: the sigmoidal transforms' units per layer (as
        `maf`).
      sigmoid_layers: the sigmoidal transforms' layers (as `maf`).
      seed: seeds every MADE and the random permutations (as `maf`).
      dtype: weight dtype.
      validate_args: check inputs for NaN/Inf.
      name: name of the distribution and prefix of the Keras layers.

    Returns:
      A `tfd.TransformedDistribution`, or a `ConditionalFlow` if `context_size`.

    Raises:
      ValueError, TypeError: as `maf`.

    #### Examples

    >>> flow = iaf(2, num_layers=2, hidden_units=[8])
    >>> flow.log_prob(flow.sample(3, seed=1)).shape
    TensorShape([3])
    """
    return _autoregressive_flow(IAF, "iaf", **dict(locals()))


def mask_ensemble_log_prob(
    flow: tfd.Distribution | ConditionalFlow,
    x: TensorLike,
    *,
    context: TensorLike | None = None,
) -> tf.Tensor:
    """MADE's ensemble: `log (1/K) sum_k p_k(x)` over the K mask sets.

    Every MADE in `flow` must have the same `num_masks` K; mask set `k` is
    selected in all of them at once, the densities are averaged, and the
    previous mask indices are restored.

    Args:
      flow: a distribution (or `ConditionalFlow`) built on MADEs.
      x: values `[..., D]`.
      context: for a `ConditionalFlow`.

    Returns:
      Log of the ensemble density, shape `[...]`.

    Raises:
      ValueError: if the flow has no MADE or the MADEs disagree on K.
    """
    mades = [layer for layer in keras_layers_of(flow) if isinstance(layer, MADE)]
    counts = sorted({m.num_masks for m in mades})
    if len(counts) != 1:
        raise ValueError(
            "mask_ensemble_log_prob: argument `flow` must contain MADEs with one "
            f"common num_masks; got num_masks values {counts}."
        )
    k = counts[0]
    saved = [m.mask_index.numpy() for m in mades]
    dist = flow.condition(context) if isinstance(flow, ConditionalFlow) else flow
    if context is not None and not isinstance(flow, ConditionalFlow):
        raise ValueError(
            "mask_ensemble_log_prob: argument `context` was given for an "
            "unconditional flow."
        )
    x = tf.convert_to_tensor(x, dtype_hint=dist.dtype)
    try:
        values = []
        for i in range(k):
            for m in mades:
                m.set_mask_index(i)
            values.append(dist.log_prob(tf.identity(x)))
    finally:
        for m, s in zip(mades, saved, strict=True):
            m.set_mask_index(int(s))
    return tf.reduce_logsumexp(tf.stack(values), axis=0) - tf.math.log(
        tf.cast(k, values[0].dtype)
    )
