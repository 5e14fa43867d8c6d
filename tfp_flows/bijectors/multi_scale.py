"""The multi-scale architecture of RealNVP and Glow as one bijector."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from tensorflow_probability import bijectors as tfb

from tfp_flows.bijectors.base import ContextBijector
from tfp_flows.bijectors.base import bind_context
from tfp_flows.bijectors.base import consumes_context
from tfp_flows.bijectors.squeeze import Squeeze
from tfp_flows.internal import checks
from tfp_flows.internal.conditioning import context_features
from tfp_flows.internal.keras import WeightStore
from tfp_flows.internal.types import DTypeLike
from tfp_flows.nn.coupling_nets import ZeroInitConv2D
from tfp_flows.nn.coupling_nets import ZeroInitDense

__all__ = ["Level", "MultiScale"]


@dataclasses.dataclass(frozen=True)
class Level:
    """One scale of a multi-scale flow, in the data-to-latent order.

    Attributes:
      pre_steps: bijectors applied at the level's input shape (RealNVP's
        checkerboard couplings), first to last.
      squeeze: apply a 2x2 `Squeeze` after `pre_steps`.
      steps: bijectors applied after the squeeze (Glow's K steps).
      split: factor out the second half of the channels to the base
        distribution (through a learned conditional prior). Ignored on the
        last level, where everything goes to the base.
    """

    pre_steps: Sequence[tfb.Bijector] = ()
    squeeze: bool = True
    steps: Sequence[tfb.Bijector] = ()
    split: bool = True


class MultiScale(ContextBijector):
    """L levels of [pre-steps, squeeze, steps, split] over `[H, W, C]` images.

    Written in the data-to-latent direction (`inverse`), as in Glow
    (Kingma & Dhariwal 2018, figure 2b) and RealNVP (Dinh et al. 2017, 3.6):
    each level transforms `h`, and at a split the second half `h_e` of the
    channels leaves the flow through a learned conditional Gaussian prior
    `N(mean(h_k), exp(log_scale(h_k)))` of the kept half `h_k` (a
    zero-initialized 3x3 conv, Glow's `split2d`), written as the bijection

        z_e = (h_e - mean(h_k)) * exp(-log_scale(h_k)),  ildj -= sum(log_scale)

    so that the base distribution stays a standard normal. After the last
    level the remaining `h` exits through a learned unconditional prior (Glow's
    `learntop`; zero-initialized, so it starts standard normal). All exited
    parts are flattened, concatenated and reshaped to `[H, W, C]`, a fixed
    permutation with log-det 0. `forward` runs everything in reverse (sampling).

    **Conditional** (`context_shape=(C,)` or `(H', W', C')`): the parts that
    consume a context are bound to it, the split priors see it beside the
    kept half (`mean, log_scale = conv_zeros(concat(h_k, c))`, the context
    broadcast over, or resized to, the level's H x W) and the top prior adds
    a zero-initialized linear map of it, `[mean | log_scale] += W c + b`
    broadcast over H and W for a vector (Glow's `ycond`, openai/glow
    `model.py::prior`; a zero-initialized 3x3 conv of the resized context for
    an image). The context is broadcast against the batch of the input and
    flattened with it before it reaches the parts.

    Every part is checked at construction: the channel count each step expects
    must equal what the previous part produces.
    """

    def __init__(
        self,
        event_shape: Sequence[int],
        levels: Sequence[Level],
        *,
        learn_top: bool = True,
        context_shape: Sequence[int] | None = None,
        dtype: DTypeLike = tf.float32,
        validate_args: bool = False,
        name: str | None = None,
    ):
        """Creates the bijector.

        Args:
          event_shape: `[H, W, C]`, fully known.
          levels: a sequence of `Level`s (at least one).
          learn_top: learn the mean and scale of the last level's prior.
          context_shape: None, `(C,)` or `(H', W', C')`: condition the split
            and top priors on a context, and bind the parts that take one.
          dtype: weight dtype.
          validate_args: passed to TFP.
          name: name.

        Raises:
          ValueError: for a bad `event_shape`, no levels, a squeeze of odd
            height or width, a step whose channel count does not match, or
            conditional parts without `context_shape`.
        """
        parameters = dict(locals())
        owner = "MultiScale"
        shape = tf.TensorShape(
            checks.check_image_shape(event_shape, "event_shape", owner)
        )
        if isinstance(levels, Level) or not isinstance(levels, (list, tuple)):
            raise ValueError(
                f"{owner}: argument `levels` must be a list of "
                f"tfp_flows.bijectors.Level; got {type(levels).__name__}."
            )
        if not levels:
            raise ValueError(
                f"{owner}: argument `levels` must hold at least one Level; got []."
            )
        for i, level in enumerate(levels):
            if not isinstance(level, Level):
                raise ValueError(
                    f"{owner}: argument `levels[{i}]` must be a "
                    f"tfp_flows.bijectors.Level; got {type(level)!r}."
                )
            for field in ("pre_steps", "steps"):
                parts = getattr(level, field)
                if isinstance(parts, tfb.Bijector) or not isinstance(
                    parts, (list, tuple)
                ):
                    raise ValueError(
                        f"{owner}: argument `levels[{i}].{field}` must be a list of "
                        f"bijectors; got {type(parts).__name__} (wrap a single "
                        "bijector in a list)."
                    )
        dtype = checks.check_dtype_arg(dtype, owner)
        with tf.name_scope(name or "multi_scale") as name:
            self._event_shape = shape.as_list()
            self._levels = list(levels)
            self._dtype_weights = tf.as_dtype(dtype)
            self._learn_top = bool(learn_top)
            super().__init__(
                forward_min_event_ndims=3,
                validate_args=validate_args,
                parameters=parameters,
                dtype=None,
                name=name,
            )
        # tf.Module traversal does not look inside the Level dataclasses: keep
        # the parts in a list so `trainable_variables` finds their weights.
        self._parts = [b for lv in self._levels for b in (*lv.pre_steps, *lv.steps)]
        self._init_context(context_shape)
        if self._context_shape is None and any(
            consumes_context(b) for b in self._parts
        ):
            raise ValueError(
                f"{owner}: some parts of `levels` take a context, but argument "
                "`context_shape` is None; pass the context shape the parts take."
            )
        ctx_c = 0 if self._context_shape is None else self._context_shape[-1]
        base = self.name.rstrip("/")
        self._squeeze = Squeeze(name=base + "_squeeze")
        self._split_priors: list[ZeroInitConv2D | None] = []
        self._z_shapes: list[list[int]] = []
        cur = list(self._event_shape)
        for i, level in enumerate(self._levels):
            if not isinstance(level, Level):
                raise ValueError(
                    f"{owner}: argument `levels[{i}]` must be a "
                    f"tfp_flows.bijectors.Level; got {type(level)!r}."
                )
            self._check_parts(level.pre_steps, cur, f"levels[{i}].pre_steps")
            if level.squeeze:
                if cur[0] % 2 or cur[1] % 2:
                    raise ValueError(
                        f"{owner}: `levels[{i}]` squeezes an event of shape {cur}; "
                        "height and width must be even. Use fewer levels or pad."
                    )
                cur = [cur[0] // 2, cur[1] // 2, cur[2] * 4]
            self._check_parts(level.steps, cur, f"levels[{i}].steps")
            last = i == len(self._levels) - 1
            if level.split and not last:
                if cur[2] < 2:
                    raise ValueError(
                        f"{owner}: `levels[{i}]` splits an event of shape {cur}; need "
                        ">= 2 channels."
                    )
                kept = cur[2] // 2
                exit_c = cur[2] - kept
                prior = ZeroInitConv2D(
                    2 * exit_c,
                    3,
                    dtype=self._dtype_weights.name,
                    name=f"{base}_split_prior_{i}",
                )
                prior.build((None, cur[0], cur[1], kept + ctx_c))
                self._split_priors.append(self._track_keras_layer(prior))
                self._z_shapes.append([cur[0], cur[1], exit_c])
                cur = [cur[0], cur[1], kept]
            else:
                self._split_priors.append(None)
        self._z_shapes.append(list(cur))
        self._top_shape = list(cur)
        if self._learn_top:
            top = WeightStore(name=f"{base}_top_prior", dtype=self._dtype_weights)
            self._top_mean = top.add("mean", cur, "zeros")
            self._top_log_scale = top.add("log_scale", cur, "zeros")
            self._top = self._track_keras_layer(top)
        self._top_context: ZeroInitDense | ZeroInitConv2D | None = None
        if self._context_shape is not None:
            if len(self._context_shape) == 1:  # Glow's `ycond`: linear_zeros(y)
                cond: ZeroInitDense | ZeroInitConv2D = ZeroInitDense(
                    2 * cur[2], dtype=self._dtype_weights.name, name=f"{base}_top_ycond"
                )
                cond.build((None, ctx_c))
            else:
                cond = ZeroInitConv2D(
                    2 * cur[2],
                    3,
                    dtype=self._dtype_weights.name,
                    name=f"{base}_top_cond",
                )
                cond.build((None, cur[0], cur[1], ctx_c))
            self._top_context = self._track_keras_layer(cond)
        self._z_sizes = [int(np.prod(s)) for s in self._z_shapes]
        assert sum(self._z_sizes) == int(np.prod(self._event_shape))

    @staticmethod
    def _check_parts(parts, cur, where):
        for j, b in enumerate(parts):
            if not isinstance(b, tfb.Bijector):
                raise ValueError(
                    f"MultiScale: argument `{where}[{j}]` must be a tfb.Bijector; "
                    f"got {type(b)!r}."
                )
            want = getattr(b, "num_channels", None)
            if want is not None and want != cur[2]:
                raise ValueError(
                    f"MultiScale: argument `{where}[{j}]` ({b.name}) expects "
                    f"[H, W, {want}] inputs, but receives event shape {cur} from the "
                    "part before it."
                )

    @property
    def levels(self) -> tuple[Level, ...]:
        """The levels, in the data-to-latent order."""
        return tuple(self._levels)

    @property
    def event_shape(self) -> list[int]:
        """`[H, W, C]`."""
        return list(self._event_shape)

    @property
    def latent_shapes(self) -> list[list[int]]:
        """Shapes of the parts that exit to the base, in order."""
        return [list(s) for s in self._z_shapes]

    # -- the two passes ----------------------------------------------------
    def _prior(self, i, kept, ctx=None):
        inp = kept
        if ctx is not None:
            feats = context_features(ctx, kept, len(self._context_shape or ()))
            inp = tf.concat([kept, feats], axis=-1)
        h = tf.cast(self._split_priors[i](inp), kept.dtype)
        return h[..., 0::2], h[..., 1::2]

    def _top_params(self, h, ctx=None):
        """`(mean, log_scale)` of the top prior, `[1 or N, h, w, c]` or `[h, w, c]`."""
        dtype = h.dtype
        if self._learn_top:
            mean = tf.cast(self._top_mean, dtype)
            log_scale = tf.cast(self._top_log_scale, dtype)
        else:
            mean = log_scale = tf.zeros(h.shape[1:], dtype)
        if ctx is not None and self._top_context is not None:
            c = h.shape[-1]
            if len(self._context_shape or ()) == 1:
                emb = tf.cast(self._top_context(tf.cast(ctx, dtype)), dtype)
                emb = emb[:, None, None, :]
            else:
                feats = context_features(ctx, h, 3)
                emb = tf.cast(self._top_context(feats), dtype)
            mean = mean + emb[..., :c]
            log_scale = log_scale + emb[..., c:]
        return mean, log_scale

    def _flat_context(self, x):
        """`(x, ctx)` broadcast to one batch, ctx flattened to `[B, *ctx_shape]`."""
        ctx = self._require_context()
        if ctx is None:
            return x, None
        cr = len(self._context_shape or ())
        if x.shape.rank == 4 and ctx.shape.rank == cr + 1:
            if x.shape[0] is not None and x.shape[0] == ctx.shape[0]:
                return x, ctx
        x_batch = tf.shape(x)[: tf.rank(x) - 3]
        c_batch = tf.shape(ctx)[: tf.rank(ctx) - cr]
        batch = tf.broadcast_dynamic_shape(x_batch, c_batch)
        x = tf.broadcast_to(x, tf.concat([batch, self._event_shape], 0))
        ctx = tf.broadcast_to(
            ctx, tf.concat([batch, list(self._context_shape or ())], 0)
        )
        return x, tf.reshape(ctx, [-1] + list(self._context_shape or ()))

    def _bound_levels(self, ctx):
        if ctx is None:
            return self._levels
        return [
            Level(
                pre_steps=[bind_context(b, ctx) for b in lv.pre_steps],
                squeeze=lv.squeeze,
                steps=[bind_context(b, ctx) for b in lv.steps],
                split=lv.split,
            )
            for lv in self._levels
        ]

    def _encode(self, x, apply):
        """Data -> latent. `apply(b, h) -> (b^{-1}(h), ildj)`."""
        checks.check_float_dtype(x, "y", "MultiScale", self._dtype_weights)
        checks.check_event(x, "y", "MultiScale", self._event_shape)
        x, ctx = self._flat_context(x)
        rank = x.shape.rank
        batch = tf.shape(x)[: rank - 3]
        h = tf.reshape(x, [-1] + self._event_shape)
        ldj = tf.zeros_like(h[:, 0, 0, 0])
        zs = []
        for i, level in enumerate(self._bound_levels(ctx)):
            for b in level.pre_steps:
                h, part_ldj = apply(b, h)
                ldj += part_ldj
            if level.squeeze:
                h = self._squeeze.forward(h)  # space-to-depth on the way in
            for b in level.steps:
                h, part_ldj = apply(b, h)
                ldj += part_ldj
            if self._split_priors[i] is not None:
                kept_c = h.shape[-1] // 2
                kept, out = h[..., :kept_c], h[..., kept_c:]
                mean, log_scale = self._prior(i, kept, ctx)
                zs.append((out - mean) * tf.exp(-log_scale))
                ldj -= tf.reduce_sum(log_scale, axis=[1, 2, 3])
                h = kept
        if self._learn_top or ctx is not None:
            mean, log_scale = self._top_params(h, ctx)
            h = (h - mean) * tf.exp(-log_scale)
            ldj -= tf.reduce_sum(log_scale, axis=[-3, -2, -1])
        zs.append(h)
        z = tf.concat([tf.reshape(t, [tf.shape(t)[0], -1]) for t in zs], axis=-1)
        z = tf.reshape(z, tf.concat([batch, self._event_shape], 0))
        return z, tf.reshape(ldj, batch)

    def _decode(self, z, apply):
        """Latent -> data. `apply(b, h) -> (b(h), fldj)`."""
        checks.check_float_dtype(z, "x", "MultiScale", self._dtype_weights)
        checks.check_event(z, "x", "MultiScale", self._event_shape)
        z, ctx = self._flat_context(z)
        levels = self._bound_levels(ctx)
        rank = z.shape.rank
        batch = tf.shape(z)[: rank - 3]
        flat = tf.reshape(z, [-1, sum(self._z_sizes)])
        parts = tf.split(flat, self._z_sizes, axis=-1)
        parts = [
            tf.reshape(p, [-1] + s) for p, s in zip(parts, self._z_shapes, strict=True)
        ]
        h = parts.pop()
        ldj = tf.zeros_like(h[:, 0, 0, 0])
        if self._learn_top or ctx is not None:
            mean, log_scale = self._top_params(h, ctx)
            h = h * tf.exp(log_scale) + mean
            ldj += tf.reduce_sum(log_scale, axis=[-3, -2, -1])
        for i in reversed(range(len(levels))):
            level = levels[i]
            if self._split_priors[i] is not None:
                mean, log_scale = self._prior(i, h, ctx)
                out = parts.pop() * tf.exp(log_scale) + mean
                ldj += tf.reduce_sum(log_scale, axis=[1, 2, 3])
                h = tf.concat([h, out], axis=-1)
            for b in reversed(level.steps):
                h, part_ldj = apply(b, h)
                ldj += part_ldj
            if level.squeeze:
                h = self._squeeze.inverse(h)
            for b in reversed(level.pre_steps):
                h, part_ldj = apply(b, h)
                ldj += part_ldj
        x = tf.reshape(h, tf.concat([batch, self._event_shape], 0))
        return x, tf.reshape(ldj, batch)

    @staticmethod
    def _apply_inverse(b, h):
        return b.inverse(h), b.inverse_log_det_jacobian(h, event_ndims=3)

    @staticmethod
    def _apply_forward(b, h):
        return b.forward(h), b.forward_log_det_jacobian(h, event_ndims=3)

    def _forward_and_log_det(self, x):
        return self._decode(x, self._apply_forward)

    def _inverse_and_log_det(self, y):
        return self._encode(y, self._apply_inverse)

    def _data_init_walk(self, y, walk):
        """Runs the data-to-latent pass with `walk(b, h)` on every part."""
        z, _ = self._encode(y, lambda b, h: (walk(b, h), 0.0))
        return z
