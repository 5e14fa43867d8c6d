"""A TFP distribution over integer images built on a Keras 3 `PixelRNN`.

`log_prob` is one parallel (teacher-forced) pass of the network:

    log p(x) = sum_{i, j, c} log softmax(logits(x_{<(i, j, c)}))[x_{i, j, c}]

`sample(n)` and `complete(images, num_rows)` fill pixels in raster order and,
inside a pixel, channel by channel, in an XLA-compiled loop that keeps the
recurrent states of finished rows (see `tfp_flows.distributions.pixel_rnn_sampling`).

A network built with `context_size=C` makes a conditional family `p(x | z)`
with the package's conditional-flow API (as `tfp_flows.flows.maf(...,
context_size=C)`): `dist.log_prob(x, context=z)`, `dist.sample(n, context=z)`
and `dist.condition(z)`, an ordinary `tfd.Distribution` with batch shape
`z.shape[:-1]` (e.g. a VAE decoder's output distribution).

The machinery is shared with the Gated PixelCNN: `AutoregressiveImageDistribution`
holds `log_prob`, the checks, the sampling/completion loops, `condition` and
`as_keras_model` for any network with the autoregressive-image interface
(`image_shape`, `num_levels`, `num_logits`, `context_size`, `check_images`,
`check_context`, `cast_context`, `call(images, context)` giving logits
`[B, H, W, C, n]`); `PixelRNNDistribution` and
`tfp_flows.distributions.GatedPixelCNNDistribution` pin the network type and
the cached sampler steps.

`pixel_rnn(image_shape, ...)` is the registered builder: a distribution made
by it can be saved as config (`FlowModel.get_config`, `.keras` files) and
rebuilt with the same weights' shapes; the same `seed` gives the same initial
weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from tensorflow_probability import distributions as tfd

from tfp_flows.distributions.pixel_rnn_sampling import autoregressive_loop
from tfp_flows.internal import checks
from tfp_flows.internal.checks import shape_str
from tfp_flows.internal.conditioning import check_context
from tfp_flows.internal.keras import keras
from tfp_flows.internal.keras import tf_variables_of
from tfp_flows.internal.specs import register_builder
from tfp_flows.internal.types import Seed
from tfp_flows.internal.types import ShapeLike
from tfp_flows.internal.types import TensorLike
from tfp_flows.nn.pixel_rnn import PixelRNN

__all__ = ["AutoregressiveImageDistribution", "PixelRNNDistribution", "pixel_rnn"]


class AutoregressiveImageDistribution(tfd.Distribution):
    """Distribution over `[H, W, C]` integer images, given an autoregressive network.

    The machinery that `PixelRNNDistribution` and `GatedPixelCNNDistribution`
    share: the network maps images (and a context) to logits
    `[B, H, W, C, n]` where the logits at `(i, j, c)` read only earlier
    pixels in raster order and earlier channels of pixel `(i, j)`; then

        log p(x | z) = sum_{i, j, c} log softmax(logits(x_{<(i, j, c)}, z))[x_{i, j, c}]

    is one parallel pass, and `sample` / `complete` fill pixels in raster
    order, channel by channel, in an XLA-compiled loop
    (`tfp_flows.distributions.pixel_rnn_sampling`). Event shape
    `image_shape`, dtype int32, levels `0..num_levels-1`; the network's
    Keras 3 weights are the distribution's `trainable_variables`.

    Conditional networks (`context_size=C`): without a bound context the
    distribution is the family `p(x | z)` (batch shape `[]`) and `log_prob`,
    `sample`, `complete` take `context=z`; `condition(z)` (or `context=z`
    here) binds a context `z [..., C]` and gives an ordinary distribution with
    batch shape `z.shape[:-1]`.

    Use a subclass (`PixelRNNDistribution`, `GatedPixelCNNDistribution`);
    this class documents the methods they share.

    Args:
      network: the subclass's network (a Keras 3 layer).
      context: a context `[..., C]` to bind (conditional networks only).
      validate_args: also check that pixel values are integers inside
        `tf.function` (eager inputs are always checked; the range
        `0..num_levels-1` is asserted in `tf.function` too, and under XLA,
        where assertions are dropped, an out-of-range level gives a NaN
        log-probability).
      name: name of the distribution.
      parameters: the subclass's constructor arguments (`dict(locals())`).

    Raises:
      ValueError: `network` is not of the subclass's network type; `context`
        given for an unconditional network or not `[..., C]` of a real dtype.
    """

    def __init__(
        self,
        network: Any,
        *,
        context: TensorLike | None = None,
        validate_args: bool = False,
        name: str | None = None,
        parameters: dict[str, Any] | None = None,
    ):
        parameters = dict(locals()) if parameters is None else parameters
        owner = type(self).__name__
        network_type = self._network_type()
        if not isinstance(network, network_type):
            raise ValueError(
                f"{owner}: argument `network` must be a "
                f"tfp_flows.nn.{network_type.__name__}; got {type(network).__name__}."
            )
        if context is not None:
            if network.context_size is None:
                network.check_context(context, owner=owner)
            context = self._check_context_any_batch(network, context, owner)
        with tf.name_scope(name or owner) as name:
            self._network: Any = network
            self._context: tf.Tensor | None = context
            # The tf.Variables behind the Keras weights, so that
            # `trainable_variables` (tf.Module) sees them.
            self._network_variables = tuple(tf_variables_of(network))
            # A plain object, not a dict: tf.Module would track a dict of
            # tf.functions, and SavedModel export cannot save bool keys.
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

    @classmethod
    def _network_type(cls) -> Any:
        """The network class the subclass takes."""
        raise NotImplementedError(
            f"{cls.__name__} is the shared base; use PixelRNNDistribution or "
            "GatedPixelCNNDistribution."
        )

    def _loop_steps(self) -> Any:
        """The cached sampler's steps for this network (`autoregressive_loop`)."""
        return None

    _keras_model_name = "autoregressive_image_nll"

    @property
    def _owner(self) -> str:
        return type(self).__name__

    @property
    def network(self) -> Any:
        """The Keras 3 network layer (the trainable object)."""
        return self._network

    @property
    def num_levels(self) -> int:
        """Pixel levels: values are `0..num_levels-1`."""
        return self._network.num_levels

    @property
    def context_size(self) -> int | None:
        """C of a conditional network; None for an unconditional one."""
        return self._network.context_size

    @property
    def context_shape(self) -> tuple[int, ...] | None:
        """`(C,)` for a conditional family with no bound context, else None.

        (The conditioning protocol, `tfp_flows.internal.conditioning`.)
        """
        size = self._network.context_size
        return None if size is None or self._context is not None else (size,)

    @property
    def context_dtype(self) -> tf.DType:
        """The float dtype a context is cast to (the network's compute dtype)."""
        return tf.as_dtype(self._network.compute_dtype)

    @property
    def context(self) -> tf.Tensor | None:
        """The bound context `[..., C]`, or None."""
        return self._context

    def condition(self, context: TensorLike) -> Any:
        """`p(. | context)`: an ordinary distribution with the context bound.

        Args:
          context: `[..., C]`; the result has batch shape `context.shape[:-1]`
            (one image distribution per context row).

        Returns:
          A distribution of this class on the same network (same weights and the
          same compiled sampling loops).

        Raises:
          ValueError: an unconditional network; `context` None or not
            `[..., C]`; a context already bound.
        """
        if self._context is not None:
            raise ValueError(
                f"{self._owner}.condition: this distribution already has "
                "a bound context (shape "
                f"{shape_str(self._context.shape)}); call `condition` on the "
                "unconditioned family."
            )
        net = self._network
        if net.context_size is None:
            raise ValueError(
                f"{self._owner}.condition: this network is unconditional "
                f"(context_size=None); build the {type(net).__name__} with "
                "`context_size=C`."
            )
        if context is None:
            net.check_context(None, owner=f"{self._owner}.condition")
        dist = type(self)(
            net, context=context, validate_args=self.validate_args, name=self.name
        )
        dist._compiled = self._compiled  # share the XLA loops
        return dist

    @staticmethod
    def _check_context_any_batch(network, context, owner):
        """`context` as a float tensor `[..., C]` (ValueError otherwise).

        Any real dtype is accepted (an integer one-hot label too) and cast to
        the network's compute dtype: the package's one context check,
        `internal/conditioning.check_context`.
        """
        return check_context(
            context,
            [network.context_size],
            network.compute_dtype,
            owner,
            cast=True,
            noun="distribution",
        )

    def _resolve_context(self, context, owner):
        """The context to use: the bound one or `context` (checked)."""
        net = self._network
        if context is not None and self._context is not None:
            raise ValueError(
                f"{owner}: argument `context` was given, but this distribution "
                "already has a bound context; pass one or the other."
            )
        if context is None:
            context = self._context
        if net.context_size is None or context is None:
            net.check_context(context, owner=owner)  # raises on a mismatch
            return None
        return self._check_context_any_batch(net, context, owner)

    def sample(
        self,
        sample_shape: ShapeLike = (),
        seed: Seed = None,
        name: str = "sample",
        **kwargs: Any,
    ) -> tf.Tensor:
        """Samples `[*sample_shape, *batch_shape, H, W, C]`.

        `context=z` (conditional family) samples `condition(z)`: the result is
        `[*sample_shape, *z.shape[:-1], H, W, C]`. `cached=False` re-runs the
        network for every pixel (slow; for checks and benchmarks).
        """
        sample_shape = checks.check_sample_shape(sample_shape, f"{self._owner}.sample")
        context = kwargs.pop("context", None)
        if context is not None and self._context is None:
            return self.condition(context).sample(
                sample_shape, seed=seed, name=name, **kwargs
            )
        return super().sample(sample_shape, seed=seed, name=name, **kwargs)

    def _event_shape(self):
        return tf.TensorShape(self._network.image_shape)

    def _event_shape_tensor(self):
        return tf.constant(self._network.image_shape, tf.int32)

    def _batch_shape(self):
        if self._context is None:
            return tf.TensorShape([])
        return self._context.shape[:-1]

    def _batch_shape_tensor(self):
        if self._context is None:
            return tf.constant([], tf.int32)
        return tf.shape(self._context)[:-1]

    # -- checks ---------------------------------------------------------

    def _check_values(self, x, arg_name):
        """Non-integer / out-of-range pixels raise, naming `arg_name`.

        Static (eager) values: ValueError. Symbolic values (`tf.function`):
        `tf.debugging` assertions on the range `0..num_levels-1` always (and
        integrality too under `validate_args`), so a bad level raises
        `InvalidArgumentError` naming the argument and the range, never a raw
        softmax error. Inside XLA, where assertions are dropped, `log_prob`
        is NaN for out-of-range levels (see `per_pixel_log_prob`).
        """
        self._network.check_images(x, arg_name, self._owner)
        return checks.check_integer_levels(
            x,
            arg_name,
            self._owner,
            self.num_levels,
            validate_args=self.validate_args,
            noun="pixel levels",
            range_names_num_levels=False,
        )

    # -- density --------------------------------------------------------

    def _call_log_prob(self, value, name, **kwargs):
        # TFP casts `value` to the int32 dtype before `_log_prob` sees it, which
        # would silently truncate 0.5 to 0; check the values before the cast.
        if not isinstance(value, (tf.Variable,)) and not tf.is_symbolic_tensor(value):
            self._check_values(tf.convert_to_tensor(value), "value")
        return super()._call_log_prob(value, name, **kwargs)

    def per_pixel_log_prob(
        self, value: TensorLike, context: TensorLike | None = None
    ) -> tf.Tensor:
        """`log p(x_{ijc} | x_<, z)` for every pixel and channel, `[..., H, W, C]`.

        `context` (conditional networks without a bound context) is `[..., C]`;
        its batch dims broadcast with those of `value`.
        """
        value = tf.convert_to_tensor(value)
        value = self._check_values(value, "value")
        context = self._resolve_context(context, f"{self._owner}.log_prob")
        event = self._network.image_shape
        batch_shape = tf.shape(value)[:-3]
        if context is not None:
            batch_shape = tf.broadcast_dynamic_shape(
                batch_shape, tf.shape(context)[:-1]
            )
            value = tf.broadcast_to(value, tf.concat([batch_shape, event], 0))
            context = tf.broadcast_to(
                context, tf.concat([batch_shape, tf.shape(context)[-1:]], 0)
            )
            context = tf.reshape(context, [-1, self._network.context_size])
        flat = tf.reshape(value, tf.concat([[-1], event], 0))
        logits = self._network(flat, context=context)
        levels = tf.cast(flat, tf.int32)
        if self._network.num_logits == 1:  # Bernoulli: logits [0, l]
            logits = tf.concat([tf.zeros_like(logits), logits], -1)
        # Out-of-range levels were rejected above (eager: ValueError; graph: an
        # assertion). Under XLA the assertion is dropped: give NaN, never a
        # finite number or the op's own error.
        top = self.num_levels - 1
        valid = tf.logical_and(levels >= 0, levels <= top)
        lp = -tf.nn.sparse_softmax_cross_entropy_with_logits(
            tf.clip_by_value(levels, 0, top), logits
        )
        lp = tf.where(valid, lp, tf.constant(np.nan, lp.dtype))
        return tf.reshape(lp, tf.concat([batch_shape, event], 0))

    def _log_prob(self, value, context=None):
        return tf.reduce_sum(
            self.per_pixel_log_prob(value, context=context), axis=[-3, -2, -1]
        )

    # -- sampling -------------------------------------------------------

    def _loop_fn(self, cached, with_logits=False):
        key = (bool(cached), bool(with_logits))
        if key not in self._compiled.functions:
            net = self._network
            steps = self._loop_steps()

            def loop(known, num_known, seed, context):
                return autoregressive_loop(
                    net,
                    known,
                    num_known,
                    seed,
                    context=context,
                    steps=steps,
                    cached=key[0],
                    with_logits=key[1],
                )

            self._compiled.functions[key] = tf.function(
                loop, jit_compile=True, autograph=False
            )
        return self._compiled.functions[key]

    def _run_loop(self, known, num_known, seed, cached, context=None):
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            # An int seed gives the same samples every call (TFP's
            # sanitize_seed would draw a stateful seed from it).
            seed = tf.constant([int(seed), 0], tf.int32)
        else:
            seed = tfp.random.sanitize_seed(seed, salt=self._owner)
        image, _ = self._loop_fn(cached)(
            known, tf.constant(num_known, tf.int32), tf.cast(seed, tf.int32), context
        )
        return tf.cast(tf.round(image), tf.int32)

    def _sample_n(self, n, seed=None, cached=True, context=None):
        context = self._resolve_context(context, f"{self._owner}.sample")
        n = tf.convert_to_tensor(n, tf.int32)
        event = self._network.image_shape
        if context is not None:
            # n samples per context row: rows (s, m) in sample-major order.
            batch_shape = tf.shape(context)[:-1]
            rows = tf.reduce_prod(batch_shape)
            flat_context = tf.tile(
                tf.reshape(context, [-1, self._network.context_size]), [n, 1]
            )
            known = tf.zeros(tf.concat([[n * rows], event], 0), tf.float32)
            flat = self._run_loop(known, 0, seed, cached, flat_context)
            return tf.reshape(flat, tf.concat([[n], batch_shape, event], 0))
        n_static = tf.get_static_value(n)
        if n_static is not None:
            shape = (int(n_static),) + event
        else:
            # A symbolic count (e.g. a served signature's input): XLA compiles
            # the loop for each count it is called with.
            shape = tf.concat([[n], event], 0)
        known = tf.zeros(shape, tf.float32)
        return self._run_loop(known, 0, seed, cached)

    def _rows_context(self, context, rows, owner):
        """The context for `rows` images: `[C]` is repeated, `[rows, C]` kept."""
        context = self._resolve_context(context, owner)
        if context is None:
            return None
        context = check_context(
            context,
            [self._network.context_size],
            context.dtype,
            owner,
            per_row=True,
            rows=rows,
            unbatched_ok=True,
            values_name="images",
        )
        if context.shape.rank == 1:
            return tf.tile(context[None], [rows, 1])
        return context

    def complete(
        self,
        images: TensorLike,
        num_rows: int,
        *,
        seed: Seed = None,
        cached: bool = True,
        context: TensorLike | None = None,
    ) -> tf.Tensor:
        """Keeps the top `num_rows` rows of `images` and samples the rest.

        Args:
          images: `[N, H, W, C]` integer images; rows `>= num_rows` are ignored.
          num_rows: number of given rows, `0..H`.
          seed: stateless seed (int or `[2]` tensor) or None.
          cached: use the cached sampler (default) or re-run the network.
          context: conditional networks: `[C]` or `[N, C]` (unless bound).

        Returns:
          int32 `[N, H, W, C]`.

        Raises:
          ValueError: bad shape, values, or `num_rows`.
        """
        images = tf.convert_to_tensor(images)
        if images.shape.rank != 4:
            raise ValueError(
                f"{self._owner}.complete: argument `images` must be "
                f"[N, {', '.join(map(str, self._network.image_shape))}]; got shape "
                f"{images.shape.as_list()}."
            )
        height, width, _ = self._network.image_shape
        if isinstance(num_rows, bool) or not isinstance(num_rows, (int, np.integer)):
            raise ValueError(
                f"{self._owner}.complete: argument `num_rows` must be an "
                f"integer in 0..{height}; got {num_rows!r}."
            )
        if not 0 <= num_rows <= height:
            raise ValueError(
                f"{self._owner}.complete: argument `num_rows` must be an "
                f"integer in 0..{height}; got {num_rows}."
            )
        images = self._check_values(images, "images")
        context = self._rows_context(
            context, images.shape[0], f"{self._owner}.complete"
        )
        return self._run_loop(
            tf.cast(images, tf.float32), int(num_rows) * width, seed, cached, context
        )

    def teacher_forced_logits(
        self,
        images: TensorLike,
        *,
        cached: bool = True,
        context: TensorLike | None = None,
    ) -> tf.Tensor:
        """Logits that the pixel-by-pixel loop computes with every pixel given.

        Equal (up to float rounding) to `network(images, context)`; used to
        check the cached sampler against the parallel pass.
        """
        images = tf.convert_to_tensor(images)
        images = self._check_values(images, "images")
        context = self._rows_context(
            context, images.shape[0], f"{self._owner}.teacher_forced_logits"
        )
        height, width, _ = self._network.image_shape
        _, logits = self._loop_fn(cached, with_logits=True)(
            tf.cast(images, tf.float32),
            tf.constant(height * width, tf.int32),
            tf.constant([0, 0], tf.int32),
            context,
        )
        return logits

    # -- Keras ----------------------------------------------------------

    def as_keras_model(self) -> keras.Model:
        """A Keras 3 model whose loss is the mean negative log-likelihood.

        `model(images)` returns the per-image NLL (nats); `model.fit(images)`
        trains the network's weights (`model.trainable_weights` are exactly
        the network's). For a conditional family the inputs are
        `(images, context)` pairs.

        #### Examples

        >>> from tfp_flows.nn import PixelRNN
        >>> net = PixelRNN((3, 3, 1), num_levels=2, hidden_units=2, output_units=4)
        >>> model = PixelRNNDistribution(net).as_keras_model()
        >>> len(model.trainable_weights) == len(net.trainable_weights)
        True
        """
        return _NegLogProbModel(self)


