"""GlowSteps: the K steps of one Glow level as one loop over stacked weights.

`flows.glow(..., stacked_steps=True)` uses it in place of K `GlowStep`s. The
math is that of K `GlowStep`s (ActNorm -> invertible 1x1 convolution -> affine
coupling with Glow's default network, channel mask, parity 0); what changes
is how it runs:

1. **One step body, traced once.** Each parameter of the K steps is one Keras 3
   weight with a leading step axis (`[K, C]` ActNorm shifts, `[K, C, C]` 1x1
   convolutions, `[K, 3, 3, C_a, width]` coupling kernels, ...), and the steps
   run as a `tf.while_loop` over the step index. Tracing costs one step per
   level instead of K. (Inside `tf.function(jit_compile=True)` the loop is
   unrolled: XLA's CPU code for convolutions inside a while loop was measured
   40x slower; see `_repeat`.)
2. **Reversible gradients** (`reversible=True`). The loop is wrapped in a
   `tf.custom_gradient` that keeps only the level's input and output. During
   backprop each step's input is rebuilt from its output with the step's
   exact inverse, then the step's forward is recomputed under a tape for its
   vector-Jacobian product (as in RevNets, Gomez et al. 2017). Activation
   memory no longer grows with K; the cost is one more pass of each step
   (its inverse) per training step.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import numpy as np
import scipy.linalg
import tensorflow as tf

from tfp_flows.bijectors.act_norm import ActNorm
from tfp_flows.bijectors.act_norm import _assign_on_every_replica
from tfp_flows.bijectors.base import ContextBijector
from tfp_flows.bijectors.base import FusedBijector
from tfp_flows.bijectors.invertible_1x1_conv import _unit_triangular_inverse
from tfp_flows.bijectors.invertible_1x1_conv import lu_factors
from tfp_flows.bijectors.invertible_1x1_conv import random_rotation
from tfp_flows.internal import checks
from tfp_flows.internal.conditioning import check_context
from tfp_flows.internal.conditioning import context_features
from tfp_flows.internal.keras import WeightStore
from tfp_flows.internal.keras import keras
from tfp_flows.internal.types import DTypeLike
from tfp_flows.nn.coupling_nets import check_network_policy
from tfp_flows.nn.coupling_nets import fold_output_scale

__all__ = ["GlowSteps"]

# Order of the per-step parameter tensors passed through the loop.
_AN_SHIFT, _AN_LOG_SCALE, _W, _W_INV, _K1, _B1, _K2, _B2, _K3, _B3, _LOGS = range(11)
_NET = (_K1, _B1, _K2, _B2, _K3, _B3, _LOGS)


class GlowSteps(ContextBijector):
    """K Glow steps (ActNorm, 1x1 conv, affine coupling) run as one loop.

    In the data-to-latent direction (`inverse`, used by `log_prob`) step
    `k = 0, ..., K-1` applies, on `[..., H, W, C]` images,

        h = (h - shift[k]) * exp(-log_scale[k])           (ActNorm)
        h = W[k] @ h   (per pixel)                        (1x1 convolution)
        h_a, h_b = h[..., :C//2], h[..., C//2:]
        t, logit = NN_k(h_a);  h_b = (h_b + t) * sigmoid(logit + 2)
        log|det J_inverse| += H*W*(log|det W[k]| - sum(log_scale[k]))
                              + sum(log sigmoid(logit + 2))

    exactly as `GlowStep(C, ...)` number `k` does (`NN_k` is Glow's
    conv3x3 -> ReLU -> conv1x1 -> ReLU -> zero-initialized conv3x3 network;
    `additive=True` gives `h_b = h_b + t`). `forward` (sampling) runs the
    steps' inverses for `k = K-1, ..., 0`.

    Every parameter is a Keras 3 weight holding all K steps (leading axis K),
    so `model.fit`, `.keras` saving and SavedModel export see them as for any
    bijector here; the step body is traced once (a `tf.while_loop`). With
    `reversible=True` (the default) gradients are computed by rebuilding
    each step's input from its output instead of storing it (see the module
    docstring), so a training step's activation memory does not grow with K;
    the gradients equal plain autodiff's up to float rounding.

    `act_norms` holds one `ActNorm` view per step (sharing this bijector's
    weights, owning none), so that `tfp_flows.flows.initialize_act_norms`
    initializes step `k` from the output of steps `0..k-1` (as for K
    `GlowStep`s) and `is_initialized` can be read per step.

    **Conditional** (`context_shape=(C_c,)` or `(H', W', C_c)`): every
    coupling network sees `concat(h_a, c)` as `GlowStep(...,
    context_shape=...)`'s does (`NN_k(h_a, c)`; a vector context broadcast
    over H and W, an image context brought to H x W by
    `tfp_flows.internal.conditioning.context_features`, computed once per
    call for all K steps); bind it with `with_context(c)` (or the flow's
    `condition(c)`). With `reversible=True` the gradient with respect to the
    context (e.g. to an encoder that produces it) is accumulated over the K
    steps inside the custom gradient.

    **Mixed precision** (`dtype_policy='mixed_bfloat16'` or
    `'mixed_float16'`): only the coupling networks compute in 16 bits (the
    input `concat(h_a, c)` and the weights, the last kernel after folding
    its output scale, are cast to the compute dtype, as
    `tfp_flows.nn.apply_coupling_net` does; the output is cast back to
    float32); ActNorm, the 1x1 convolutions and every log-det stay float32.
    The round trip stays exact up to float32 rounding: the network's output
    depends only on `h_a` (and `c`), which the coupling passes through
    unchanged, so both directions evaluate it on the same numbers.

    #### Examples

    >>> steps = GlowSteps(4, 3, hidden_units=8, seed=0)
    >>> x = tf.random.stateless_normal([2, 4, 4, 4], seed=[0, 1])
    >>> z = steps.inverse(x)
    >>> bool(tf.reduce_max(tf.abs(steps.forward(tf.identity(z)) - x)) < 1e-4)
    True
    >>> len(steps.trainable_variables)  # as one GlowStep, each with a K axis
    11

    #### References

    [1]: Diederik P. Kingma, Prafulla Dhariwal. Glow: Generative Flow with
         Invertible 1x1 Convolutions. NeurIPS 2018. https://arxiv.org/abs/1807.03039
    [2]: Aidan N. Gomez, Mengye Ren, Raquel Urtasun, Roger B. Grosse. The
         Reversible Residual Network: Backpropagation Without Storing
         Activations. NeurIPS 2017. https://arxiv.org/abs/1707.04585
    """

    def __init__(
        self,
        num_channels: int,
        num_steps: int,
        *,
        hidden_units: int = 64,
        lu_decomposition: bool = True,
        additive: bool = False,
        reversible: bool = True,
        keep_hidden: bool = False,
        context_shape: Sequence[int] | None = None,
        seed: int | None = None,
        dtype: DTypeLike = tf.float32,
        dtype_policy: str | None = None,
        validate_args: bool = False,
        name: str | None = None,
    ):
        """Creates the K steps.

        Args:
          num_channels: C (at least 2: the coupling splits the channels).
          num_steps: K.
          hidden_units: width of each coupling network.
          lu_decomposition: LU-parameterized 1x1 convolutions.
          additive: additive (NICE) instead of affine couplings.
          reversible: compute gradients by rebuilding each step's input from
            its output (memory independent of K) instead of storing it.
          keep_hidden: with `reversible`, also keep each step's last hidden
            activation (the input of the coupling network's last
            convolution) from the forward pass of `log_prob`, so the
            backward pass recomputes only the network's first and last
            convolutions instead of the whole network: a faster training step for
            activation memory that grows with K again, by one `[N, H, W,
            hidden_units]` tensor (in the compute dtype) per step.
          context_shape: None (unconditional), `(C_c,)` for a vector context
            or `(H', W', C_c)` for an image context of every coupling
            network (as `GlowStep`'s `context_shape`).
          seed: integer seed; step `k` is initialized as `GlowStep(...,
            seed=seed + 2 * k)` is (its 1x1 conv from `seed + 2k`, its
            coupling network from `seed + 2k + 1`). None: random.
          dtype: weight dtype.
          dtype_policy: None, or `'mixed_bfloat16'` / `'mixed_float16'`: the
            coupling networks compute in that 16-bit dtype over float32
            weights (needs `dtype=float32`); see the class docstring.
          validate_args: NaN/inf inputs raise; the 1x1 convolutions are
            checked for singularity.
          name: name.

        Raises:
          ValueError: for `num_channels < 2`, a non-positive `num_steps` or
            `hidden_units`, a bad `seed`, `context_shape` or
            `dtype_policy`, or a non-floating `dtype`.
        """
        parameters = dict(locals())
        owner = "GlowSteps"
        c = checks.check_positive_int(num_channels, "num_channels", owner, minimum=2)
        k = checks.check_positive_int(num_steps, "num_steps", owner)
        width = checks.check_positive_int(hidden_units, "hidden_units", owner)
        seed = checks.check_seed(seed, owner, allow_none=True)
        dtype = checks.check_dtype_arg(dtype, owner)
        policy = check_network_policy(dtype_policy, dtype, owner)
        with tf.name_scope(name or "glow_steps") as name:
            self._c = c
            self._k = k
            self._width = width
            self._lu = bool(lu_decomposition)
            self._additive = bool(additive)
            self._reversible = bool(reversible)
            self._keep_hidden = bool(keep_hidden)
            if self._keep_hidden and not self._reversible:
                raise ValueError(
                    "GlowSteps: argument `keep_hidden=True` needs "
                    "`reversible=True` (it keeps activations for the reversible "
                    "backward pass); got reversible=False."
                )
            self._dtype_weights = tf.as_dtype(dtype)
            self._dtype_policy = None if dtype_policy is None else policy
            self._compute_dtype = tf.as_dtype(keras.DTypePolicy(policy).compute_dtype)
            self._c_a = c // 2
            self._c_b = c - self._c_a
            super().__init__(
                forward_min_event_ndims=3,
                validate_args=validate_args,
                parameters=parameters,
                dtype=None,
                name=name,
            )
        self._init_context(context_shape)
        ctx_c = 0 if self._context_shape is None else self._context_shape[-1]
        base = self.name.rstrip("/") or "glow_steps"
        if seed is None:
            seed = int(np.random.randint(2**30))
        init = _initial_values(c, k, width, ctx_c, self._lu, seed, dtype)
        act = WeightStore(name=base + "_act_norm", dtype=dtype)
        self._shift = act.add("shift", [k, c], "zeros")
        self._log_scale = act.add("log_scale", [k, c], "zeros")
        self._initialized = act.add(
            "initialized", [k], "zeros", trainable=False, dtype="bool"
        )
        conv = WeightStore(name=base + "_conv", dtype=dtype)
        if self._lu:
            self._permutation = conv.add(
                "permutation", [k, c, c], init["permutation"], trainable=False
            )
            self._sign_s = conv.add("sign_s", [k, c], init["sign_s"], trainable=False)
            self._lower_upper = conv.add("lower_upper", [k, c, c], init["lower_upper"])
            self._log_s = conv.add("log_s", [k, c], init["log_s"])
        else:
            self._kernel = conv.add("kernel", [k, c, c], init["kernel"])
        out = self._c_b * (1 if self._additive else 2)
        net = WeightStore(name=base + "_coupling", dtype=dtype)
        ca = self._c_a
        # The context's channels follow h_a's in the first kernel's input
        # (`concat(h_a, c)`, as in `AffineCoupling`).
        self._k1 = net.add("kernel_1", [k, 3, 3, ca + ctx_c, width], init["kernel_1"])
        self._b1 = net.add("bias_1", [k, width], "zeros")
        self._k2 = net.add("kernel_2", [k, 1, 1, width, width], init["kernel_2"])
        self._b2 = net.add("bias_2", [k, width], "zeros")
        self._k3 = net.add("kernel_3", [k, 3, 3, width, out], "zeros")
        self._b3 = net.add("bias_3", [k, out], "zeros")
        self._logs = net.add("logs", [k, out], "zeros")
        self._act_store = self._track_keras_layer(act)
        self._conv_store = self._track_keras_layer(conv)
        self._net_store = self._track_keras_layer(net)
        # (shift, scale) output channels are interleaved as in GlowStep's
        # network (`h[..., 0::2]` is the shift); gathered once into
        # [shifts | logits] inside the folded kernel (as `AffineCoupling`).
        self._output_order: list[int] | None = None
        if not self._additive:
            cb = self._c_b
            self._output_order = list(range(0, 2 * cb, 2)) + list(range(1, 2 * cb, 2))
        self._act_norms = tuple(_StepActNorm(self, i) for i in range(k))
        self._origin: _Origin | None = None

    def _bind_parts(self, context: tf.Tensor) -> None:
        # The ActNorm views hold their owner weakly; a bound copy keeps the
        # unbound original (which they read) alive, in an attribute that
        # `tf.Module` does not traverse (no weight is listed twice).
        if self._origin is None:
            self._origin = _Origin(self._act_norms[0]._owner())
        del context  # read from `self.context` in `_run`

    # -- properties ---------------------------------------------------------
    @property
    def num_channels(self) -> int:
        """C."""
        return self._c

    @property
    def num_steps(self) -> int:
        """K."""
        return self._k

    @property
    def reversible(self) -> bool:
        """Whether gradients rebuild each step's input instead of storing it."""
        return self._reversible

    @property
    def keep_hidden(self) -> bool:
        """Whether the reversible backward reuses each step's kept hidden activation."""
        return self._keep_hidden

    @property
    def lu_decomposition(self) -> bool:
        """Whether the 1x1 convolutions are LU-parameterized."""
        return self._lu

    @property
    def additive(self) -> bool:
        """Whether the couplings are additive."""
        return self._additive

    @property
    def dtype_policy(self) -> str | None:
        """The coupling networks' mixed-precision policy name, or None."""
        return self._dtype_policy

    @property
    def act_norms(self) -> tuple[ActNorm, ...]:
        """One `ActNorm` view per step (they share this bijector's weights)."""
        return self._act_norms

    @property
    def is_initialized(self) -> tf.Tensor:
        """Boolean `[K]`: has each step's ActNorm been initialized?"""
        return tf.convert_to_tensor(self._initialized)

    @property
    def stacked_weights(self) -> dict[str, keras.Variable]:
        """`{name: weight}`; row `[k]` of each weight belongs to step k.

        The names are those of one `GlowStep`'s parts (ActNorm `shift`,
        `log_scale`; the 1x1 conv's `lower_upper`, `log_s`, `permutation`,
        `sign_s` or `kernel`; the coupling network's `kernel_1`, `bias_1`,
        `kernel_2`, `bias_2`, `kernel_3`, `bias_3`, `logs`), e.g. to copy
        trained `GlowStep`s in: `w.assign(tf.tensor_scatter_nd_update(w,
        [[k]], [value]))`.
        """
        names = ["shift", "log_scale"]
        names += (
            ["permutation", "sign_s", "lower_upper", "log_s"]
            if self._lu
            else ["kernel"]
        )
        out = {n: getattr(self, "_" + n) for n in names}
        out.update(
            kernel_1=self._k1,
            bias_1=self._b1,
            kernel_2=self._k2,
            bias_2=self._b2,
            kernel_3=self._k3,
            bias_3=self._b3,
            logs=self._logs,
        )
        return out

    # -- parameters, read once per call outside the loop ---------------------
    def _lu_factors(self):
        return lu_factors(
            self._lower_upper, self._log_s, self._sign_s, self._permutation
        )

    def _matrices(self, need_inverse):
        """`(W [K, C, C], W^{-1} [K, C, C] or None, log|det W| [K])`.

        The same computations as `Invertible1x1Conv` (batched over K).
        """
        if not self._lu:
            w = tf.convert_to_tensor(self._kernel)
            _, r = tf.linalg.qr(w)
            logdet = tf.reduce_sum(tf.math.log(tf.abs(tf.linalg.diag_part(r))), -1)
            return w, (tf.linalg.inv(w) if need_inverse else None), logdet
        p, lower, upper, log_s = self._lu_factors()
        w = p @ lower @ upper
        logdet = tf.reduce_sum(log_s, axis=-1)
        if not need_inverse:
            return w, None, logdet
        eye = tf.eye(self._c, dtype=w.dtype)
        inv_d = tf.exp(-log_s) * tf.convert_to_tensor(self._sign_s)  # [K, C]
        strict_upper = upper - tf.linalg.diag(tf.linalg.diag_part(upper))
        both = _unit_triangular_inverse(
            tf.concat([lower - eye, inv_d[:, :, None] * strict_upper], axis=0)
        )
        lower_inv = both[: self._k]
        upper_inv = both[self._k :] * inv_d[:, None, :]
        w_inv = upper_inv @ lower_inv @ tf.linalg.matrix_transpose(p)
        w_inv = w_inv @ (2.0 * eye - w @ w_inv)  # one Newton-Schulz step
        return w, w_inv, logdet

    def _params(self, need_inverse):
        """The loop's per-step tensors (stacked over K) and the constant log-det."""
        w, w_inv, logdet = self._matrices(need_inverse)
        log_scale = tf.convert_to_tensor(self._log_scale)
        # The weights themselves, not K-sized functions of them: the steps
        # slice row k (a view), so no K-sized copy of a weight is made here
        # or for its gradient (the last layer is folded per step, `_net`).
        params = [
            tf.convert_to_tensor(self._shift),
            log_scale,
            w,
            w if w_inv is None else w_inv,  # W^{-1} unused if not needed
            tf.convert_to_tensor(self._k1),
            tf.convert_to_tensor(self._b1),
            tf.convert_to_tensor(self._k2),
            tf.convert_to_tensor(self._b2),
            tf.convert_to_tensor(self._k3),
            tf.convert_to_tensor(self._b3),
            tf.convert_to_tensor(self._logs),
        ]
        # Per pixel, data -> latent: log|det W| - sum(log_scale) per step.
        const = tf.reduce_sum(logdet) - tf.reduce_sum(log_scale)
        return params, const

    # -- one step -------------------------------------------------------------
    def _net(self, h_a, p, ctx=None, keep=False):
        """Step k's coupling network on `concat(h_a, ctx)`, in `h_a`'s dtype.

        The last layer's output scale is folded into its kernel here, for
        step k only. Under a mixed policy the input and the weights (the last
        kernel folded in float32) are cast to the compute dtype here, inside
        the step, so gradients leave in float32 (as `apply_coupling_net`).
        """
        compute = self._compute_dtype
        k2, b2 = (tf.cast(p[j], compute) for j in (_K2, _B2))
        h = self._first_layer(h_a, p, ctx)
        h = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(h, k2, 1, "SAME"), b2))
        out = self._last_layer(h, p, h_a.dtype)
        if keep:  # and the last hidden activation, in the compute dtype
            return out, h
        return out

    def _first_layer(self, h_a, p, ctx):
        """`relu(conv3x3(concat(h_a, ctx), k1) + b1)`, in the compute dtype."""
        x = h_a if ctx is None else tf.concat([h_a, ctx], axis=-1)
        x, k1, b1 = (tf.cast(t, self._compute_dtype) for t in (x, p[_K1], p[_B1]))
        return tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, k1, 1, "SAME"), b1))

    def _last_layer(self, h, p, dtype):
        """The zero-initialized conv3x3 on `h`, its output scale folded, in `dtype`."""
        # conv(x, k) * s + b * s == conv(x, k * s) + b * s: fold the last
        # layer's output scale s = exp(3 * logs) into its kernel (as
        # `apply_coupling_net`), and gather [shifts | logits]; per step, in
        # the weights' dtype, then cast to the compute dtype.
        k3, b3 = fold_output_scale(p[_K3], p[_B3], p[_LOGS], 3.0, self._output_order)
        k3, b3 = tf.cast(k3, self._compute_dtype), tf.cast(b3, self._compute_dtype)
        return tf.cast(tf.nn.bias_add(tf.nn.conv2d(h, k3, 1, "SAME"), b3), dtype)

    def _mix(self, h, matrix):
        shape = tf.shape(h)
        y = tf.matmul(tf.reshape(h, [-1, self._c]), matrix, transpose_b=True)
        return tf.reshape(y, shape)

    def _encode_step(self, h, p, ctx=None, keep=False):
        """Step k, data -> latent: `(h', coupling log-det [N])`.

        `ctx`: the context features `[N, H, W, C_c]` (conditional only).
        `keep`: also return the network's last hidden activation.
        """
        h = (h - p[_AN_SHIFT]) * tf.exp(-p[_AN_LOG_SCALE])
        return self._encode_after_act_norm(h, p, ctx, keep)

    def _encode_after_act_norm(self, h, p, ctx=None, keep=False):
        """Step k's 1x1 conv and coupling, data -> latent."""
        h = self._mix(h, p[_W])
        h_a, h_b = h[..., : self._c_a], h[..., self._c_a :]
        out = self._net(h_a, p, ctx, keep)
        kept: tuple[tf.Tensor, ...] = ()
        if keep:
            out, hidden = out
            kept = (hidden,)
        if self._additive:
            return (
                tf.concat([h_a, h_b + out], -1),
                tf.zeros_like(h[:, 0, 0, 0]),
                *kept,
            )
        shift, logit = out[..., : self._c_b], out[..., self._c_b :] + 2.0
        h_b = (h_b + shift) * tf.sigmoid(logit)
        ldj = tf.reduce_sum(tf.math.log_sigmoid(logit), axis=[1, 2, 3])
        return (tf.concat([h_a, h_b], -1), ldj, *kept)

    def _decode_step(self, h, p, ctx=None):
        """Step k, latent -> data: `(h', coupling log-det [N])`."""
        h_a, h_b = h[..., : self._c_a], h[..., self._c_a :]
        out = self._net(h_a, p, ctx)
        if self._additive:
            h = tf.concat([h_a, h_b - out], -1)
            ldj = tf.zeros_like(h[:, 0, 0, 0])
        else:
            shift, logit = out[..., : self._c_b], out[..., self._c_b :] + 2.0
            h = tf.concat([h_a, h_b * (1.0 + tf.exp(-logit)) - shift], -1)
            ldj = -tf.reduce_sum(tf.math.log_sigmoid(logit), axis=[1, 2, 3])
        h = self._mix(h, p[_W_INV])
        return h * tf.exp(p[_AN_LOG_SCALE]) + p[_AN_SHIFT], ldj

    # -- the loop ---------------------------------------------------------------
    def _loop(self, h, params, ctx, encode):
        """All K steps: `(h', sum of the couplings' log-dets [N])`.

        `ctx`: the context features (the same for every step), or None.
        """
        num = self._k
        step = self._encode_step if encode else self._decode_step

        def body(i, h, ldj):
            k = i if encode else num - 1 - i
            h, part = step(h, [_row(t, k) for t in params], ctx)
            return h, ldj + part

        return _repeat(num, body, (h, tf.zeros_like(h[:, 0, 0, 0])))

    def _loop_keeping(self, h, params, ctx):
        """`_loop` data -> latent, also keeping each step's last hidden activation.

        Returns `(h', ldj, kept)`, `kept` a `tf.TensorArray` whose element k
        is step k's `[N, H, W, hidden_units]` activation.
        """
        kept = tf.TensorArray(self._compute_dtype, size=self._k)

        def body(i, h, ldj, kept):
            h, part, hidden = self._encode_step(
                h, [_row(t, i) for t in params], ctx, keep=True
            )
            return h, ldj + part, kept.write(i, hidden)

        return _repeat(self._k, body, (h, tf.zeros_like(h[:, 0, 0, 0]), kept))

    def _reversible_loop(self, h, params, ctx, encode):
        """`_loop` whose gradient rebuilds each step's input from its output.

        The context features are an input of the custom gradient: their
        gradient is the sum over the K steps of each step's vjp.
        """
        num = self._k
        n_params = len(params)
        step = self._encode_step if encode else self._decode_step
        undo = self._decode_step if encode else self._encode_step
        keep = self._keep_hidden and encode  # sampling keeps nothing

        @tf.custom_gradient
        def run(x, *inputs):
            flat = list(inputs[:n_params])
            c = inputs[n_params] if len(inputs) > n_params else None
            kept = None
            if keep:
                y, ldj, kept = self._loop_keeping(x, flat, c)
            else:
                y, ldj = self._loop(x, flat, c, encode)

            def grad(dy, dldj):
                dy = tf.zeros_like(y) if dy is None else dy
                dldj = tf.zeros_like(ldj) if dldj is None else dldj
                # Step k's gradients are written into row k of one [K, ...]
                # tensor per parameter, updated in place (the loop holds
                # the only reference): no list of K pieces to stack into a
                # second copy at the end.
                arrays = [
                    tf.TensorArray(t.dtype, size=num, element_shape=t.shape[1:])
                    for t in flat
                ]
                # Loop state needs a tensor: a scalar stands in without context.
                d_ctx0 = tf.zeros([], y.dtype) if c is None else tf.zeros_like(c)

                # Backwards over the forward loop's iterations: the input of
                # iteration i is rebuilt from its output, then iteration i is
                # recomputed under a tape for its vjp.
                def body(i, out, d_out, d_ctx, *arrays):
                    k = num - 1 - i if encode else i
                    p = [t[k] for t in flat]
                    if encode:
                        inp, grads, g_ctx = self._encode_step_vjp(
                            out,
                            d_out,
                            dldj,
                            p,
                            c,
                            hidden=None if kept is None else kept.read(k),
                        )
                    else:
                        inp = tf.stop_gradient(undo(out, p, c)[0])
                        sources = [inp] + p + ([] if c is None else [c])
                        with tf.GradientTape() as tape:
                            tape.watch(sources)
                            again, part = step(inp, p, c)
                        grads = tape.gradient(
                            [again, part],
                            sources,
                            output_gradients=[d_out, dldj],
                            unconnected_gradients=tf.UnconnectedGradients.ZERO,
                        )
                        g_ctx = None if c is None else grads.pop()
                    written = [
                        a.write(k, g) for a, g in zip(arrays, grads[1:], strict=True)
                    ]
                    if g_ctx is not None:
                        d_ctx = d_ctx + g_ctx
                    return (inp, grads[0], d_ctx, *written)

                result = _repeat(num, body, (y, dy, d_ctx0, *arrays))
                d_inputs = [result[1]] + [a.stack() for a in result[3:]]
                return d_inputs + ([] if c is None else [result[2]])

            return (y, ldj), grad

        return run(h, *params, *([] if ctx is None else [ctx]))

    def _encode_step_vjp(self, out, d_out, dldj, p, ctx=None, hidden=None):
        """Step k (data -> latent) rebuilt from its output, with its vjp.

        `(inp, [d_inp, *d_p], d_ctx)` (`d_ctx` None without a context). The
        coupling passes `h_a` through unchanged, so the network's output on
        `out_a` both rebuilds the step's input and gives the coupling's vjp:
        one network pass and its backward, instead of the two passes of
        "rebuild, then recompute under a tape" (the context, if any, is
        watched beside `out_a`). With `hidden` (step k's last hidden
        activation, kept by the forward pass: `keep_hidden`) only the first
        and last convolutions run again (`_net_vjp_kept`).
        With `a, b` the halves after the 1x1 conv, `(t, logit) = NN(a)`:

            out_b = (b + t) * s,  s = sigmoid(logit),  ldj = sum(log s)
            d_b = d_t = d_out_b * s
            d_logit = (d_out_b * out_b + d_ldj) * (1 - s),  1 - s = sigmoid(-logit)
            d_a = d_out_a + NN^T (d_t, d_logit)
            h = W g (per pixel): d_g = W^T d_h,  d_W = sum d_h g^T
            g = (inp - shift) * exp(-log_scale):
              d_inp = d_g * exp(-log_scale),  d_shift = -sum(d_inp),
              d_log_scale = -sum(d_g * g)
        """
        ca, cb = self._c_a, self._c_b
        out_a, out_b = out[..., :ca], out[..., ca:]
        d_a, d_ob = d_out[..., :ca], d_out[..., ca:]
        if hidden is None:
            net_p = [p[j] for j in _NET]
            sources = [out_a] + net_p + ([] if ctx is None else [ctx])
            with tf.GradientTape() as tape:
                tape.watch(sources)
                h = self._net(out_a, p, ctx)

            def net_vjp(d_h):
                return tape.gradient(
                    h,
                    sources,
                    output_gradients=d_h,
                    unconnected_gradients=tf.UnconnectedGradients.ZERO,
                )
        else:
            h, net_vjp = self._net_vjp_kept(out_a, p, ctx, hidden)
        if self._additive:
            b = out_b - h
            d_b = d_ob
            d_h = d_ob
        else:
            shift, logit = h[..., :cb], h[..., cb:] + 2.0
            s = tf.sigmoid(logit)
            b = out_b * (1.0 + tf.exp(-logit)) - shift
            d_b = d_ob * s
            # 1 - s as sigmoid(-logit): `1.0 - s` cancels where s ~ 1, and
            # its float32 error, cast to 16 bits under a mixed policy, would
            # flip roundings of the network's backward pass.
            d_logit = (d_ob * out_b + dldj[:, None, None, None]) * tf.sigmoid(-logit)
            d_h = tf.concat([d_b, d_logit], -1)
        net_grads = net_vjp(d_h)
        d_ctx = None if ctx is None else net_grads.pop()
        d_a = d_a + net_grads[0]
        h_conv = tf.concat([out_a, b], -1)
        d_conv = tf.concat([d_a, d_b], -1)
        c = self._c
        g = self._mix(h_conv, p[_W_INV])  # the ActNorm's output
        d_conv_flat = tf.reshape(d_conv, [-1, c])
        d_w = tf.matmul(d_conv_flat, tf.reshape(g, [-1, c]), transpose_a=True)
        d_g = tf.reshape(tf.matmul(d_conv_flat, p[_W]), tf.shape(g))
        inv_scale = tf.exp(-p[_AN_LOG_SCALE])
        inp = g / inv_scale + p[_AN_SHIFT]
        d_inp = d_g * inv_scale
        d_shift = -tf.reduce_sum(d_inp, axis=[0, 1, 2])
        d_log_scale = -tf.reduce_sum(d_g * g, axis=[0, 1, 2])
        grads = [d_inp, d_shift, d_log_scale, d_w, tf.zeros_like(p[_W_INV])]
        return inp, grads + net_grads[1:], d_ctx

    def _net_vjp_kept(self, h_a, p, ctx, hidden):
        """`(NN(h_a), vjp)` from the kept last hidden activation `hidden`.

        `vjp(d_out)` returns the gradients `[d_h_a, d_k1, d_b1, d_k2, d_b2,
        d_k3, d_b3, d_logs]` (and `d_ctx` last, with a context), as
        `tape.gradient` of `_net` gives them, in the same dtypes. With
        `h1 = relu(conv3x3(x, k1) + b1)`, `h2 = relu(h1 k2 + b2)` (1x1, kept)
        and `out = conv3x3(h2, k3') + b3'` (the folded last layer): the last
        convolution and the first run again (under tapes), the middle one,
        most of the network's work at Glow's widths, not:

            d_h2 = conv3x3^T(d_out);  d_a2 = d_h2 * [h2 > 0]
            d_k2 = h1^T d_a2,  d_b2 = sum(d_a2),  d_h1 = d_a2 k2^T
        """
        compute = self._compute_dtype
        k2, b2 = p[_K2], p[_B2]
        first = [h_a, p[_K1], p[_B1]] + ([] if ctx is None else [ctx])
        with tf.GradientTape() as tape_first:
            tape_first.watch(first)
            h1 = self._first_layer(h_a, p, ctx)
        last = [hidden, p[_K3], p[_B3], p[_LOGS]]
        with tf.GradientTape() as tape_last:
            tape_last.watch(last)
            out = self._last_layer(hidden, p, h_a.dtype)

        def vjp(d_out):
            zero = tf.UnconnectedGradients.ZERO
            d_h2, d_k3, d_b3, d_logs = tape_last.gradient(
                out, last, output_gradients=d_out, unconnected_gradients=zero
            )
            width = self._width
            d_a2 = tf.reshape(
                tf.where(hidden > 0, d_h2, tf.zeros_like(d_h2)), [-1, width]
            )
            h1_rows = tf.reshape(h1, [-1, width])
            k2c = tf.cast(k2, compute)
            d_k2 = tf.matmul(h1_rows, d_a2, transpose_a=True)
            d_k2 = tf.cast(tf.reshape(d_k2, [1, 1, width, width]), k2.dtype)
            d_b2 = tf.cast(tf.reduce_sum(d_a2, axis=0), b2.dtype)
            d_h1 = tf.reshape(
                tf.matmul(d_a2, tf.reshape(k2c, [width, width]), transpose_b=True),
                tf.shape(h1),
            )
            g_first = tape_first.gradient(
                h1, first, output_gradients=d_h1, unconnected_gradients=zero
            )
            grads = [g_first[0], g_first[1], g_first[2], d_k2, d_b2, d_k3, d_b3]
            return grads + [d_logs] + g_first[3:]

        return out, vjp

    def _with_context_batch(self, t, arg_name):
        """`(t, context)` broadcast to their common batch shape (or `(t, None)`).

        As `AffineCoupling`: a context `[*context_shape]` serves every row,
        `[..., *context_shape]` broadcasts with `t`'s batch shape.
        """
        ctx = self._require_context()
        if ctx is None:
            return t, None
        if t.shape.rank is not None:
            # The package's one context check, now that `t`'s batch is known.
            check_context(
                ctx,
                self._context_shape or (),
                self._dtype_weights,
                "GlowSteps",
                batch_shape=t.shape[:-3],
                values_name=arg_name,
                noun="bijector",
            )
        return self._broadcast_with_context(t, ctx, 3)

    def _flat(self, t, arg_name):
        """`(t, h, ctx)`: the input, its rows and the context features.

        `t` broadcast with the context's batch, `h` its `[N, H, W, C]` rows,
        `ctx` the context features `[N, H, W, C_c]` (None if unconditional).
        """
        t, ctx = self._with_context_batch(t, arg_name)
        shape = tf.shape(t)
        h = tf.reshape(t, tf.concat([[-1], shape[-3:]], 0))
        if t.shape.rank is not None:
            h.set_shape([None] + t.shape[-3:].as_list())
        if ctx is None:
            return t, h, None
        cr = len(self._context_shape or ())
        ctx = tf.reshape(ctx, tf.concat([[-1], tf.shape(ctx)[tf.rank(ctx) - cr :]], 0))
        # Every step sees the same map: brought to H x W once, not K times.
        return t, h, context_features(ctx, h, cr)

    def _run(self, t, encode):
        arg_name = "y" if encode else "x"
        checks.check_float_dtype(t, arg_name, "GlowSteps", self._dtype_weights)
        checks.check_event(t, arg_name, "GlowSteps", [None, None, self._c])
        t, h, ctx = self._flat(t, arg_name)
        shape = tf.shape(t)
        batch = shape[:-3]
        params, const = self._params(need_inverse=(not encode) or self._reversible)
        with tf.control_dependencies(self._assertions(params)):
            if self._reversible:
                h, ldj = self._reversible_loop(h, params, ctx, encode)
            else:
                # The loop reads row k with a gather: its weights' gradients
                # arrive as `IndexedSlices`; handed on dense, as before.
                loop_params = [_dense_gradient(t) for t in params]
                h, ldj = self._loop(h, loop_params, ctx, encode)
        # The ActNorm and 1x1 conv terms depend on the weights only (the
        # couplings' terms, from the loop, already have the direction's sign).
        pixels = tf.cast(shape[-3] * shape[-2], h.dtype)
        ldj = ldj + (pixels * const if encode else -pixels * const)
        return tf.reshape(h, shape), tf.reshape(ldj, batch)

    def _assertions(self, params):
        if not self.validate_args:
            return []
        msg = (
            f"GlowSteps '{self.name}': a 1x1 convolution's weight matrix W is "
            "singular (log|det W| is not finite)."
        )
        if self._lu:
            s = tf.exp(tf.convert_to_tensor(self._log_s))
            return [tf.debugging.assert_positive(s, message=msg)]
        _, _, logdet = self._matrices(False)
        del params
        return [tf.debugging.assert_all_finite(logdet, msg)]

    def _forward_and_log_det(self, x):
        return self._run(x, encode=False)

    def _inverse_and_log_det(self, y):
        return self._run(y, encode=True)

    # -- data-dependent ActNorm initialization --------------------------------
    def _data_init_walk(self, y, walk):
        """Data -> latent, initializing step k's ActNorm on what reaches it.

        Called by `tfp_flows.flows.initialize_act_norms`: `walk(act_norm, h)`
        initializes the view of step k (with the caller's `reduce_fn`) and
        returns its inverse; the step's 1x1 conv and coupling follow.
        """
        y, h, ctx = self._flat(y, "y")
        shape = tf.shape(y)
        # The 1x1 convs and couplings do not read the ActNorm weights that
        # `walk` writes, so their parameters are computed once, not per step.
        params, _ = self._params(need_inverse=False)
        for k, act in enumerate(self._act_norms):
            h = walk(act, h)
            h, _ = self._encode_after_act_norm(h, [t[k] for t in params], ctx)
        return tf.reshape(h, shape)


