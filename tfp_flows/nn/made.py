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
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from tensorflow.compiler.tf2xla.python import xla

from tfp_flows.internal.checks import (
    check_float_dtype,
    check_int_sequence,
    check_positive_int,
    check_seed,
    in_xla_context,
    shape_str,
)
from tfp_flows.internal.keras import keras

__all__ = ["MADE", "made_degrees", "made_masks"]


def _dynamic_update_slice_grad(op, grad):
    """Gradient of `XlaDynamicUpdateSlice` (TF registers none)."""
    update, indices = op.inputs[1], op.inputs[2]
    d_operand = xla.dynamic_update_slice(grad, tf.zeros_like(update), indices)
    d_update = tf.slice(grad, indices, tf.shape(update))
    return d_operand, d_update, None


_in_xla_context = in_xla_context


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


try:
    tf.RegisterGradient("XlaDynamicUpdateSlice")(_dynamic_update_slice_grad)
except KeyError:  # registered already (by TensorFlow or another library)
    pass

_ORDERS = ("left-to-right", "right-to-left", "random")
_HIDDEN = ("equal", "random")


def made_degrees(
    event_size: int,
    hidden_units: Sequence[int],
    *,
    input_order="left-to-right",
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
      dtype: weight dtype (e.g. `'float64'`).
      name: layer name.

    Raises:
      ValueError: for bad sizes, orders or degrees options, an activation or
        initializer Keras does not know, or a seed that is not a
        non-negative integer.

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

    def __init__(
        self,
        event_size: int,
        *,
        num_params: int = 2,
        hidden_units: Sequence[int] = (64, 64),
        input_order="left-to-right",
        hidden_degrees: str = "equal",
        activation="relu",
        direct_connections: bool = False,
        context_size: int | None = None,
        num_masks: int = 1,
        seed: int = 0,
        kernel_initializer="glorot_uniform",
        output_initializer=None,
        dtype=None,
        name: str | None = None,
        **kwargs,
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
        # `solve` unrolls its loop for event sizes up to this (see there).
        self.unroll_below = 0
        # `solve` re-runs the whole network per step up to this event size
        # (few large ops beat many small ones there), and updates only what
        # each step needs above it (see `solve`).
        self.full_pass_up_to = 16
        # `solve` computes each hidden unit once, in degree order, when the
        # masks are fixed (see `_solve_blocks`); False: the paths below.
        self.solve_by_blocks = True
        # `_solve_blocks` unrolls its loop (Python steps, static slices) up to
        # this many steps: for small D the while loop's per-iteration cost
        # (dynamic slices, loop-carried copies) outweighs the bigger program.
        # Compiling costs more (5-layer MAF sample at batch 256: D=8 2.7 s
        # unrolled vs 1.1 s; D=16 5.0 s vs 1.2 s, for no gain at batch 256).
        self.unroll_blocks_up_to = 8
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
        # weights out by degree once per call (see `_solve_blocks`).
        fixed = (
            self.num_masks == 1
            and not (isinstance(input_order, str) and input_order == "random")
            and hidden_degrees == "equal"
            and len(self.hidden_units) > 0
        )
        self._degrees_fixed = fixed
        self._build_weights(degrees)

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
        hidden = [
            np.stack([h[i] for h in hidden]) for i in range(len(self.hidden_units))
        ]
        orders = np.stack([np.argsort(deg[0]) for deg in degrees]).astype(np.int32)
        in_deg = np.stack([deg[0] for deg in degrees]).astype(np.int32)
        return hidden, np.stack(output), np.stack(direct), orders, in_deg

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

    def set_mask_index(self, index) -> None:
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
            if context is not None:
                raise ValueError(
                    "MADE: argument `context` was given, but this MADE is "
                    "unconditional (context_size=None); got context of shape "
                    f"{shape_str(tf.convert_to_tensor(context).shape)}."
                )
            return None
        if context is None:
            raise ValueError(
                f"MADE: argument `context` is required (context_size="
                f"{self.context_size}, expected shape [..., {self.context_size}]); "
                "got None."
            )
        context = tf.convert_to_tensor(context, dtype_hint=x.dtype)
        check_float_dtype(context, "context", "MADE", dtype=self.variable_dtype)
        c = self.context_size
        cs, xs = context.shape, x.shape
        if cs.rank is not None:
            if cs.rank == 0 or cs[-1] not in (None, c):
                raise ValueError(
                    f"MADE: argument `context` must have shape [..., {c}] "
                    f"(context_size={c}); got shape {shape_str(cs)}."
                )
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

    def params(self, inputs, context=None) -> list[tf.Tensor]:
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

    def call(self, inputs, context=None):
        """Returns `[..., D, num_params]`."""
        return tf.stack(self.params(inputs, context), axis=-1)

    def compute_output_shape(self, input_shape):
        """`input_shape + (num_params,)`."""
        return tuple(input_shape) + (self.num_params,)

    def solve(self, step_fn, known, context=None):
        """Solves `w = step_fn(known, params(w))` one dimension at a time.

        The autoregressive (sequential) direction of MAF and IAF: `D` steps
        in the ordering, in a `tf.while_loop` that compiles under XLA. Step
        `t` fills dimension `d = order[t]`, whose parameters depend only on
        dimensions already filled, so the result is exact after `D` steps.

        Three strategies, all exact:

        * under XLA with fixed masks (one mask set, no random option;
          `solve_by_blocks`, the default): step `t` computes only the hidden
          units of degree `t` of each layer, then the parameters of the next
          dimension, so the whole solve costs the FLOPs of one network pass
          (TFP's MAF runs the whole network `D` times); see `_solve_blocks`.
          Eagerly and in plain graphs the per-step in-place update costs more
          than it saves, so there the strategies below run;
        * otherwise, for `D <= full_pass_up_to`: `D` whole-network passes;
        * otherwise: per step the first hidden layer is updated by a rank-1
          term (`a += w_d * W[d]`) and only the `num_params` output columns
          of `d` are computed.

        Args:
          step_fn: `step_fn(known_d, params_d) -> (w_d, log_det_d)` with
            `known_d` `[N]`, `params_d` a list of `num_params` tensors `[N]`.
          known: `[..., D]`.
          context: as in `call`.

        Returns:
          `(w, log_det)`: `w` `[..., D]` and the sum over `d` of `log_det_d`,
          shape `[...]`.
        """
        x = tf.convert_to_tensor(known, dtype_hint=self.variable_dtype)
        context = self._check_inputs(x, context)
        if self._degrees_fixed and self.solve_by_blocks and _in_xla_context():
            return self._solve_blocks(step_fn, x, context)
        if self.event_size <= self.full_pass_up_to:
            return self._solve_full(step_fn, x, context)
        d, p = self.event_size, self.num_params
        shape = tf.shape(x)
        known_t = tf.transpose(tf.reshape(x, [-1, d]))  # [D, N]
        n = tf.shape(known_t)[1]
        kernels, out_kernel, direct = self._weights_now()
        context_terms = self._context_terms(context, n, shape[:-1])
        order = self._select(self.orders)
        # [H_L, P, D] and [D, P, D]: gather the P columns of one dimension.
        # Laid out dimension-major once, outside the loop, so that each step
        # reads one contiguous block (a dynamic slice under XLA, no gather).
        out_cols = tf.transpose(tf.reshape(out_kernel, [-1, p, d]), [2, 0, 1])
        out_bias = tf.transpose(tf.reshape(self.output_bias, [p, d]))
        direct_cols = (
            None
            if direct is None
            else tf.transpose(tf.reshape(direct, [d, p, d]), [2, 0, 1])
        )
        dtype = x.dtype
        # Read every variable once, outside the loop body.
        biases = [tf.convert_to_tensor(b) for b in self.biases]
        if kernels:
            first = kernels[0]
            a0 = tf.zeros([n, self.hidden_units[0]], dtype) + biases[0]
            if context_terms[0] is not None:
                a0 = a0 + context_terms[0]
        else:
            first, a0 = None, tf.zeros([n, 0], dtype)

        def body(t, w_t, a, ldj):
            idx = order[t]
            if first is not None:
                h = self.activation(a)
                for kernel, bias, ct in zip(
                    kernels[1:], biases[1:], context_terms[1:], strict=True
                ):
                    z = tf.matmul(h, kernel) + bias
                    if ct is not None:
                        z = z + ct
                    h = self.activation(z)
                out = tf.matmul(h, out_cols[idx])  # [N, P]
            else:
                out = tf.zeros([n, p], dtype)
            out = out + out_bias[idx][None, :]
            if direct_cols is not None:
                out = out + tf.matmul(w_t, direct_cols[idx], transpose_a=True)
            params_d = [out[:, j] for j in range(p)]
            value, ldj_d = step_fn(known_t[idx], params_d)
            # A one-hot add rather than a scatter: XLA's CPU scatter is slow.
            w_t = w_t + tf.one_hot(idx, d, dtype=dtype)[:, None] * value[None, :]
            if first is not None:
                a = a + value[:, None] * first[idx][None, :]
            return t + 1, w_t, a, ldj + ldj_d

        state = (tf.constant(0), tf.zeros_like(known_t), a0, tf.zeros([n], dtype))
        if d <= self.unroll_below:
            # Short loops: a straight line of D steps fuses better under XLA.
            for _ in range(d):
                state = body(*state)
            _, w_t, _, ldj = state
        else:
            _, w_t, _, ldj = tf.while_loop(
                lambda t, *_: t < d, body, state, maximum_iterations=d
            )
        return tf.reshape(tf.transpose(w_t), shape), tf.reshape(ldj, shape[:-1])

    def _block_layout(self):
        """Numpy index arrays of the degree-major layout `_solve_blocks` uses.

        Returns `(order, low, blocks)`: `order[t]` is the input dimension of
        degree `t + 1`; `low` the smallest hidden degree (0 with a context,
        else 1, or 0 when D = 1); `blocks[l]` is `(B_l, index)`, `index` of
        shape `[(D - low) * B_l]` listing hidden layer `l`'s units of degree
        `low`, then `low + 1`, ..., `D - 1`, each degree padded to `B_l`
        entries with `H_l` (a zero unit).
        """
        d = self.event_size
        degrees = self._draw_degrees(self.seed)[0]  # fixed: no draw involved
        order = np.argsort(degrees[0])
        low = int(min(deg.min() for deg in degrees[1:]))
        blocks = []
        for units, deg in zip(self.hidden_units, degrees[1:], strict=True):
            groups = [np.flatnonzero(deg == k) for k in range(low, d)]
            b = max(len(g) for g in groups)
            index = np.full([d - low, b], units, np.int32)
            for k, g in enumerate(groups):
                index[k, : len(g)] = g
            blocks.append((b, index.reshape(-1)))
        return order, low, blocks

    def _solve_blocks(self, step_fn, x, context):
        """`solve` computing every hidden unit once: the cost of one pass.

        A unit of degree `k` depends only on inputs of degree <= k, and the
        output of the input of degree `k + 1` only on units of degree <= k.
        So step `k` computes the units of degree `k` of each layer, in
        order, then the parameters of the dimension of degree `k + 1`, then
        that dimension. The weights are laid out by degree once per call,
        outside the loop (rows and columns gathered, each degree padded with
        zero units to a block of `B_l`), so a step reads one contiguous block
        per layer, `[B_l, rows] x [rows, N]` (units not computed yet are 0
        and masked anyway), and writes its `B_l` new units in place. Over the
        `D` steps these are the FLOPs of one network pass (plus the padding),
        where `D` passes of the whole network (TFP's MAF sampling) cost `D`
        times that. Up to `unroll_blocks_up_to` steps the loop is unrolled
        (each step's blocks are then static slices); beyond, a while loop.
        """
        d, p = self.event_size, self.num_params
        order, low, blocks = self._block_layout()
        nb = d - low  # blocks (= loop steps); degree `low + j` is block `j`
        shape = tf.shape(x)
        x2 = tf.reshape(x, [-1, d])
        n = tf.shape(x2)[0]
        dtype = x2.dtype
        kernels, out_kernel, direct = self._weights_now()
        terms = self._context_terms(context, n, shape[:-1])

        def pad_gather(t, index, axis):
            # Gather along `axis`; index `t.shape[axis]` is a zero entry.
            pad = [[0, 0]] * t.shape.rank
            pad[axis % t.shape.rank] = [0, 1]
            return tf.gather(tf.pad(t, pad), index, axis=axis)

        def by_step(t, b):
            # [rows, k * b] -> [k, b, rows]: step j's columns (block j),
            # transposed for the feature-major products below.
            return tf.transpose(tf.reshape(t, [tf.shape(t)[0], -1, b]), [1, 2, 0])

        # Output columns degree-major: column t * P + j is parameter j of the
        # dimension of degree t + 1 (the kernel's own layout is j * D + dim).
        out_index = (np.arange(p)[None, :] * d + order[:, None]).reshape(-1)
        step_kernels, step_adds = [], []
        for i, (kernel, bias, term) in enumerate(
            zip(kernels, self.biases, terms, strict=True)
        ):
            b, index = blocks[i]
            k = pad_gather(kernel, index, axis=1)  # columns: degree blocks
            if i == 0:
                k = tf.gather(k, order, axis=0)  # rows: inputs by degree
            else:
                k = pad_gather(k, blocks[i - 1][1], axis=0)
            step_kernels.append(by_step(k, b))  # [nb, B_i, rows]
            a = tf.convert_to_tensor(bias)
            if term is not None:
                a = a + term  # [H] or [N, H]
            a = pad_gather(a, index, axis=-1)
            step_adds.append(
                tf.reshape(a, [nb, b, 1]) if a.shape.rank == 1 else by_step(a, b)
            )
        # The outputs of degrees low + 1 .. D (one block of P per step).
        out_k = pad_gather(
            tf.gather(out_kernel, out_index[low * p :], axis=1), blocks[-1][1], axis=0
        )
        out_k = by_step(out_k, p)  # [nb, P, nb * B_L]
        out_bias = tf.reshape(tf.gather(self.output_bias, out_index), [d, p, 1])
        direct_k = (
            None
            if direct is None
            else by_step(tf.gather(tf.gather(direct, out_index, axis=1), order), p)
        )  # [D, P, D]
        known_t = tf.gather(tf.transpose(x2), order)  # [D, N], rows by degree
        w = tf.zeros_like(known_t)
        ldj = tf.zeros([n], dtype)
        if low == 1:
            # The first dimension's parameters see no hidden unit (nor any
            # input): they are the output bias.
            value, ldj = step_fn(
                known_t[0], [tf.broadcast_to(out_bias[0, j], [n]) for j in range(p)]
            )
            w = xla.dynamic_update_slice(w, value[None, :], [0, 0])

        # Feature-major: every state is [features, N], so a step's products
        # are [B_i, rows] x [rows, N] (long rows: efficient GEMM tiles) and
        # its writes are whole rows (contiguous, in place under XLA).
        def body(j, w, hidden, ldj):
            hidden = list(hidden)
            inputs = w
            for i, (b, _) in enumerate(blocks):
                units = self.activation(
                    tf.matmul(step_kernels[i][j], inputs) + step_adds[i][j]
                )  # [B_i, N]: layer i's units of degree low + j
                hidden[i] = xla.dynamic_update_slice(
                    hidden[i], units, tf.stack([j * b, 0])
                )
                inputs = hidden[i]
            t = j + low  # the dimension of degree t + 1 is now computable
            out = tf.matmul(out_k[j], inputs) + out_bias[t]  # [P, N]
            if direct_k is not None:
                out = out + tf.matmul(direct_k[t], w)
            value, ldj_d = step_fn(known_t[t], [out[k] for k in range(p)])
            w = xla.dynamic_update_slice(w, value[None, :], tf.stack([t, 0]))
            return j + 1, w, tuple(hidden), ldj + ldj_d

        hidden = tuple(tf.zeros(tf.stack([nb * b, n]), dtype) for b, _ in blocks)
        if nb <= self.unroll_blocks_up_to:  # `j` a Python int: static slices
            state = (0, w, hidden, ldj)
            for _ in range(nb):
                state = body(*state)
            _, w, _, ldj = state
        else:
            _, w, _, ldj = tf.while_loop(
                lambda j, *_: j < nb, body, (tf.constant(0), w, hidden, ldj),
                maximum_iterations=nb,
            )
        w = tf.transpose(tf.gather(w, np.argsort(order)))  # rows back to dims
        return tf.reshape(w, shape), tf.reshape(ldj, shape[:-1])

    def _solve_full(self, step_fn, x, context):
        """`solve` by `D` whole-network passes (fixed-point iteration).

        `w <- step_fn(known, params(w))` for every dimension at once: after
        pass `t` the first `t` dimensions in the ordering are exact (each
        depends only on earlier ones), so `D` passes give the exact `w`, and
        the last pass's parameters are the exact ones for the log-det. For
        small `D` this loop body (one MADE pass: a few dots and elementwise
        fusions) runs faster under XLA than the incremental update's many
        small ops.
        """
        d = self.event_size
        shape = tf.shape(x)
        x2 = tf.reshape(x, [-1, d])
        n = tf.shape(x2)[0]
        weights = self._weights_now()  # masked once, outside the loop
        terms = self._context_terms(context, n, shape[:-1])

        def params_of(w):
            out = self._flat_params(w, terms, weights)
            return [out[:, j * d : (j + 1) * d] for j in range(self.num_params)]

        def body(t, w, ldj):
            w, ldj = step_fn(x2, params_of(w))
            return t + 1, w, ldj

        state = (tf.constant(0), tf.zeros_like(x2), tf.zeros_like(x2))
        if d <= self.unroll_below:
            for _ in range(d):
                state = body(*state)
            _, w, ldj = state
        else:
            _, w, ldj = tf.while_loop(
                lambda t, *_: t < d, body, state, maximum_iterations=d
            )
        return tf.reshape(w, shape), tf.reshape(tf.reduce_sum(ldj, -1), shape[:-1])

    def get_config(self):
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
        )
        return config