class PixelRNNDistribution(AutoregressiveImageDistribution):
    """Distribution over `[H, W, C]` integer images with a PixelRNN network.

    Event shape `image_shape`, dtype int32; the pixel values are levels
    `0..num_levels-1`. The network's Keras 3 weights are the distribution's
    `trainable_variables` (the same `tf.Variable`s). `log_prob`, `sample`,
    `complete`, `condition` and `as_keras_model` are those of
    `AutoregressiveImageDistribution`; the cached sampler keeps the recurrent
    states of finished rows.

    Conditional networks (`PixelRNN(..., context_size=C)`): without a bound
    context the distribution is the family `p(x | z)` (batch shape `[]`) and
    `log_prob`, `sample`, `complete` take `context=z`; `condition(z)` (or
    `context=z` here) binds a context `z [..., C]` and gives an ordinary
    distribution with batch shape `z.shape[:-1]`.

    Args:
      network: a `tfp_flows.nn.PixelRNN`.
      context: a context `[..., C]` to bind (conditional networks only).
      validate_args: also check that pixel values are integers inside
        `tf.function` (eager inputs are always checked; the range
        `0..num_levels-1` is asserted in `tf.function` too, and under XLA,
        where assertions are dropped, an out-of-range level gives a NaN
        log-probability).
      name: name of the distribution.

    Raises:
      ValueError: `network` is not a `PixelRNN`; `context` given for an
        unconditional network or not `[..., C]`.

    #### Examples

    >>> from tfp_flows.nn import PixelRNN
    >>> net = PixelRNN((3, 3, 1), num_levels=4, hidden_units=2, output_units=4)
    >>> dist = PixelRNNDistribution(net)
    >>> x = dist.sample(2, seed=1)
    >>> x.shape, x.dtype.name, bool(tf.reduce_all((x >= 0) & (x < 4)))
    (TensorShape([2, 3, 3, 1]), 'int32', True)
    >>> dist.log_prob(x).shape
    TensorShape([2])

    A VAE-style decoder `p(x | z)`: bind a batch of latents `z [4, 2]`.

    >>> cond = PixelRNNDistribution(PixelRNN((3, 3, 1), num_levels=2,
    ...     hidden_units=2, output_units=4, context_size=2))
    >>> z = tf.random.stateless_normal([4, 2], seed=[1, 2])
    >>> decoder = cond.condition(z)
    >>> decoder.batch_shape, decoder.sample(seed=1).shape
    (TensorShape([4]), TensorShape([4, 3, 3, 1]))
    >>> decoder.log_prob(decoder.sample(seed=1)).shape
    TensorShape([4])
    >>> cond.log_prob(tf.zeros([4, 3, 3, 1], tf.int32), context=z).shape
    TensorShape([4])

    #### References

    [1] Aaron van den Oord, Nal Kalchbrenner, Koray Kavukcuoglu. Pixel
        Recurrent Neural Networks. ICML 2016. https://arxiv.org/abs/1601.06759
    """

    _keras_model_name = "pixel_rnn_nll"

    def __init__(
        self,
        network: PixelRNN,
        *,
        context: TensorLike | None = None,
        validate_args: bool = False,
        name: str | None = None,
    ):
        parameters = dict(locals())
        super().__init__(
            network,
            context=context,
            validate_args=validate_args,
            name=name,
            parameters=parameters,
        )

    @classmethod
    def _network_type(cls) -> type:
        return PixelRNN

    @property
    def network(self) -> PixelRNN:
        """The Keras 3 `PixelRNN` layer (the trainable object)."""
        return self._network

    def condition(self, context: TensorLike) -> PixelRNNDistribution:
        """`p(. | context)`: an ordinary distribution with the context bound.

        Args:
          context: `[..., C]`; the result has batch shape `context.shape[:-1]`
            (one image distribution per context row).

        Returns:
          A `PixelRNNDistribution` on the same network (same weights and the
          same compiled sampling loops).

        Raises:
          ValueError: an unconditional network; `context` None or not
            `[..., C]`; a context already bound.
        """
        return super().condition(context)