class _StepActNorm(ActNorm):
    """Step k's ActNorm inside a `GlowSteps`: a view, it owns no weights.

    Reads and writes row `k` of the owner's stacked `shift`, `log_scale` and
    `initialized` weights. The owner is held through a weak reference, so
    `tf.Module` traversal (and so `trainable_variables`) never lists the
    owner's weights twice.
    """

    def __init__(self, owner: GlowSteps, step: int):  # pylint: disable=super-init-not-called
        self._owner_ref = weakref.ref(owner)
        self._step = int(step)
        self._num_channels = owner.num_channels
        self._event_ndims = 3
        self._epsilon = 1e-6  # ActNorm's default
        self._require_initialization = False
        self._dtype_weights = owner._dtype_weights
        FusedBijector.__init__(
            self,
            forward_min_event_ndims=3,
            is_constant_jacobian=False,
            validate_args=owner.validate_args,
            parameters={"step": int(step)},
            dtype=None,
            name=f"{owner.name.rstrip('/')}_act_norm_{step}",
        )

    def _owner(self) -> GlowSteps:
        owner = self._owner_ref()
        if owner is None:  # pragma: no cover - the owner holds the views
            raise RuntimeError("GlowSteps ActNorm view outlived its GlowSteps.")
        return owner

    @property
    def shift(self):
        """Step k's shift (a tensor `[C]`, row k of the stacked weight)."""
        return tf.convert_to_tensor(self._owner()._shift)[self._step]

    @property
    def log_scale(self):
        """Step k's log-scale (a tensor `[C]`)."""
        return tf.convert_to_tensor(self._owner()._log_scale)[self._step]

    @property
    def is_initialized(self) -> tf.Tensor:
        """Boolean tensor: has step k's ActNorm been initialized (or restored)?"""
        return tf.convert_to_tensor(self._owner()._initialized)[self._step]

    def _write_statistics(self, mean, log_scale, ok):
        """As `ActNorm`'s, writing row k of the stacked weights."""
        owner_obj = self._owner()
        weights = [owner_obj._shift, owner_obj._log_scale, owner_obj._initialized]
        rows = [[self._step]]
        old = [tf.convert_to_tensor(w) for w in weights]
        new = [
            tf.tensor_scatter_nd_update(
                old[0], rows, [tf.where(ok, mean, old[0][self._step])]
            ),
            tf.tensor_scatter_nd_update(
                old[1], rows, [tf.where(ok, log_scale, old[1][self._step])]
            ),
            tf.tensor_scatter_nd_update(
                old[2], rows, [tf.logical_or(ok, old[2][self._step])]
            ),
        ]
        _assign_on_every_replica(weights, new)

    def _forward_and_log_det(self, x):
        self._check(x, "x")
        y = x * tf.exp(self.log_scale) + self.shift
        return y, self._ldj(x)

    def _inverse_and_log_det(self, y):
        self._check(y, "y")
        x = (y - self.shift) * tf.exp(-self.log_scale)
        return x, -self._ldj(y)

    def _ldj(self, x):
        shape = tf.shape(x)
        total = tf.reduce_sum(self.log_scale) * tf.cast(shape[-3] * shape[-2], x.dtype)
        return tf.zeros_like(x[..., 0, 0, 0]) + total


