"""Affine and additive coupling layers (NICE, RealNVP, Glow)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from tfp_flows.bijectors.base import ContextBijector
from tfp_flows.internal import checks
from tfp_flows.internal.conditioning import context_features
from tfp_flows.internal.keras import keras
from tfp_flows.internal.types import DTypeLike
from tfp_flows.nn.coupling_nets import apply_coupling_net
from tfp_flows.nn.coupling_nets import check_network_policy
from tfp_flows.nn.coupling_nets import conv_coupling_net
from tfp_flows.nn.coupling_nets import dense_coupling_net
from tfp_flows.nn.coupling_nets import is_default_coupling_net

__all__ = ["AffineCoupling", "AdditiveCoupling"]

_MASKS = ("channel", "half", "checkerboard")


def _first_message(error):
    """The informative line of an exception (Keras wraps the cause's message)."""
    lines = [
        re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(error).splitlines()
    ]
    lines = [
        line
        for line in lines
        if line and not line.startswith("Exception encountered when calling")
    ]
    return lines[0] if lines else type(error).__name__


class AffineCoupling(ContextBijector):
    """Affine coupling layer; shift and scale come from a Keras 3 network.

    The input is split by a mask into an untouched part `x_a` and a part `x_b`
    that is transformed with `h = network(x_a)`, `shift = h[..., 0::2]`,
    `scale = sigmoid(h[..., 1::2] + 2)` (Glow's scale). Written in the
    data-to-latent direction (the bijector's `inverse`, the one `log_prob`
    uses), exactly as Glow's encoder:

        inverse:  z_b = (x_b + shift) * scale,   z_a = x_a
                  log|det J_inverse| = sum(log scale)
        forward:  x_b = z_b / scale - shift
                  log|det J_forward| = -sum(log scale)

    With `additive=True` it is NICE's additive coupling (volume preserving):
    `z_b = x_b + shift`, log-det 0, and the network outputs only the shift.

    Masks, for images `[..., H, W, C]` (`event_ndims=3`) or vectors `[..., D]`
    (`event_ndims=1`):

    * `'channel'` (alias `'half'`): Glow's half/half split of the last axis,
      which is RealNVP's channel-wise mask. `x_a = x[..., :C//2]` (`parity=0`)
      or `x[..., C//2:]` (`parity=1`). The network maps `x_a` to `x_b`'s shift
      and scale.
    * `'checkerboard'`: RealNVP's spatial checkerboard `b[i, j] = (i + j +
      parity) % 2` (for vectors: alternating dimensions). The network sees
      `b * x` and its output is used where `b == 0`.

    The default network is Glow's (conv3x3 -> ReLU -> conv1x1 -> ReLU -> conv3x3
    with a zero-initialized last layer; Dense layers for vectors), so a fresh
    layer has `shift = 0` and the input-independent `scale = sigmoid(2)` (the
    identity for the additive variant). A custom `network` is any Keras 3 layer
    mapping `[N, H, W, C_a]` to `[N, H, W, 2 * C_b]` (`C_b` if additive; for
    the checkerboard mask `C_a = C_b = C`).

    **Conditional coupling** (`context_shape=(C_c,)` or `(H', W', C_c)`):
    `h = network(x_a, c)`, the network sees the untouched part and the
    context, bound with `with_context(c)` (or a conditional flow's
    `condition(c)`). For images a vector context is broadcast over H and W
    and an image context is brought to the coupling's H x W (average pooling
    by an integer factor, nearest repeats, else bilinear; see
    `tfp_flows.internal.conditioning.context_features`); the default
    network's first convolution (or Dense layer) then sees `concat(x_a, c)`.
    A custom network receives `[x_a, c]` (a list: the second input is the
    `[N, H, W, C_c]` context map for images, `[N, C_c]` for vectors) and
    returns the same output as above. The log-det is unchanged in form (the
    context only sets shift and scale), so the coupling stays a bijection of
    `x` for every fixed context.

    #### Examples

    >>> cpl = AffineCoupling(4, hidden_units=8, seed=0)
    >>> x = tf.random.stateless_normal([2, 4, 4, 4], seed=[0, 1])
    >>> y = cpl.forward(x)
    >>> bool(tf.reduce_max(tf.abs(cpl.inverse(tf.identity(y)) - x)) < 1e-5)
    True

    #### References

    [1]: Laurent Dinh, David Krueger, Yoshua Bengio. NICE: Non-linear
         Independent Components Estimation. 2014. https://arxiv.org/abs/1410.8516
    [2]: Laurent Dinh, Jascha Sohl-Dickstein, Samy Bengio. Density estimation
         using Real NVP. ICLR 2017. https://arxiv.org/abs/1605.08803
    [3]: Diederik P. Kingma, Prafulla Dhariwal. Glow. NeurIPS 2018.
    """

    def __init__(
        self,
        num_channels: int,
        *,
        mask: str = "channel",
        parity: int = 0,
        additive: bool = False,
        network: keras.layers.Layer | None = None,
        hidden_units: int = 64,
        event_ndims: int = 3,
        context_shape: Sequence[int] | None = None,
        seed: int | None = None,
        dtype: DTypeLike = tf.float32,
        dtype_policy: str | None = None,
        validate_args: bool = False,
        name: str | None = None,
    ):
        """Creates the coupling layer.

        Args:
          num_channels: C (images) or D (vectors), the size of the last axis.
          mask: `'channel'`/`'half'` or `'checkerboard'`.
          parity: 0 or 1, which half is transformed.
          additive: NICE's additive (shift-only) coupling.
          network: optional Keras 3 layer computing the shift (and scale).
          hidden_units: width of the default network.
          event_ndims: 3 for images, 1 for vectors.
          context_shape: None (unconditional), `(C_c,)` for a vector context
            or (images only) `(H', W', C_c)` for an image context.
          seed: seed of the default network's initializers.
          dtype: dtype of the weights and accepted inputs.
          dtype_policy: None, or `'mixed_bfloat16'` / `'mixed_float16'`: the
            default network computes in 16 bits over float32 weights (Keras
            mixed precision); its output is cast back to float32 before the
            shift, scale and log-det, so the round trip stays exact (both
            directions run the same network on the same kept half). Needs
            `dtype=float32` and no `network` (give a user network its own
            policy instead).
          validate_args: unused beyond TFP's own checks.
          name: name.

        Raises:
          ValueError: for an unknown `mask`, a `parity` not in {0, 1}, too few
            channels to split, a network that fails on, or gives the wrong
            output shape for, a probe input (`[2, 4, 4, C_a]` images, `[2,
            C_a]` vectors: the output must keep the batch and spatial dims and
            have the right channels), a non-positive `hidden_units`, a
            non-floating `dtype`, or an `event_ndims` other than 1 or 3.
          TypeError: if `network` is not a Keras 3 layer.
        """
        parameters = dict(locals())
        owner = type(self).__name__
        c = checks.check_positive_int(num_channels, "num_channels", owner)
        if mask not in _MASKS:
            raise ValueError(
                f"{owner}: argument `mask` must be one of {_MASKS}; got {mask!r}."
            )
        if parity not in (0, 1):
            raise ValueError(
                f"{owner}: argument `parity` must be 0 or 1; got {parity!r}."
            )
        if event_ndims not in (1, 3):
            raise ValueError(
                f"{owner}: argument `event_ndims` must be 3 (images) or 1 (vectors); "
                f"got {event_ndims!r}."
            )
        hidden_units = checks.check_positive_int(hidden_units, "hidden_units", owner)
        seed = checks.check_seed(seed, owner, allow_none=True)
        dtype = checks.check_dtype_arg(dtype, owner)
        net_dtype = check_network_policy(dtype_policy, dtype, owner)
        if dtype_policy is not None and network is not None:
            raise ValueError(
                f"{owner}: argument `dtype_policy` ({dtype_policy!r}) applies to "
                "the default network only; build the `network` you pass with "
                "its own Keras dtype policy instead."
            )
        mask = "channel" if mask == "half" else mask
        if mask == "channel" and c < 2:
            raise ValueError(
                f"{owner}: the 'channel' mask splits the last axis in two, so "
                f"`num_channels` must be >= 2; got {c}. Use mask='checkerboard' "
                "or squeeze first."
            )
        with tf.name_scope(
            name or ("additive_coupling" if additive else "affine_coupling")
        ) as name:
            self._c = c
            self._mask = mask
            self._parity = parity
            self._additive = bool(additive)
            self._event_ndims = event_ndims
            self._dtype_weights = tf.as_dtype(dtype)
            self._dtype_policy = None if dtype_policy is None else net_dtype
            super().__init__(
                forward_min_event_ndims=event_ndims,
                validate_args=validate_args,
                parameters=parameters,
                dtype=None,
                name=name,
            )
        self._init_context(context_shape)
        if self._context_shape is not None and event_ndims == 1:
            if len(self._context_shape) != 1:
                raise ValueError(
                    f"{owner}: a vector coupling (event_ndims=1) takes a vector "
                    f"context; argument `context_shape` must be (C,); got "
                    f"{tuple(self._context_shape)!r}."
                )
        ctx_c = 0 if self._context_shape is None else self._context_shape[-1]
        if mask == "channel":
            c_first = c // 2
            self._c_a = c_first if parity == 0 else c - c_first
            self._c_b = c - self._c_a
        else:
            self._c_a = self._c_b = c
        out = self._c_b * self._params_per_channel()
        net_name = self.name.rstrip("/") + "_net"
        if network is None:
            maker = conv_coupling_net if event_ndims == 3 else dense_coupling_net
            network = maker(
                self._c_a + ctx_c,
                out,
                hidden_units,
                dtype=net_dtype,
                seed=seed,
                name=net_name,
            )
        else:
            if not isinstance(network, keras.layers.Layer):
                raise TypeError(
                    f"{owner}: argument `network` must be a Keras 3 layer "
                    f"(keras.layers.Layer); got {type(network)!r}."
                )
            self._probe_network(network, out, owner)
        self._network = self._track_keras_layer(network)
        # Default networks run through `apply_coupling_net`: tf.nn ops on the
        # same Keras weights, the last layer's output scale folded into its
        # kernel, and its interleaved (shift, scale) output channels gathered
        # into [all shifts | all scale logits] inside the kernel, so the split
        # below takes contiguous halves. The weights and the mapping are
        # unchanged (`h[..., 0::2]` is still the shift); under XLA on CPU the
        # strided slices and the output scale cost more than the last conv.
        self._fast_net = is_default_coupling_net(network)
        self._output_order: list[int] | None = None
        if self._fast_net and self._params_per_channel() == 2:
            cb = self._c_b
            self._output_order = list(range(0, 2 * cb, 2)) + list(range(1, 2 * cb, 2))

    def _params_per_channel(self) -> int:
        return 1 if self._additive else 2

    def _expected_output(self, in_shape):
        """The output shape a network must give for input shape `in_shape`."""
        return list(in_shape[:-1]) + [self._c_b * self._params_per_channel()]

    def _network_error(self, network, in_shape, got, extra=""):
        owner = type(self).__name__
        out = self._c_b * self._params_per_channel()
        return ValueError(
            f"{owner}: argument `network` must output {out} channels "
            f"({self._params_per_channel()} parameters for each of {self._c_b} "
            "channels) with the batch and spatial dims of its input: inputs of "
            f"shape {checks.shape_str(in_shape)} must give outputs of shape "
            f"{checks.shape_str(self._expected_output(in_shape))}; got {got}.{extra}"
        )

    def _probe_network(self, network, out, owner):
        """Calls a user network once on zeros and checks its whole output shape.

        Two rows and (images) a 4 x 4 map: a network that changes the batch
        or spatial size (a strided or 'valid' conv, a Flatten) fails here, at
        construction, instead of as a raw shape error inside `log_prob`.
        """
        c_a = self._c_a
        images = self._event_ndims == 3
        probe_shape = [2, 4, 4, c_a] if images else [2, c_a]
        probe_input: Any = tf.zeros(probe_shape, self._dtype_weights)
        if self._context_shape is not None:
            ctx_c = self._context_shape[-1]
            ctx_shape = probe_shape[:-1] + [ctx_c]
            probe_input = [probe_input, tf.zeros(ctx_shape, self._dtype_weights)]
        try:
            probe = network(probe_input)
        except Exception as e:  # Keras raises many types for a bad input shape.
            raise ValueError(
                f"{owner}: argument `network` could not be called on an input of "
                f"shape {probe_shape} ([batch, {'H, W, ' if images else ''}{c_a}]: "
                f"the {c_a} conditioning channels"
                + (
                    ", and the context as a second input"
                    if self._context_shape is not None
                    else ""
                )
                + "); it must accept any batch"
                + (" and spatial size" if images else "")
                + f". {type(e).__name__}: {_first_message(e)}"
            ) from e
        got = getattr(probe, "shape", None)
        if got is None or tf.TensorShape(got).as_list() != self._expected_output(
            probe_shape
        ):
            raise self._network_error(
                network,
                probe_shape,
                "output shape "
                + (checks.shape_str(got) if got is not None else f"None ({probe!r})"),
            )

    @property
    def network(self) -> keras.layers.Layer:
        """The Keras 3 layer computing shift (and scale)."""
        return self._network

    @property
    def num_channels(self) -> int:
        """C (images) or D (vectors)."""
        return self._c

    @property
    def mask(self) -> str:
        """`'channel'` or `'checkerboard'`."""
        return self._mask

    @property
    def dtype_policy(self) -> str | None:
        """The default network's mixed-precision policy name, or None."""
        return self._dtype_policy

    @property
    def additive(self) -> bool:
        """Whether this is NICE's additive (shift-only) coupling."""
        return self._additive

    def _check(self, x, arg_name):
        owner = type(self).__name__
        checks.check_float_dtype(x, arg_name, owner, self._dtype_weights)
        spec = [None] * (self._event_ndims - 1) + [self._c]
        checks.check_event(x, arg_name, owner, spec)

    def _call_network(self, flat, ctx=None):
        if ctx is not None:
            if self._event_ndims == 3:
                ctx = context_features(ctx, flat, len(self._context_shape or ()))
            else:
                ctx = tf.cast(ctx, flat.dtype)
        if self._fast_net:
            inp = flat if ctx is None else tf.concat([flat, ctx], axis=-1)
            return apply_coupling_net(self._network, inp, self._output_order)
        h = self._network(flat if ctx is None else [flat, ctx])
        # A user network passed the probe at construction; at other sizes it
        # may still change the spatial shape (e.g. a conv that needs a size
        # divisible by 8): say so here rather than as a raw AddV2 error.
        want = self._expected_output(flat.shape)
        got = tf.TensorShape(getattr(h, "shape", None))
        if got.rank is not None and not got.is_compatible_with(want):
            raise self._network_error(
                self._network, flat.shape, f"output shape {checks.shape_str(got)}"
            )
        return h

    def _with_context_batch(self, x):
        """`(x, context)` broadcast to their common batch shape (or `(x, None)`)."""
        ctx = self._require_context()
        if ctx is None:
            return x, None
        return self._broadcast_with_context(x, ctx, self._event_ndims)

    def _run_network(self, x_a, ctx=None):
        """Applies the network to `[..., event]` by flattening the batch dims.

        `ctx` (conditional only) has the batch shape of `x_a`.
        """
        nd = self._event_ndims
        if x_a.shape.rank == nd + 1:  # one batch dim: no reshapes needed
            return tf.cast(self._call_network(x_a, ctx), x_a.dtype)
        shape = tf.shape(x_a)
        batch_shape = shape[: tf.rank(x_a) - nd]
        flat = tf.reshape(x_a, tf.concat([[-1], shape[tf.rank(x_a) - nd :]], 0))
        if ctx is not None:
            cr = len(self._context_shape or ())
            ctx = tf.reshape(
                ctx, tf.concat([[-1], tf.shape(ctx)[tf.rank(ctx) - cr :]], 0)
            )
        h = tf.cast(self._call_network(flat, ctx), x_a.dtype)
        return tf.reshape(h, tf.concat([batch_shape, tf.shape(h)[1:]], 0))

    def _shift_and_logit(self, h):
        """`(shift, logit)`: `scale = sigmoid(logit)`, `logit = h[..., 1::2] + 2`."""
        if self._additive:
            return h, None
        if self._output_order is not None:  # channels already [shifts | logits]
            cb = self._c_b
            return h[..., :cb], h[..., cb:] + 2.0
        return h[..., 0::2], h[..., 1::2] + 2.0

    def _checkerboard(self, x):
        shape = tf.shape(x)
        if self._event_ndims == 3:
            i = tf.range(shape[-3])[:, None]
            j = tf.range(shape[-2])[None, :]
            b = tf.math.floormod(i + j + self._parity, 2)[:, :, None]
        else:
            b = tf.math.floormod(tf.range(shape[-1]) + self._parity, 2)
        return tf.cast(b, x.dtype)  # 1: conditioning (kept), 0: transformed

    def _split(self, x):
        if self._parity == 0:
            c1 = self._c_a
        else:
            c1 = self._c_b
        first, second = x[..., :c1], x[..., c1:]
        return (first, second) if self._parity == 0 else (second, first)

    def _merge(self, x_a, x_b):
        return tf.concat([x_a, x_b] if self._parity == 0 else [x_b, x_a], axis=-1)

    def _reduce(self, log_scale):
        return tf.reduce_sum(log_scale, axis=list(range(-self._event_ndims, 0)))

    def _transform(self, x, inverse):
        """inverse=True: data -> latent (Glow's encoder); else latent -> data."""
        self._check(x, "y" if inverse else "x")
        x, ctx = self._with_context_batch(x)
        zero_ldj = tf.zeros_like(x[(Ellipsis,) + (0,) * self._event_ndims])
        if self._mask == "channel":
            x_a, x_b = self._split(x)
            shift, logit = self._shift_and_logit(self._run_network(x_a, ctx))
            if logit is None:
                out_b = x_b + shift if inverse else x_b - shift
                return self._merge(x_a, out_b), zero_ldj
            # scale = sigmoid(logit); 1 / scale = 1 + exp(-logit).
            if inverse:
                out_b = (x_b + shift) * tf.sigmoid(logit)
            else:
                out_b = x_b * (1.0 + tf.exp(-logit)) - shift
            ldj = self._reduce(tf.math.log_sigmoid(logit))
            return self._merge(x_a, out_b), (ldj if inverse else -ldj)
        b = self._checkerboard(x)
        shift, logit = self._shift_and_logit(self._run_network(x * b, ctx))
        if logit is None:
            out = x + (1.0 - b) * (shift if inverse else -shift)
            return out, zero_ldj
        log_scale = (1.0 - b) * tf.math.log_sigmoid(logit)
        shift = (1.0 - b) * shift
        if inverse:
            out = (x + shift) * tf.exp(log_scale)
        else:
            out = x * tf.exp(-log_scale) - shift
        ldj = self._reduce(log_scale)
        return out, (ldj if inverse else -ldj)

    def _forward_and_log_det(self, x):
        return self._transform(x, inverse=False)

    def _inverse_and_log_det(self, y):
        return self._transform(y, inverse=True)


class AdditiveCoupling(AffineCoupling):
    """NICE's additive coupling: `AffineCoupling(..., additive=True)`.

    inverse: `z_b = x_b + shift(x_a)`; forward: `x_b = z_b - shift(z_a)`;
    log-det 0 (volume preserving).
    """

    def __init__(self, num_channels: int, **kwargs: Any):
        kwargs["additive"] = True
        kwargs.setdefault("name", "additive_coupling")
        super().__init__(num_channels, **kwargs)