class _CompiledLoops:
    """Holds the XLA-compiled sampling loops (untracked by tf.Module)."""

    def __init__(self):
        self.functions = {}


class _NegLogProbModel(keras.Model):
    """Keras 3 model: images -> per-image NLL; loss = mean NLL."""

    def __init__(self, distribution, **kwargs):
        kwargs.setdefault("name", distribution._keras_model_name)
        super().__init__(**kwargs)
        self.network = distribution.network
        self._distribution = distribution

    def call(self, inputs):
        dist = self._distribution
        if dist.context_size is not None and dist.context is None:
            if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
                raise ValueError(
                    f"{dist._owner}.as_keras_model: this network is "
                    f"conditional (context_size={dist.context_size}); pass "
                    "inputs as (images, context)."
                )
            images, context = inputs
            return -dist.log_prob(images, context=context)
        return -dist.log_prob(inputs)

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        del x, y, sample_weight, training
        loss = tf.reduce_mean(y_pred)
        if self.losses:
            loss = loss + tf.add_n(self.losses)
        return loss


@register_builder("pixel_rnn")
def pixel_rnn(
    image_shape: Sequence[int] = (8, 8, 1),
    *,
    num_levels: int = 256,
    layer_type: str = "diagonal",
    num_layers: int = 2,
    hidden_units: int = 16,
    output_units: int = 32,
    kernel_size: int = 3,
    context_size: int | None = None,
    seed: int = 0,
    validate_args: bool = False,
    name: str | None = None,
) -> PixelRNNDistribution:
    """A `PixelRNNDistribution` on a new `PixelRNN`, rebuildable from config.

    The arguments are those of `tfp_flows.nn.PixelRNN`; they are recorded
    as JSON, so a `FlowModel` of the result saves to `.keras` and loads back
    with `keras.saving.load_model(..., safe_mode=True)` (no pickled code).

    Args:
      image_shape: `(H, W, C)`, `C` colour channels (1 or 3).
      num_levels: pixel levels (17 for the digits; 2: Bernoulli per channel).
      layer_type: `'row'` (Row LSTM) or `'diagonal'` (Diagonal BiLSTM).
      num_layers: number of LSTM layers (residual blocks).
      hidden_units: LSTM units `h` (a multiple of `C`).
      output_units: features of the first 1 x 1 output layer (a multiple of C).
      kernel_size: Row LSTM `k` (odd, >= 3); unused for `'diagonal'`.
      context_size: C for a conditional family `p(x | z)` (`log_prob(x,
        context=z)`, `condition(z)`); None: unconditional.
      seed: non-negative integer seed of every initial weight; the same seed
        gives identical weights.
      validate_args: check pixel values inside `tf.function` too.
      name: name of the distribution.

    Returns:
      A `PixelRNNDistribution` with event shape `image_shape`, dtype int32.

    Raises:
      ValueError: bad arguments (see `PixelRNN`).

    #### Examples

    >>> d1 = pixel_rnn((3, 3, 1), num_levels=4, hidden_units=2, output_units=4, seed=5)
    >>> d2 = pixel_rnn((3, 3, 1), num_levels=4, hidden_units=2, output_units=4, seed=5)
    >>> all(bool(tf.reduce_all(a == b))
    ...     for a, b in zip(d1.trainable_variables, d2.trainable_variables))
    True
    >>> d1.event_shape, d1.dtype.name
    (TensorShape([3, 3, 1]), 'int32')
    """
    network = PixelRNN(
        image_shape,
        num_levels=num_levels,
        layer_type=layer_type,
        num_layers=num_layers,
        hidden_units=hidden_units,
        output_units=output_units,
        kernel_size=kernel_size,
        context_size=context_size,
        seed=seed,
    )
    return PixelRNNDistribution(network, validate_args=validate_args, name=name)