class _Origin:
    """Holds an unbound `GlowSteps` for its bound copies.

    Not a `tf.Module`, so traversal does not list its weights again.
    """

    __slots__ = ("bijector",)

    def __init__(self, bijector):
        self.bijector = bijector


@tf.custom_gradient
def _dense_gradient(t):
    """Identity whose gradient is made dense (`IndexedSlices` summed into a tensor)."""

    def grad(dy):
        return tf.convert_to_tensor(dy)

    return tf.identity(t), grad


def _row(t, k):
    """Row k of a stacked tensor; a gather inside a while loop (sparse gradient)."""
    if isinstance(k, int):
        return t[k]
    return tf.gather(t, k)


def _repeat(num, body, state):
    """`state = body(i, *state)` for `i < num`: a `tf.while_loop`, unrolled under XLA.

    Measured on this package's CPU machine (TF 2.21, 3 levels x 8 steps,
    width 128, batch 16): XLA compiles a while loop whose body holds the
    coupling convolutions into a training step 40x slower than TensorFlow's
    (23.7 s vs 0.55 s), so inside `tf.function(jit_compile=True)` the steps
    are unrolled (compile time then grows with K, as for K `GlowStep`s; the
    reversible gradient still keeps memory flat).

    One iteration at a time (`parallel_iterations=1`): with TensorFlow's
    default of 10, the executor starts later iterations' work as soon as
    its inputs exist and holds their tensors meanwhile. Measured (3 levels,
    width 128, batch 64, the gradient of the mean NLL with reversible
    gradients): peak memory above the start 267 MB at 8 steps per level and
    372 MB at 32 with the default, 93 MB and 131 MB with one iteration at a
    time.
    """
    if checks.in_xla_context():
        for i in range(num):
            state = tuple(body(i, *state))
        return state
    out = tf.while_loop(
        lambda i, *_: i < num,
        lambda i, *s: (i + 1, *body(i, *s)),
        (tf.constant(0), *state),
        maximum_iterations=num,
        parallel_iterations=1,
    )
    return tuple(out[1:])


