"""MADE: a masked autoencoder for distribution estimation, as a Keras 3 layer.

Germain et al. (2015) make a feed-forward network autoregressive by masking
its weights. Every input `d` gets a degree `m(d)` in `1..D` (its position in
the ordering), every hidden unit `k` of layer `l` a degree `m^l(k)` in
`[min m^{l-1}, D-1]`, and a connection is kept when

    hidden:  M^l[j, k]  = 1{m^l(k) >= m^{l-1}(j)}
    output:  M^V[k, d]  = 1{m(d)   >  m^L(k)}
    direct:  M^A[j, d]  = 1{m(d)   >  m(j)}

so output `d` depends only on inputs that come before `d` in the ordering.

The layer keeps `num_masks` mask sets (orderings / connectivities) as
non-trainable weights and a `mask_index` that selects one, so that
order- and connectivity-agnostic training (`next_mask`, `resample_masks`)
and MADE's mask ensemble at evaluation work inside `tf.function` and XLA.

`MADE.solve`, the sequential direction of MAF and IAF, runs in
`tfp_flows.nn.made_solve`, with its strategy chosen by the constructor
arguments `solve_strategy`, `unroll_blocks_up_to` and `full_pass_up_to`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from tfp_flows.internal.checks import check_float_dtype
from tfp_flows.internal.checks import check_int_sequence
from tfp_flows.internal.checks import check_positive_int
from tfp_flows.internal.checks import check_seed
from tfp_flows.internal.checks import shape_str
from tfp_flows.internal.conditioning import check_context
from tfp_flows.internal.conditioning import check_no_context
from tfp_flows.internal.keras import keras
from tfp_flows.internal.types import ActivationLike
from tfp_flows.internal.types import InitializerLike
from tfp_flows.internal.types import InputOrder
from tfp_flows.internal.types import LayerDType
from tfp_flows.internal.types import TensorLike
from tfp_flows.nn import made_solve

__all__ = ["MADE", "made_degrees", "made_masks"]


def check_hidden_units(
    event_size,
    hidden_units,
    context_size=None,
    *,
    owner="MADE",
    arg_name="hidden_units",
):
    """The hidden sizes of a MADE as a list; ValueError naming `arg_name`.

    Every hidden layer needs each degree `1..D-1` (and 0, the context's, when
    conditional), otherwise some outputs lose their inputs: so each size must
    be `>= D - 1` (`>= D` with a context). Builders call this with their own
    `owner` and argument name (e.g. the VAE's `made_hidden_units`).
    """
    units = check_int_sequence(hidden_units, arg_name, owner)
    d = event_size
    low = 0 if context_size is not None else 1
    need = d - low
    for i, h in enumerate(units):
        if need > 1 and h < need:
            raise ValueError(
                f"{owner}: argument `{arg_name}[{i}]` = {h} is smaller than "
                f"the {need} hidden degrees {low}..{d - 1} needed (event_size="
                f"{d}, context_size={context_size}): the outputs that "
                f"need the missing degrees would be disconnected. Use >= "
                f"{need} hidden units per layer."
            )
    return units


def _keras_get(getter, value, arg_name, owner):
    """`keras.activations.get` / `keras.initializers.get`, naming the argument."""
    try:
        return getter(value)
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"{owner}: argument `{arg_name}` must be a Keras {arg_name.split('_')[-1]} "
            f"name or callable; got {value!r} ({e})"
        ) from None


_ORDERS = ("left-to-right", "right-to-left", "random")
_HIDDEN = ("equal", "random")


def made_degrees(
    event_size: int,
    hidden_units: Sequence[int],
    *,
    input_order: InputOrder = "left-to-right",
    hidden_degrees: str = "equal",
    conditional: bool = False,
    rng: np.random.Generator | None = None,
) -> list[np.ndarray]:
    """Degrees of the inputs and of every hidden layer (Germain et al. 2015).

    Args:
      event_size: D, the number of inputs.
      hidden_units: sizes of the hidden layers.
      input_order: `'left-to-right'`, `'right-to-left'`, `'random'` (drawn from
        `rng`) or a permutation `p` of `0..D-1`: input `i` is the `p[i]`-th
        variable of the ordering (its degree is `p[i] + 1`).
      hidden_degrees: `'equal'` (each value of `[min previous degree, D-1]`
        the same number of times, up to one) or `'random'` (uniform in that
        range, drawn from `rng`).
      conditional: the network also takes a context, treated as degree 0:
        hidden degrees then start at 0, and degree-0 units (which see only
        the context) reach every output, so the first variable in the
        ordering is conditioned on the context too.
      rng: a `np.random.Generator` for the random options.

    Returns:
      `[input_degrees, hidden_1_degrees, ...]`, int arrays.

    #### Examples

    >>> [d.tolist() for d in made_degrees(3, [4], input_order="right-to-left")]
    [[3, 2, 1], [1, 2, 1, 2]]
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    d = event_size
    if isinstance(input_order, str):
        if input_order == "left-to-right":
            degrees = np.arange(1, d + 1)
        elif input_order == "right-to-left":
            degrees = np.arange(d, 0, -1)
        elif input_order == "random":
            degrees = rng.permutation(d) + 1
        else:
            raise ValueError(
                f"MADE: argument `input_order` must be one of {_ORDERS} or a "
                f"permutation of 0..{d - 1}; got {input_order!r}."
            )
    else:
        perm = np.asarray(input_order)
        if perm.shape != (d,) or sorted(perm.tolist()) != list(range(d)):
            raise ValueError(
                f"MADE: argument `input_order` must be a permutation of 0..{d - 1} "
                f"(shape [{d}]); got {perm.tolist()!r} (shape {list(perm.shape)})."
            )
        degrees = perm.astype(np.int64) + 1
    if hidden_degrees not in _HIDDEN:
        raise ValueError(
            f"MADE: argument `hidden_degrees` must be one of {_HIDDEN}; "
            f"got {hidden_degrees!r}."
        )
    out = [degrees.astype(np.int64)]
    for units in hidden_units:
        low = 0 if conditional else min(int(out[-1].min()), d - 1)
        high = d - 1
        if hidden_degrees == "equal":
            deg = low + np.arange(units) % (high - low + 1)
        else:
            deg = rng.integers(low, high + 1, size=units)
        out.append(deg.astype(np.int64))
    return out


def made_masks(degrees: Sequence[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    """Hidden masks `[in, out]`, the output mask `[H_L, D]` and the direct mask.

    Args:
      degrees: `made_degrees(...)`.

    Returns:
      `(hidden_masks + [output_mask], direct_mask)`, float arrays of 0 and 1.
    """
    masks = [
        (degrees[i + 1][None, :] >= degrees[i][:, None]).astype(np.float64)
        for i in range(len(degrees) - 1)
    ]
    masks.append((degrees[0][None, :] > degrees[-1][:, None]).astype(np.float64))
    direct = (degrees[0][None, :] > degrees[0][:, None]).astype(np.float64)
    return masks, direct


@keras.saving.register_keras_serializable(package="tfp_flows")
class MADE(keras.layers.Layer):
    """Masked autoencoder for distribution estimation (Germain et al. 2015).

    Maps `x` of shape `[..., D]` (and an optional `context` `[..., C]`) to
    `num_params` numbers per dimension, shape `[..., D, num_params]`, where
    output `d` depends only on the inputs before `d` in the ordering:

        h^0 = x
        h^l = act((W^l * M^l) h^{l-1} + V^l c + b^l)        l = 1..L
        out = (W^V * M^V) h^L + (A * M^A) x + b^V

    The context `c` (if `context_size` is set) feeds every hidden layer through
    an unmasked matrix `V^l`; it counts as degree 0, so hidden degrees start
    at 0 and every output, the first in the ordering included, depends on it.
    Weights are built at construction.

    Order- and connectivity-agnostic training: the layer holds `num_masks`
    mask sets, drawn from `seed`, and `mask_index` (a non-trainable weight)
    selects the one in use. `next_mask()` moves to the next set (call it
    between training batches); `resample_masks(seed)` draws new sets;
    `set_mask_index(i)` selects one, e.g. to average densities over all sets
    (MADE's ensemble, see `tfp_flows.flows.mask_ensemble_log_prob`).

    `event_size=1` is valid: the single output comes first in the ordering,
    so it depends on no input at all. Unconditional, it is a learned constant
    (the output bias, through the hidden units' biases); with a context, a
    function of the context only. A MAF/IAF layer on it is then an affine
    map with learned (or context-given) shift and scale, and `hidden_units`
    may be any size (there are no hidden degrees to cover).

    Args:
      event_size: D (>= 1).
      num_params: outputs per dimension (2: shift and log-scale).
      hidden_units: hidden layer sizes (a list of ints, or one int); each must
        be `>= D - 1` (`>= D` with a context), otherwise some outputs could not
        be connected: ValueError.
      input_order: `'left-to-right'`, `'right-to-left'`, `'random'` (seeded) or
        a permutation `p` of `0..D-1` (input `i` is the `p[i]`-th variable).
      hidden_degrees: `'equal'` or `'random'` (see `made_degrees`).
      activation: hidden activation (a Keras activation name or callable).
      direct_connections: add the masked input-to-output matrix `A`.
      context_size: size C of the conditional input, or None.
      num_masks: number of mask sets (orderings / connectivities).
      seed: integer seed of the random orderings and degrees.
      kernel_initializer: initializer of the hidden (and context) kernels.
      output_initializer: initializer of the output (and direct) kernels;
        default: small truncated normal, so a flow starts near the identity.
      solve_strategy: how `solve` (MAF sampling, IAF density) runs its `D`
        sequential steps; all are exact and differ only in speed (see
        `tfp_flows.nn.made_solve`): `'auto'` (default: `'blocks'` under XLA
        when the masks are fixed, else `'full'` for
        `D <= full_pass_up_to`, else `'incremental'`); `'blocks'` (each
        hidden unit computed once: one network pass of FLOPs; needs fixed
        masks: one mask set, no random option, a hidden layer); `'full'`
        (`D` whole-network passes); `'incremental'` (a rank-1 update of the
        first layer and the new dimension's outputs per step).
      unroll_blocks_up_to: the block solve runs as straight-line code (static
        slices) for up to this many steps, as a `tf.while_loop` above. More
        unrolling compiles longer: measured for a 5-layer MAF's XLA sampling
        at batch 256, 2.7 s instead of 1.1 s at D=8 (and 1.2x faster), 5.0 s
        instead of 1.2 s at D=16 (no faster).
      full_pass_up_to: the largest event size for which `'auto'` runs `'full'`
        outside the block solve (few large ops beat many small ones there).
      dtype: weight dtype (e.g. `'float64'`).
      name: layer name.

    Raises:
      ValueError: for bad sizes, orders or degrees options, an activation or
        initializer Keras does not know, a seed that is not a non-negative
        integer, an unknown `solve_strategy` (or `'blocks'` without fixed
        masks), or a negative `unroll_blocks_up_to` / `full_pass_up_to`.

    #### Examples

    >>> made = MADE(3, num_params=2, hidden_units=[8], seed=1)
    >>> made(tf.zeros([5, 3])).shape
    TensorShape([5, 3, 2])
    >>> made.input_order.tolist()
    [0, 1, 2]

    #### References

    Germain, Gregor, Murray, Larochelle. MADE: Masked Autoencoder for
    Distribution Estimation. ICML 2015. https://arxiv.org/abs/1502.03509
    """

    # Keras weights when `direct_connections`, else None (set in `_build_weights`).
    direct_kernel: Any
    direct_mask: Any

    def __init__(
        self,
        event_size: int,
        *,
        num_params: int = 2,
        hidden_units: Sequence[int] = (64, 64),
        input_order: InputOrder = "left-to-right",
        hidden_degrees: str = "equal",
        activation: ActivationLike = "relu",
        direct_connections: bool = False,
        context_size: int | None = None,
        num_masks: int = 1,
        seed: int = 0,
        kernel_initializer: InitializerLike = "glorot_uniform",
        output_initializer: InitializerLike | None = None,
        solve_strategy: str = "auto",
        unroll_blocks_up_to: int = 8,
        full_pass_up_to: int = 16,
        dtype: LayerDType = None,
        name: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.event_size = check_positive_int(event_size, "event_size", "MADE")
        self.num_params = check_positive_int(num_params, "num_params", "MADE")
        self.num_masks = check_positive_int(num_masks, "num_masks", "MADE")
        self.context_size = (
            None
            if context_size is None
            else check_positive_int(context_size, "context_size", "MADE")
        )
        self.hidden_units = check_hidden_units(
            self.event_size, hidden_units, self.context_size
        )
        self.direct_connections = bool(direct_connections)
        self.activation = _keras_get(
            keras.activations.get, activation, "activation", "MADE"
        )
        self._input_order_arg = (
            input_order if isinstance(input_order, str) else np.asarray(input_order)
        )
        self.hidden_degrees = hidden_degrees
        self.seed = check_seed(seed, "MADE")
        self._resample_count = 0
        self._unroll_blocks_up_to = check_positive_int(
            unroll_blocks_up_to, "unroll_blocks_up_to", "MADE", minimum=0
        )
        self._full_pass_up_to = check_positive_int(
            full_pass_up_to, "full_pass_up_to", "MADE", minimum=0
        )
        self.kernel_initializer = _keras_get(
            keras.initializers.get, kernel_initializer, "kernel_initializer", "MADE"
        )
        self.output_initializer = _keras_get(
            keras.initializers.get,
            output_initializer
            if output_initializer is not None
            else keras.initializers.TruncatedNormal(stddev=0.01, seed=self.seed),
            "output_initializer",
            "MADE",
        )
        degrees = self._draw_degrees(self.seed)  # validates the options
        # Degrees that never change (one mask set, no random option: then
        # `resample_masks` redraws the same masks): `solve` can then lay the
        # weights out by degree once per call (`solve_strategy='blocks'`).
        fixed = (
            self.num_masks == 1
            and not (isinstance(input_order, str) and input_order == "random")
            and hidden_degrees == "equal"
            and len(self.hidden_units) > 0
        )
        self._degrees_fixed = fixed
        # Raises for an unknown strategy, or 'blocks' without fixed masks.
        made_solve.choose_strategy(
            solve_strategy,
            masks_fixed=fixed,
            event_size=self.event_size,
            full_pass_up_to=self._full_pass_up_to,
            in_xla=False,
        )
        self._solve_strategy = solve_strategy
        self._build_weights(degrees)

    @property
    def solve_strategy(self) -> str:
        """The `solve_strategy` constructor argument (see the class docstring)."""
        return self._solve_strategy

    @property
    def unroll_blocks_up_to(self) -> int:
        """The `unroll_blocks_up_to` constructor argument."""
        return self._unroll_blocks_up_to

    @property
    def full_pass_up_to(self) -> int:
        """The `full_pass_up_to` constructor argument."""
        return self._full_pass_up_to

    # -- masks -------------------------------------------------------------
    def _draw_degrees(self, seed):
        return [
            made_degrees(
                self.event_size,
                self.hidden_units,
                input_order=self._input_order_arg,
                hidden_degrees=self.hidden_degrees,
                conditional=self.context_size is not None,
                rng=np.random.default_rng([seed, k]),
            )
            for k in range(self.num_masks)
        ]

    def _mask_values(self, degrees):
        """Stacked masks `[K, in, out]` in the layout of the kernels."""
        p = self.num_params
        hidden, output, direct = [], [], []
        for deg in degrees:
            masks, dmask = made_masks(deg)
            hidden.append(masks[:-1])
            # Output columns are parameter-major: column `j * D + d` is
            # parameter j of dimension d, so each parameter is a contiguous slice.
            output.append(np.tile(masks[-1], [1, p]))
            direct.append(np.tile(dmask, [1, p]))
        hidden_stacked = [
            np.stack([h[i] for h in hidden]) for i in range(len(self.hidden_units))
        ]
        orders = np.stack([np.argsort(deg[0]) for deg in degrees]).astype(np.int32)
        in_deg = np.stack([deg[0] for deg in degrees]).astype(np.int32)
        return hidden_stacked, np.stack(output), np.stack(direct), orders, in_deg

    def _build_weights(self, degrees):
        d, p, k = self.event_size, self.num_params, self.num_masks
        hidden_m, out_m, direct_m, orders, in_deg = self._mask_values(degrees)
        # Fixed masks are also kept as constants: reading them from the mask
        # variables on every call costs XLA arguments and per-call work.
        self._constant_masks = (
            ([m[0] for m in hidden_m], out_m[0], direct_m[0])
            if self._degrees_fixed
            else None
        )

        def const(value, dtype=None):
            def init(shape, dtype=dtype):  # noqa: ARG001
                return tf.cast(tf.constant(value), dtype)

            return init

        self.kernels, self.biases, self.context_kernels, self.hidden_masks = (
            [],
            [],
            [],
            [],
        )
        fan_in = d
        for i, units in enumerate(self.hidden_units):
            self.kernels.append(
                self.add_weight(
                    name=f"kernel_{i}",
                    shape=(fan_in, units),
                    initializer=self.kernel_initializer,
                )
            )
            self.biases.append(
                self.add_weight(name=f"bias_{i}", shape=(units,), initializer="zeros")
            )
            if self.context_size is not None:
                self.context_kernels.append(
                    self.add_weight(
                        name=f"context_kernel_{i}",
                        shape=(self.context_size, units),
                        initializer=self.kernel_initializer,
                    )
                )
            self.hidden_masks.append(
                self.add_weight(
                    name=f"mask_{i}",
                    shape=(k, fan_in, units),
                    initializer=const(hidden_m[i]),
                    trainable=False,
                )
            )
            fan_in = units
        self.output_kernel = self.add_weight(
            name="output_kernel",
            shape=(fan_in, p * d),
            initializer=self.output_initializer,
        )
        self.output_bias = self.add_weight(
            name="output_bias", shape=(p * d,), initializer="zeros"
        )
        self.output_mask = self.add_weight(
            name="output_mask",
            shape=(k, fan_in, p * d),
            initializer=const(out_m),
            trainable=False,
        )
        self.direct_kernel = self.direct_mask = None
        if self.direct_connections:
            self.direct_kernel = self.add_weight(
                name="direct_kernel",
                shape=(d, p * d),
                initializer=self.output_initializer,
            )
            self.direct_mask = self.add_weight(
                name="direct_mask",
                shape=(k, d, p * d),
                initializer=const(direct_m),
                trainable=False,
            )
        self.orders = self.add_weight(
            name="orders",
            shape=(k, d),
            initializer=const(orders),
            dtype="int32",
            trainable=False,
        )
        self.input_degrees = self.add_weight(
            name="input_degrees",
            shape=(k, d),
            initializer=const(in_deg),
            dtype="int32",
            trainable=False,
        )
        self.mask_index = self.add_weight(
            name="mask_index",
            shape=(),
            initializer="zeros",
            dtype="int32",
            trainable=False,
        )
        self.built = True

    def resample_masks(self, seed: int | None = None) -> None:
        """Draws `num_masks` new mask sets (new orderings / hidden degrees).

        With `seed=None` the draw is `(self.seed, number of previous resamples)`,
        so a run is reproducible. Only the random options change anything:
        `input_order='random'` (order-agnostic training) and
        `hidden_degrees='random'` (connectivity-agnostic training).
        """
        self._resample_count += 1
        if seed is None:
            seed = self.seed * 1_000_003 + self._resample_count
        hidden_m, out_m, direct_m, orders, in_deg = self._mask_values(
            self._draw_degrees(int(seed))
        )
        for var, value in zip(self.hidden_masks, hidden_m, strict=True):
            var.assign(tf.cast(value, var.dtype))
        self.output_mask.assign(tf.cast(out_m, self.output_mask.dtype))
        if self.direct_connections:
            self.direct_mask.assign(tf.cast(direct_m, self.direct_mask.dtype))
        self.orders.assign(orders)
        self.input_degrees.assign(in_deg)

    def set_mask_index(self, index: int | tf.Tensor) -> None:
        """Selects mask set `index` (in `0..num_masks-1`); works in tf.function."""
        if isinstance(index, (int, np.integer)) and not 0 <= index < self.num_masks:
            raise ValueError(
                f"MADE: argument `index` must be in 0..{self.num_masks - 1}; "
                f"got {index}."
            )
        self.mask_index.assign(tf.cast(index, tf.int32))

    def next_mask(self) -> None:
        """Moves to the next mask set (cyclically): call between batches."""
        self.mask_index.assign((self.mask_index + 1) % self.num_masks)

    @property
    def input_order(self) -> np.ndarray:
        """Current ordering: `input_order[i]` is the position of input `i`."""
        k = int(self.mask_index.numpy())
        return self.input_degrees.numpy()[k] - 1

    @property
    def conditional(self) -> bool:
        """Whether the layer takes a context."""
        return self.context_size is not None

    # -- evaluation --------------------------------------------------------
    def _select(self, stacked):
        if self.num_masks == 1:
            return stacked[0]
        return tf.gather(stacked, self.mask_index)

    def _weights_now(self):
        """Masked weights of the current mask set."""
        if self._constant_masks is not None:
            hidden_m, out_m, direct_m = self._constant_masks

            def masked(kernel, mask):
                return kernel * tf.constant(mask, kernel.dtype)

            return (
                [masked(k, m) for k, m in zip(self.kernels, hidden_m, strict=True)],
                masked(self.output_kernel, out_m),
                masked(self.direct_kernel, direct_m)
                if self.direct_connections
                else None,
            )
        kernels = [
            k * self._select(m)
            for k, m in zip(self.kernels, self.hidden_masks, strict=True)
        ]
        out = self.output_kernel * self._select(self.output_mask)
        direct = (
            self.direct_kernel * self._select(self.direct_mask)
            if self.direct_connections
            else None
        )
        return kernels, out, direct

    def _check_inputs(self, x, context):
        d = self.event_size
        check_float_dtype(x, "inputs", "MADE", dtype=self.variable_dtype)
        if x.shape.rank is not None and (
            x.shape.rank == 0 or x.shape[-1] not in (None, d)
        ):
            raise ValueError(
                f"MADE: argument `inputs` must have shape [..., {d}] "
                f"(event_size={d}); got shape {shape_str(x.shape)}."
            )
        if self.context_size is None:
            check_no_context(
                context,
                "MADE",
                noun="MADE",
                detail="is unconditional (context_size=None)",
                hint="Build it with `context_size=C` to condition it.",
            )
            return None
        context = check_context(
            context, (self.context_size,), self.variable_dtype, "MADE", noun="MADE"
        )
        c = self.context_size
        cs, xs = context.shape, x.shape
        if cs.rank is not None:
            if cs.rank > 1 and xs.rank is not None:
                # The context's batch shape must broadcast to the inputs'
                # (numpy rules, right-aligned), never enlarge it.
                cb, xb = cs.as_list()[:-1], xs.as_list()[:-1]
                ok = len(cb) <= len(xb) and all(
                    a is None or b is None or a in (1, b)
                    for a, b in zip(cb[::-1], xb[::-1], strict=False)
                )
                if not ok:
                    raise ValueError(
                        f"MADE: argument `context` must have shape [{c}] (one "
                        f"context for all rows) or a batch shape that "
                        f"broadcasts to the batch shape of `inputs`, e.g. "
                        f"{shape_str(xs[:-1].concatenate([c]))}; got "
                        f"{shape_str(cs)} for inputs of shape {shape_str(xs)}."
                    )
        return context

    def _context_terms(self, context, n, batch_shape):
        """Per hidden layer `V^l c` as `[H_l]` or `[N, H_l]` (None if unconditional).

        `batch_shape` is the inputs' batch shape (`N` rows in all); a context
        with a smaller batch shape is broadcast to it after the projection.
        """
        if context is None:
            return [None] * len(self.hidden_units)
        if context.shape.rank == 1:
            # One context for all rows: a 1-D term, folded into the bias.
            return [
                tf.linalg.matvec(v, context, transpose_a=True)
                for v in self.context_kernels
            ]
        terms = []
        for v in self.context_kernels:
            t = tf.linalg.matmul(context, v)  # [..., H_l] on the context's batch
            h = tf.shape(v)[-1:]
            t = tf.broadcast_to(t, tf.concat([batch_shape, h], 0))
            terms.append(tf.reshape(t, tf.concat([[n], h], 0)))
        return terms

    def _flat_params(self, x2, context_terms, weights):
        """Output `[N, P * D]` (parameter-major) of flattened inputs `[N, D]`."""
        kernels, out_kernel, direct = weights
        h = x2
        for kernel, bias, ct in zip(kernels, self.biases, context_terms, strict=True):
            a = tf.matmul(h, kernel) + bias
            if ct is not None:
                a = a + ct
            h = self.activation(a)
        out = tf.matmul(h, out_kernel) + self.output_bias
        if direct is not None:
            out = out + tf.matmul(x2, direct)
        return out

    def params(
        self, inputs: TensorLike, context: TensorLike | None = None
    ) -> list[tf.Tensor]:
        """The outputs as a list of `num_params` tensors `[..., D]` (fast path)."""
        x = tf.convert_to_tensor(inputs, dtype_hint=self.variable_dtype)
        context = self._check_inputs(x, context)
        d = self.event_size
        shape = tf.shape(x)
        x2 = tf.reshape(x, [-1, d])
        n = tf.shape(x2)[0]
        out = self._flat_params(
            x2, self._context_terms(context, n, shape[:-1]), self._weights_now()
        )
        return [
            tf.reshape(out[:, j * d : (j + 1) * d], shape)
            for j in range(self.num_params)
        ]

    def call(self, inputs: TensorLike, context: TensorLike | None = None) -> tf.Tensor:
        """Returns `[..., D, num_params]`."""
        return tf.stack(self.params(inputs, context), axis=-1)

    def compute_output_shape(
        self, input_shape: Sequence[int | None]
    ) -> tuple[int | None, ...]:
        """`input_shape + (num_params,)`."""
        return tuple(input_shape) + (self.num_params,)

    def solve(
        self,
        step_fn: made_solve.StepFn,
        known: TensorLike,
        context: TensorLike | None = None,
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """Solves `w = step_fn(known, params(w))` one dimension at a time.

        The autoregressive (sequential) direction of MAF and IAF: `D` steps
        in the ordering, in a loop that compiles under XLA. Step `t` fills
        dimension `d = order[t]`, whose parameters depend only on dimensions
        already filled, so the result is exact after `D` steps. The steps
        run as `solve_strategy`, `unroll_blocks_up_to` and `full_pass_up_to`
        say (`tfp_flows.nn.made_solve.solve`).

        Args:
          step_fn: `step_fn(known_d, params_d) -> (w_d, log_det_d)`, an
            elementwise map: called with `known_d` `[N]` and `params_d` a list
            of `num_params` tensors `[N]`, or (strategy `'full'`) with all
            dimensions at once, `[N, D]` each.
          known: `[..., D]`.
          context: as in `call`.

        Returns:
          `(w, log_det)`: `w` `[..., D]` and the sum over `d` of `log_det_d`,
          shape `[...]`.
        """
        return made_solve.solve(
            self,
            step_fn,
            known,
            context,
            strategy=self._solve_strategy,
            unroll_blocks_up_to=self._unroll_blocks_up_to,
            full_pass_up_to=self._full_pass_up_to,
        )

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (Keras serialization)."""
        config = super().get_config()
        order = self._input_order_arg
        config.update(
            event_size=self.event_size,
            num_params=self.num_params,
            hidden_units=list(self.hidden_units),
            input_order=order if isinstance(order, str) else order.tolist(),
            hidden_degrees=self.hidden_degrees,
            activation=keras.activations.serialize(self.activation),
            direct_connections=self.direct_connections,
            context_size=self.context_size,
            num_masks=self.num_masks,
            seed=self.seed,
            solve_strategy=self._solve_strategy,
            unroll_blocks_up_to=self._unroll_blocks_up_to,
            full_pass_up_to=self._full_pass_up_to,
        )
        return config
