"""A TFP distribution over integer sequences built on a Keras 3 `WaveNet`.

`log_prob` is one parallel (teacher-forced) pass of the network over the
whole sequence:

    log p(x | h, y) = sum_t log p(x_t | x_{<t}, h, y)

with, per step, a softmax over the levels (categorical output) or a mixture
of `K` discretized logistics (see `WaveNetDistribution`). `sample(n)`
generates step by step in an XLA-compiled loop that keeps one queue of
activations per layer (Paine et al. 2016); `cached=False` re-runs the whole
causal stack every step and, for the same seed, gives the same samples (see
`tfp_flows.distributions.wavenet_sampling`).

A network with a global condition (`context_size=G`) makes a conditional
family `p(x | h)` with the package's conditional-flow API:
`log_prob(x, context=h)`, `sample(n, context=h)`, `condition(h)`. A network
with a local condition (`local_channels=Cl`, `local_upsample_factor=r`)
takes `local_context=y [..., T / r, Cl]` the same way.

`wavenet(...)` is the registered builder: a distribution made by it saves as
config (`FlowModel.get_config`, `.keras` files) and is rebuilt with the same
weights' shapes; the same `seed` gives the same initial weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from tensorflow_probability import distributions as tfd

from tfp_flows.distributions.wavenet_sampling import generation_loop
from tfp_flows.internal import checks
from tfp_flows.internal.checks import shape_str
from tfp_flows.internal.conditioning import check_context
from tfp_flows.internal.conditioning import check_no_context
from tfp_flows.internal.keras import tf_variables_of
from tfp_flows.internal.specs import register_builder
from tfp_flows.internal.types import Seed
from tfp_flows.internal.types import ShapeLike
from tfp_flows.internal.types import TensorLike
from tfp_flows.nn.wavenet import WaveNet

__all__ = ["WaveNetDistribution", "discretized_logistic_mixture_log_prob", "wavenet"]

_OWNER = "WaveNetDistribution"


def discretized_logistic_mixture_log_prob(
    levels: TensorLike,
    logits: TensorLike,
    means: TensorLike,
    log_scales: TensorLike,
    num_levels: int,
) -> tf.Tensor:
    """`log P(x)` of levels under a mixture of discretized logistics.

    Level `x` in `0..L-1` has the centre `c = 2 x / (L - 1) - 1` and the bin
    `[c - delta, c + delta]`, `delta = 1 / (L - 1)`; with `a = (c + delta -
    mu) / s`, `b = (c - delta - mu) / s` (Salimans et al. 2017, eq. 2):

        P(x | mu, s) = sigmoid(a)                  x = 0       (left tail)
                     = 1 - sigmoid(b)              x = L - 1   (right tail)
                     = sigmoid(a) - sigmoid(b)     otherwise

    and `log P(x) = logsumexp_k(log softmax(logits)_k + log P(x | mu_k, s_k))`.
    The masses sum to 1 over the levels (the bins tile the real line).
    Numerically, `log sigmoid(a) = -softplus(-a)`, `log(1 - sigmoid(b)) =
    -softplus(b)`, and the middle bins use the exact identity

        sigmoid(a) - sigmoid(b) = sigmoid(a) (1 - sigmoid(b)) (1 - exp(b - a))
        log(...) = -softplus(-a) - softplus(b) + log(-expm1(b - a))

    finite for any `a > b` (no cancellation when both sigmoids are near 0
    or 1, where PixelCNN++ falls back to the density at the centre).

    Args:
      levels: `[...]` integer levels (any real dtype).
      logits: `[..., K]` mixture logits.
      means: `[..., K]` means on the `[-1, 1]` scale.
      log_scales: `[..., K]` log-scales.
      num_levels: `L`.

    Returns:
      `[...]` log-probabilities.

    #### Examples

    >>> lp = discretized_logistic_mixture_log_prob(
    ...     tf.range(4), tf.zeros([4, 1]), tf.zeros([4, 1]), tf.zeros([4, 1]), 4)
    >>> round(float(tf.reduce_sum(tf.exp(lp))), 6)
    1.0
    """
    logits = tf.convert_to_tensor(logits)
    dtype = logits.dtype
    means = tf.convert_to_tensor(means, dtype)
    log_scales = tf.convert_to_tensor(log_scales, dtype)
    x = tf.cast(levels, dtype)[..., None]
    top = float(num_levels - 1)
    centre = x * (2.0 / top) - 1.0
    inv_scale = tf.exp(-log_scales)
    a = (centre + 1.0 / top - means) * inv_scale
    b = (centre - 1.0 / top - means) * inv_scale
    log_left = -tf.nn.softplus(-a)
    log_right = -tf.nn.softplus(b)
    log_mid = log_left + log_right + tf.math.log(-tf.math.expm1(b - a))
    lp = tf.where(x <= 0.0, log_left, tf.where(x >= top, log_right, log_mid))
    return tf.reduce_logsumexp(tf.nn.log_softmax(logits, -1) + lp, -1)


class WaveNetDistribution(tfd.Distribution):
    """Distribution over integer sequences `[T]` with a WaveNet network.

    Event shape `[length]`, dtype int32; the values are levels
    `0..num_levels-1` (8-bit mu-law audio: `tfp_flows.data.mu_law_encode`).
    Per step, given `x_{<t}` and the conditions, `x_t` is categorical over
    the levels (softmax of the network's logits, the WaveNet paper's
    Section 2.2), or, for `likelihood='logistic_mixture'`, a mixture of `K`
    logistics discretized to the levels' bins on `[-1, 1]`
    (`discretized_logistic_mixture_log_prob`; PixelCNN++, Parallel
    WaveNet). The network's Keras 3 weights are the distribution's
    `trainable_variables` (the same `tf.Variable`s).

    With `length=None` the event shape is `[None]`: `log_prob` takes
    sequences of any length and `sample` needs `length=`.

    Conditions: a global condition `context` `[..., G]` (networks with
    `context_size=G`) and a local one `local_context` `[..., T / r, Cl]`
    (networks with `local_channels=Cl`, `local_upsample_factor=r`). Unbound,
    they are passed to `log_prob`/`sample`; `condition(...)` (or the
    constructor) binds them and gives an ordinary distribution with batch
    shape the conditions' batch dims.

    Args:
      network: a `tfp_flows.nn.WaveNet`.
      length: `T`, the sequence length of the event (None: any).
      context: a global condition to bind.
      local_context: a local condition to bind.
      validate_args: also check that values are integers inside
        `tf.function` (eager inputs are always checked; the range is
        asserted in `tf.function` too; under XLA, where assertions are
        dropped, an out-of-range level gives a NaN log-probability).
      name: name of the distribution.

    Raises:
      ValueError: `network` is not a `WaveNet`; a bad `length`; a condition
        the network does not have, or of the wrong shape.

    #### Examples

    >>> from tfp_flows.nn import WaveNet
    >>> net = WaveNet(num_levels=8, residual_channels=4, skip_channels=4,
    ...               dilations=[1, 2])
    >>> dist = WaveNetDistribution(net, length=6)
    >>> x = dist.sample(2, seed=1)
    >>> x.shape, x.dtype.name, bool(tf.reduce_all((x >= 0) & (x < 8)))
    (TensorShape([2, 6]), 'int32', True)
    >>> dist.log_prob(x).shape
    TensorShape([2])

    #### References

    [1] Aaron van den Oord et al. WaveNet: A Generative Model for Raw Audio.
        arXiv 2016. https://arxiv.org/abs/1609.03499
    [2] Tom Le Paine et al. Fast Wavenet Generation Algorithm. arXiv 2016.
        https://arxiv.org/abs/1611.09482
    [3] Tim Salimans et al. PixelCNN++. ICLR 2017.
        https://arxiv.org/abs/1701.05517
    """

    def __init__(
        self,
        network: WaveNet,
        *,
        length: int | None = None,
        context: TensorLike | None = None,
        local_context: TensorLike | None = None,
        validate_args: bool = False,
        name: str | None = None,
    ):
        parameters = dict(locals())
        if not isinstance(network, WaveNet):
            raise ValueError(
                f"{_OWNER}: argument `network` must be a tfp_flows.nn.WaveNet; got "
                f"{type(network).__name__}."
            )
        if length is not None:
            length = checks.check_positive_int(length, "length", _OWNER)
        self._network = network
        self._length = length
        bound_context = None
        bound_local = None
        if context is not None:
            bound_context = self._check_context(context, _OWNER)
        if local_context is not None:
            bound_local = self._cast(local_context)
            self._check_local(bound_local, length, _OWNER)
            frames = bound_local.shape[-2]
            if length is None and frames is not None:
                self._length = int(frames) * int(network.local_upsample_factor or 1)
        with tf.name_scope(name or "WaveNetDistribution") as name:
            self._context: tf.Tensor | None = bound_context
            self._local_context: tf.Tensor | None = bound_local
            self._network_variables = tuple(tf_variables_of(network))
            self._compiled = _CompiledLoops()
            super().__init__(
                dtype=tf.int32,
                reparameterization_type=tfd.NOT_REPARAMETERIZED,
                validate_args=validate_args,
                allow_nan_stats=True,
                parameters=parameters,
                name=name,
            )

    @classmethod
    def _parameter_properties(cls, dtype=None, num_classes=None):
        return {}

    # -- properties -----------------------------------------------------

    @property
    def network(self) -> WaveNet:
        """The Keras 3 `WaveNet` layer (the trainable object)."""
        return self._network

    @property
    def length(self) -> int | None:
        """`T` of the event (None: any length)."""
        return self._length

    @property
    def num_levels(self) -> int:
        """Levels: values are `0..num_levels-1`."""
        return self._network.num_levels

    @property
    def context_size(self) -> int | None:
        """`G` of a globally conditioned network; None otherwise."""
        return self._network.context_size

    @property
    def context_shape(self) -> tuple[int, ...] | None:
        """`(G,)` for a global condition not yet bound, else None.

        (The conditioning protocol, `tfp_flows.internal.conditioning`; the
        local condition is passed as `local_context=` and is not part of it.)
        """
        size = self._network.context_size
        return None if size is None or self._context is not None else (size,)

    @property
    def context_dtype(self) -> tf.DType:
        """The float dtype a context is cast to (the network's compute dtype)."""
        return tf.as_dtype(self._network.compute_dtype)

    @property
    def context(self) -> tf.Tensor | None:
        """The bound global condition `[..., G]`, or None."""
        return self._context

    @property
    def local_context(self) -> tf.Tensor | None:
        """The bound local condition `[..., T / r, Cl]`, or None."""
        return self._local_context

    # -- conditions -----------------------------------------------------

    def _cast(self, value):
        return tf.cast(tf.convert_to_tensor(value), self._network.compute_dtype)

    def _check_context(self, context, owner):
        """The global condition `[..., G]`, cast to the compute dtype (or None).

        The package's one context check (`internal/conditioning`): any real
        dtype (an integer one-hot label too) is cast; None for a network
        without a global condition.
        """
        net = self._network
        if net.context_size is None:
            check_no_context(
                context,
                owner,
                noun="WaveNet",
                detail="has no global condition (context_size=None)",
                hint="Build it with `context_size=G`.",
            )
            return None
        return check_context(
            context,
            [net.context_size],
            net.compute_dtype,
            owner,
            cast=True,
            noun="WaveNet",
        )

    def _check_local(self, local, length, owner):
        net = self._network
        net.check_conditions(_dummy_context(net), local, length, owner=owner)

    def condition(
        self,
        context: TensorLike | None = None,
        *,
        local_context: TensorLike | None = None,
    ) -> WaveNetDistribution:
        """`p(. | context, local_context)` with the conditions bound.

        Args:
          context: the global condition `[..., G]` (networks with
            `context_size`).
          local_context: the local condition `[..., T / r, Cl]` (networks
            with `local_channels`).

        Returns:
          A `WaveNetDistribution` on the same network (same weights and
          compiled loops), batch shape the conditions' batch dims.

        Raises:
          ValueError: a condition already bound, missing, unexpected or of
            the wrong shape.
        """
        owner = f"{_OWNER}.condition"
        if (context is not None and self._context is not None) or (
            local_context is not None and self._local_context is not None
        ):
            raise ValueError(
                f"{owner}: this distribution already has that condition bound; "
                "call `condition` on the unconditioned family."
            )
        if context is None and local_context is None:
            net = self._network
            if net.context_size is None and net.local_channels is None:
                raise ValueError(
                    f"{owner}: this WaveNet is unconditional (context_size=None, "
                    "local_channels=None); build it with `context_size=G` or "
                    "`local_channels=Cl, local_upsample_factor=r`."
                )
            self._check_context(None, owner)  # raises if a global one is needed
            net.check_conditions(_dummy_context(net), None, owner=owner)
        dist = WaveNetDistribution(
            self._network,
            length=self._length,
            context=self._context if context is None else context,
            local_context=(
                self._local_context if local_context is None else local_context
            ),
            validate_args=self.validate_args,
            name=self.name,
        )
        dist._compiled = self._compiled  # share the XLA loops
        return dist

    def _resolve(self, context, local_context, length, owner):
        """The conditions to use (bound or given), checked; `(h, y)`."""
        if context is not None and self._context is not None:
            raise ValueError(
                f"{owner}: argument `context` was given, but this distribution "
                "already has a bound context; pass one or the other."
            )
        if local_context is not None and self._local_context is not None:
            raise ValueError(
                f"{owner}: argument `local_context` was given, but this "
                "distribution already has a bound local context; pass one or "
                "the other."
            )
        h = self._check_context(self._context if context is None else context, owner)
        y = self._local_context if local_context is None else self._cast(local_context)
        net = self._network
        net.check_conditions(_dummy_context(net), y, length, owner=owner)
        return h, y

    # -- shapes ---------------------------------------------------------

    def _event_shape(self):
        return tf.TensorShape([self._length])

    def _event_shape_tensor(self):
        if self._length is None:
            raise ValueError(f"{_OWNER}: the event length is not fixed (length=None).")
        return tf.constant([self._length], tf.int32)

    def _condition_batch(self):
        shapes = []
        if self._context is not None:
            shapes.append(self._context.shape[:-1])
        if self._local_context is not None:
            shapes.append(self._local_context.shape[:-2])
        return shapes

    def _batch_shape(self):
        out = tf.TensorShape([])
        for s in self._condition_batch():
            out = tf.broadcast_static_shape(out, s)
        return out

    def _batch_shape_tensor(self):
        out = tf.constant([], tf.int32)
        if self._context is not None:
            out = tf.broadcast_dynamic_shape(out, tf.shape(self._context)[:-1])
        if self._local_context is not None:
            out = tf.broadcast_dynamic_shape(out, tf.shape(self._local_context)[:-2])
        return out

    # -- checks ---------------------------------------------------------

    def _check_values(self, x, arg_name, check_length=True):
        """Wrong rank / length, non-integer or out-of-range levels raise."""
        shape = x.shape
        length = self._length if check_length else None
        if shape.rank is not None and (
            shape.rank == 0 or (length is not None and shape[-1] not in (None, length))
        ):
            want = "?" if length is None else str(length)
            raise ValueError(
                f"{_OWNER}: argument `{arg_name}` must have shape [..., {want}] "
                f"(sequences of length {want}; no channel dimension); got shape "
                f"{shape_str(shape)}."
            )
        return checks.check_integer_levels(
            x, arg_name, _OWNER, self.num_levels, validate_args=self.validate_args
        )

    # -- density --------------------------------------------------------

    def _call_log_prob(self, value, name, **kwargs):
        # TFP casts `value` to int32 before `_log_prob` sees it, which would
        # truncate 0.5 to 0 silently: check the values before the cast.
        if not isinstance(value, tf.Variable) and not tf.is_symbolic_tensor(value):
            self._check_values(tf.convert_to_tensor(value), "value")
        return super()._call_log_prob(value, name, **kwargs)

    def per_step_log_prob(
        self,
        value: TensorLike,
        context: TensorLike | None = None,
        local_context: TensorLike | None = None,
    ) -> tf.Tensor:
        """`log p(x_t | x_<t, h, y)` for every step, `[..., T]`.

        The conditions' batch dims broadcast with those of `value`.
        """
        value = self._check_values(tf.convert_to_tensor(value), "value")
        net = self._network
        length = value.shape[-1] if value.shape.rank else None
        h, y = self._resolve(context, local_context, length, f"{_OWNER}.log_prob")
        batch_shape = tf.shape(value)[:-1]
        if h is not None:
            batch_shape = tf.broadcast_dynamic_shape(batch_shape, tf.shape(h)[:-1])
        if y is not None:
            batch_shape = tf.broadcast_dynamic_shape(batch_shape, tf.shape(y)[:-2])
        t = tf.shape(value)[-1:]
        value = tf.broadcast_to(value, tf.concat([batch_shape, t], 0))
        flat = tf.reshape(value, tf.concat([[-1], t], 0))
        if h is not None:
            h = tf.broadcast_to(h, tf.concat([batch_shape, tf.shape(h)[-1:]], 0))
            h = tf.reshape(h, [-1, net.context_size])
        if y is not None:
            y = tf.broadcast_to(y, tf.concat([batch_shape, tf.shape(y)[-2:]], 0))
            y = tf.reshape(y, tf.concat([[-1], tf.shape(y)[-2:]], 0))
        params = net(flat, context=h, local_context=y)
        levels = tf.cast(flat, tf.int32)
        top = self.num_levels - 1
        valid = tf.logical_and(levels >= 0, levels <= top)
        safe = tf.clip_by_value(levels, 0, top)
        if net.likelihood == "categorical":
            lp = -tf.nn.sparse_softmax_cross_entropy_with_logits(safe, params)
        else:
            lp = discretized_logistic_mixture_log_prob(
                safe, *net.mixture_parameters(params), self.num_levels
            )
        # Out-of-range levels were rejected above (eager: ValueError; graph: an
        # assertion); under XLA the assertion is dropped: NaN, never a number.
        lp = tf.where(valid, lp, tf.constant(np.nan, lp.dtype))
        return tf.reshape(lp, tf.concat([batch_shape, t], 0))

    def _log_prob(self, value, context=None, local_context=None):
        return tf.reduce_sum(
            self.per_step_log_prob(value, context, local_context), axis=-1
        )

    # -- sampling -------------------------------------------------------

    def _loop_fn(self, cached, with_outputs=False):
        key = (bool(cached), bool(with_outputs))
        if key not in self._compiled.functions:
            net = self._network

            def loop(known, num_known, seed, context, local):
                return generation_loop(
                    net,
                    known,
                    num_known,
                    seed,
                    context=context,
                    local=local,
                    cached=key[0],
                    with_outputs=key[1],
                )

            self._compiled.functions[key] = tf.function(
                loop, jit_compile=True, autograph=False
            )
        return self._compiled.functions[key]

    def _run(self, known, num_known, seed, cached, context, local, outputs=False):
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            # An int seed gives the same samples every call.
            seed = tf.constant([int(seed), 0], tf.int32)
        else:
            seed = tfp.random.sanitize_seed(seed, salt=_OWNER)
        local = self._network.upsample_local(local)
        levels, out = self._loop_fn(cached, outputs)(
            known,
            tf.constant(num_known, tf.int32),
            tf.cast(seed, tf.int32),
            context,
            local,
        )
        return tf.cast(tf.round(levels), tf.int32), out

    def _sample_length(self, length, local, owner):
        if length is not None:
            # An explicit length overrides the event's (e.g. a longer clip).
            return checks.check_positive_int(length, "length", owner)
        if self._length is not None:
            return self._length
        if local is not None and local.shape.rank and local.shape[-2] is not None:
            return int(local.shape[-2]) * int(self._network.local_upsample_factor or 1)
        raise ValueError(
            f"{owner}: argument `length` is required: this distribution has no "
            "fixed event length (length=None); got None."
        )

    def sample(
        self,
        sample_shape: ShapeLike = (),
        seed: Seed = None,
        name: str = "sample",
        **kwargs: Any,
    ) -> tf.Tensor:
        """Samples `[*sample_shape, *batch_shape, T]`.

        Keyword arguments: `length=T` (default: the event length), `context`
        and `local_context` (unbound conditions: `n` samples per condition
        row), `cached=False` to re-run the whole stack every step (slow; for
        checks and benchmarks; same samples for the same seed).
        """
        sample_shape = checks.check_sample_shape(sample_shape, f"{_OWNER}.sample")
        context = kwargs.pop("context", None)
        local_context = kwargs.pop("local_context", None)
        length = kwargs.pop("length", None)
        if length is not None:
            length = checks.check_positive_int(length, "length", f"{_OWNER}.sample")
            if length != self._length:
                # Another event length: the same model over longer sequences.
                return self._with_length(length).sample(
                    sample_shape,
                    seed=seed,
                    name=name,
                    context=context,
                    local_context=local_context,
                    **kwargs,
                )
        if context is not None or local_context is not None:
            return self.condition(context, local_context=local_context).sample(
                sample_shape, seed=seed, name=name, **kwargs
            )
        return super().sample(sample_shape, seed=seed, name=name, **kwargs)

    def _with_length(self, length):
        """This distribution with event length `length` (same network, loops)."""
        dist = WaveNetDistribution(
            self._network,
            length=length,
            context=self._context,
            local_context=self._local_context,
            validate_args=self.validate_args,
            name=self.name,
        )
        dist._compiled = self._compiled
        return dist

    def _sample_n(self, n, seed=None, cached=True):
        owner = f"{_OWNER}.sample"
        h, y = self._resolve(None, None, None, owner)
        length = self._sample_length(None, y, owner)
        if y is not None:
            self._network.check_conditions(h, y, length, owner=owner)
        n = tf.convert_to_tensor(n, tf.int32)
        batch_shape = self._batch_shape_tensor()
        rows = tf.reduce_prod(batch_shape)
        net = self._network
        if h is not None:
            h = tf.broadcast_to(h, tf.concat([batch_shape, tf.shape(h)[-1:]], 0))
            h = tf.tile(tf.reshape(h, [-1, net.context_size]), [n, 1])
        if y is not None:
            y = tf.broadcast_to(y, tf.concat([batch_shape, tf.shape(y)[-2:]], 0))
            y = tf.tile(
                tf.reshape(y, tf.concat([[-1], tf.shape(y)[-2:]], 0)), [n, 1, 1]
            )
        n_static = tf.get_static_value(n)
        rows_static = tf.get_static_value(rows)
        if n_static is not None and rows_static is not None:
            known = tf.zeros([int(n_static) * int(rows_static), length], tf.float32)
        else:
            # A symbolic count (a served signature's input): XLA compiles the
            # loop for each count it is called with.
            known = tf.zeros(tf.stack([n * rows, length]), tf.float32)
            known = tf.ensure_shape(known, [None, length])
        levels, _ = self._run(known, 0, seed, cached, h, y)
        return tf.reshape(levels, tf.concat([[n], batch_shape, [length]], 0))

    def _rows_conditions(self, rows, context, local_context, length, owner):
        h, y = self._resolve(context, local_context, length, owner)
        net = self._network
        if h is not None:
            h = tf.broadcast_to(h, [rows, net.context_size])
        if y is not None:
            y = tf.broadcast_to(y, tf.concat([[rows], tf.shape(y)[-2:]], 0))
        return h, y

    def complete(
        self,
        prompt: TensorLike,
        length: int | None = None,
        *,
        seed: Seed = None,
        cached: bool = True,
        context: TensorLike | None = None,
        local_context: TensorLike | None = None,
    ) -> tf.Tensor:
        """Continues `prompt [N, P]` to `length` steps (the prompt is kept).

        Args:
          prompt: `[N, P]` integer levels.
          length: total length `T >= P` (default: the event length).
          seed: stateless seed (int or `[2]` tensor) or None.
          cached: use the cached generator (default) or re-run the stack.
          context: global condition `[G]` or `[N, G]` (unless bound).
          local_context: local condition `[T / r, Cl]` or `[N, T / r, Cl]`.

        Returns:
          int32 `[N, T]`.

        Raises:
          ValueError: bad shape, values, length or conditions.
        """
        owner = f"{_OWNER}.complete"
        prompt = tf.convert_to_tensor(prompt)
        if prompt.shape.rank != 2 or prompt.shape[0] is None:
            raise ValueError(
                f"{owner}: argument `prompt` must have shape [N, P] (N sequences "
                f"of P given steps); got shape {shape_str(prompt.shape)}."
            )
        n, p = prompt.shape
        if length is None and self._length is None:
            length = p
        else:
            length = self._sample_length(length, None, owner)
        if length < p:
            raise ValueError(
                f"{owner}: argument `length` must be >= the prompt's {p} steps; "
                f"got {length}."
            )
        prompt = self._check_values(prompt, "prompt", check_length=False)
        h, y = self._rows_conditions(n, context, local_context, length, owner)
        known = tf.pad(tf.cast(prompt, tf.float32), [[0, 0], [0, length - p]])
        levels, _ = self._run(known, p, seed, cached, h, y)
        return levels

    def teacher_forced_outputs(
        self,
        value: TensorLike,
        *,
        cached: bool = True,
        context: TensorLike | None = None,
        local_context: TensorLike | None = None,
    ) -> tf.Tensor:
        """The outputs the step-by-step loop computes with every step given.

        Equal (up to float rounding) to `network(value, ...)`; checks the
        generators against the parallel pass. `value` is `[N, T]`.
        """
        owner = f"{_OWNER}.teacher_forced_outputs"
        value = self._check_values(tf.convert_to_tensor(value), "value")
        n, length = value.shape
        h, y = self._rows_conditions(n, context, local_context, length, owner)
        _, out = self._run(value, length, [0, 0], cached, h, y, outputs=True)
        return out


def _dummy_context(net):
    """A placeholder global condition, to check only the local one."""
    if net.context_size is None:
        return None
    return tf.zeros([1, net.context_size])


class _CompiledLoops:
    """Holds the XLA-compiled generation loops (untracked by tf.Module)."""

    def __init__(self):
        self.functions = {}


@register_builder("wavenet")
def wavenet(
    length: int | None = 64,
    *,
    num_levels: int = 256,
    likelihood: str = "categorical",
    num_mixtures: int = 5,
    residual_channels: int = 32,
    dilation_channels: int | None = None,
    skip_channels: int = 64,
    kernel_size: int = 2,
    dilations: Sequence[int] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
    context_size: int | None = None,
    local_channels: int | None = None,
    local_upsample_factor: int | None = None,
    upsampling: str = "transposed",
    seed: int = 0,
    validate_args: bool = False,
    name: str | None = None,
) -> WaveNetDistribution:
    """A `WaveNetDistribution` on a new `WaveNet`, rebuildable from config.

    The network arguments are those of `tfp_flows.nn.WaveNet`; all are
    recorded as JSON, so a `FlowModel` of the result saves to `.keras` and
    loads back with `keras.saving.load_model(..., safe_mode=True)`.

    Args:
      length: `T`, the event length (None: any length; `sample` then needs
        `length=`).
      num_levels: levels (256 for 8-bit mu-law audio).
      likelihood: `'categorical'` or `'logistic_mixture'`.
      num_mixtures: logistic components (`'logistic_mixture'` only).
      residual_channels: residual channels `R`.
      dilation_channels: gated channels `D` (default `R`).
      skip_channels: skip and head channels.
      kernel_size: taps of each causal convolution.
      dilations: one dilation per residual block.
      context_size: `G` of a global condition (None: none).
      local_channels: `Cl` of a local condition (None: none).
      local_upsample_factor: `r`, signal steps per local frame.
      upsampling: `'transposed'` or `'repeat'`.
      seed: non-negative integer seed of every initial weight.
      validate_args: check values inside `tf.function` too.
      name: name of the distribution.

    Returns:
      A `WaveNetDistribution` with event shape `[length]`, dtype int32.

    Raises:
      ValueError: bad arguments (see `WaveNet`).

    #### Examples

    >>> d1 = wavenet(8, num_levels=4, residual_channels=2, skip_channels=2,
    ...              dilations=[1, 2], seed=3)
    >>> d2 = wavenet(8, num_levels=4, residual_channels=2, skip_channels=2,
    ...              dilations=[1, 2], seed=3)
    >>> all(bool(tf.reduce_all(a == b))
    ...     for a, b in zip(d1.trainable_variables, d2.trainable_variables))
    True
    >>> d1.event_shape, d1.dtype.name
    (TensorShape([8]), 'int32')
    """
    seed = checks.check_seed(seed, "wavenet")
    network = WaveNet(
        num_levels=num_levels,
        likelihood=likelihood,
        num_mixtures=num_mixtures,
        residual_channels=residual_channels,
        dilation_channels=dilation_channels,
        skip_channels=skip_channels,
        kernel_size=kernel_size,
        dilations=dilations,
        context_size=context_size,
        local_channels=local_channels,
        local_upsample_factor=local_upsample_factor,
        upsampling=upsampling,
        seed=seed,
    )
    return WaveNetDistribution(
        network, length=length, validate_args=validate_args, name=name
    )