def _initial_values(c, k, width, ctx_c, lu, seed, dtype):
    """Numpy initial values of K steps, as K `GlowStep(seed=seed + 2k)` get them.

    `ctx_c`: the context's channels (0: unconditional), which the first
    kernel's input has after `h_a`'s.
    """
    np_dtype = tf.as_dtype(dtype).as_numpy_dtype
    out: dict[str, list[np.ndarray]] = {}
    for i in range(k):
        step_seed = seed + 2 * i
        w0 = random_rotation(c, step_seed % 2**32)
        if lu:
            p, lower, upper = scipy.linalg.lu(w0)
            s = np.diag(upper)
            out.setdefault("permutation", []).append(p)
            out.setdefault("sign_s", []).append(np.sign(s))
            out.setdefault("lower_upper", []).append(
                np.tril(lower, -1) + np.triu(upper, 1)
            )
            out.setdefault("log_s", []).append(np.log(np.abs(s)))
        else:
            out.setdefault("kernel", []).append(w0)
        # `conv_coupling_net(seed=step_seed + 1)` uses one GlorotUniform
        # initializer (with that seed) for its first two kernels.
        glorot = keras.initializers.GlorotUniform(seed=step_seed + 1)
        out.setdefault("kernel_1", []).append(
            np.asarray(glorot((3, 3, c // 2 + ctx_c, width), dtype=dtype.name))
        )
        out.setdefault("kernel_2", []).append(
            np.asarray(glorot((1, 1, width, width), dtype=dtype.name))
        )
    return {n: np.stack(v).astype(np_dtype) for n, v in out.items()}
