"""A TFP distribution over integer images built on a Keras 3 `GatedPixelCNN`.

The same distribution as `PixelRNNDistribution` (both are
`AutoregressiveImageDistribution`s), with the Gated PixelCNN of van den Oord
et al. (2016b) as the network:

    log p(x | h) = sum_{i, j, c} log softmax(logits(x_{<(i, j, c)}, h))[x_{i, j, c}]

is one parallel pass of the network; `sample(n)` and `complete(images,
num_rows)` fill pixels in raster order, channel by channel, in an
XLA-compiled loop. Its cached steps use the two stacks: the vertical stack's
contribution to row `i` reads only rows `< i`, so it is computed once per row
(`GatedPixelCNNSteps.begin_row`), and each pixel re-runs only the horizontal
stack along its row (`1 x n` convolutions): about `W` pixels' work per pixel
instead of the whole image's.

With `context_size=C` (class conditioning, e.g. a one-hot label `h`) the
distribution is the conditional family `p(x | h)`: `log_prob(x, context=h)`,
`sample(n, context=h)`, `condition(h)`.

`gated_pixel_cnn(image_shape, ...)` is the registered builder (saved as
config in `.keras` files; the same `seed` gives the same initial weights).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from tfp_flows.distributions.pixel_rnn import AutoregressiveImageDistribution
from tfp_flows.internal.specs import register_builder
from tfp_flows.internal.types import TensorLike
from tfp_flows.nn.gated_pixel_cnn import GatedPixelCNN

__all__ = ["GatedPixelCNNDistribution", "GatedPixelCNNSteps", "gated_pixel_cnn"]


class GatedPixelCNNSteps:
    """Cached sampler steps of a `GatedPixelCNN` (for `autoregressive_loop`).

    Why it is exact: the horizontal stack's layer `l` at row `i` reads row `i`
    of its input and the link `conv_1x1(down(v_l))[i]`, which reads rows
    `< i` of the image only. Once rows `< i` are final, the links of row `i`
    are fixed (`begin_row`); the logits of pixel `(i, j)` are then the
    horizontal stack run on row `i` alone (`pixel`). Nothing is carried from
    pixel to pixel, so the loop-carried cache is empty.

    Args:
      net: a `GatedPixelCNN`.
      batch: batch size (a scalar tensor).
      dtype: the network's compute dtype.
      context: `[B, context_size]` or None.
    """

    def __init__(self, net: GatedPixelCNN, batch: tf.Tensor, dtype: Any, context: Any):
        self.net = net
        self.dtype = dtype
        self.context = context

    def init(self) -> tf.Tensor:
        """The (empty) loop-carried cache."""
        return tf.zeros([0], self.dtype)

    def begin_row(self, image: tf.Tensor, i: tf.Tensor) -> list[tf.Tensor]:
        """Per layer, the vertical stack's input to row `i`: `[B, 1, W, 2p]`."""
        links = self.net.horizontal_inputs(self.net.normalize(image), self.context)
        return [tf.slice(link, [0, i, 0, 0], [-1, 1, -1, -1]) for link in links]

    def pixel(
        self, row: tf.Tensor, links: list[tf.Tensor], cache: tf.Tensor, j: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """Flat logits `[B, C * n]` of pixel `j` of `row [B, W, C]`."""
        logits = self.net.horizontal_logits(self.net.normalize(row)[:, None], links)
        return tf.gather(logits[:, 0], j, axis=1), cache

    def end_row(self, cache: tf.Tensor) -> tf.Tensor:
        """Nothing to carry to the next row."""
        return cache


class GatedPixelCNNDistribution(AutoregressiveImageDistribution):
    """Distribution over `[H, W, C]` integer images with a Gated PixelCNN.

    Event shape `image_shape`, dtype int32, levels `0..num_levels-1`; the
    network's Keras 3 weights are the distribution's `trainable_variables`.
    `log_prob`, `sample`, `complete`, `condition` and `as_keras_model` are
    those of `AutoregressiveImageDistribution` (the same interface as
    `PixelRNNDistribution`); the cached sampler is `GatedPixelCNNSteps`.

    Args:
      network: a `tfp_flows.nn.GatedPixelCNN`.
      context: a context `[..., C]` to bind (conditional networks only).
      validate_args: also check that pixel values are integers inside
        `tf.function` (the range is always asserted there; under XLA an
        out-of-range level gives a NaN log-probability).
      name: name of the distribution.

    Raises:
      ValueError: `network` is not a `GatedPixelCNN`; `context` given for an
        unconditional network, or not `[..., C]` of a real dtype.

    #### Examples

    >>> from tfp_flows.nn import GatedPixelCNN
    >>> net = GatedPixelCNN((3, 3, 1), num_levels=4, num_layers=2, filters=2,
    ...                     output_units=4)
    >>> dist = GatedPixelCNNDistribution(net)
    >>> x = dist.sample(2, seed=1)
    >>> x.shape, x.dtype.name, bool(tf.reduce_all((x >= 0) & (x < 4)))
    (TensorShape([2, 3, 3, 1]), 'int32', True)
    >>> dist.log_prob(x).shape
    TensorShape([2])

    Class-conditional: one-hot labels of 3 classes.

    >>> cond = GatedPixelCNNDistribution(GatedPixelCNN((3, 3, 1), num_levels=2,
    ...     num_layers=2, filters=2, output_units=4, context_size=3))
    >>> labels = tf.one_hot([0, 2], 3)
    >>> cond.sample(4, context=labels, seed=1).shape
    TensorShape([4, 2, 3, 3, 1])

    #### References

    [1] Aaron van den Oord, Nal Kalchbrenner, Oriol Vinyals, Lasse Espeholt,
        Alex Graves, Koray Kavukcuoglu. Conditional Image Generation with
        PixelCNN Decoders. NeurIPS 2016. https://arxiv.org/abs/1606.05328
    """

    _keras_model_name = "gated_pixel_cnn_nll"

    def __init__(
        self,
        network: GatedPixelCNN,
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
        return GatedPixelCNN

    def _loop_steps(self) -> Any:
        return GatedPixelCNNSteps

    @property
    def network(self) -> GatedPixelCNN:
        """The Keras 3 `GatedPixelCNN` layer (the trainable object)."""
        return self._network

    def condition(self, context: TensorLike) -> GatedPixelCNNDistribution:
        """`p(. | context)`: an ordinary distribution with the context bound.

        Args:
          context: `[..., C]`; the result has batch shape `context.shape[:-1]`.

        Returns:
          A `GatedPixelCNNDistribution` on the same network (same weights and
          compiled sampling loops).

        Raises:
          ValueError: an unconditional network; `context` None, not
            `[..., C]` or not real; a context already bound.
        """
        return super().condition(context)


@register_builder("gated_pixel_cnn")
def gated_pixel_cnn(
    image_shape: Sequence[int] = (8, 8, 1),
    *,
    num_levels: int = 256,
    num_layers: int = 5,
    filters: int = 16,
    kernel_size: int = 3,
    input_kernel_size: int = 7,
    output_units: int = 32,
    context_size: int | None = None,
    seed: int = 0,
    validate_args: bool = False,
    name: str | None = None,
) -> GatedPixelCNNDistribution:
    """A `GatedPixelCNNDistribution` on a new `GatedPixelCNN`, rebuildable from config.

    The arguments are those of `tfp_flows.nn.GatedPixelCNN`, recorded as
    JSON: a `FlowModel` of the result saves to `.keras` and loads back with
    `keras.saving.load_model(..., safe_mode=True)`.

    Args:
      image_shape: `(H, W, C)`, `C` colour channels.
      num_levels: pixel levels (17 for the digits; 2: Bernoulli per channel).
      num_layers: gated layers (vertical + horizontal stack each).
      filters: `p`, features per stack (a multiple of `C`).
      kernel_size: odd kernel size of layers `1..L-1`.
      input_kernel_size: odd kernel size of layer 0 (mask A).
      output_units: features of the first 1 x 1 output layer (a multiple of C).
      context_size: size of the class/context vector for `p(x | h)`; None:
        unconditional.
      seed: non-negative integer seed of every initial weight.
      validate_args: check pixel values inside `tf.function` too.
      name: name of the distribution.

    Returns:
      A `GatedPixelCNNDistribution` with event shape `image_shape`, dtype int32.

    Raises:
      ValueError: bad arguments (see `GatedPixelCNN`).

    #### Examples

    >>> d = gated_pixel_cnn((3, 3, 1), num_levels=4, num_layers=2, filters=2,
    ...                     output_units=4, seed=5)
    >>> d.event_shape, d.dtype.name
    (TensorShape([3, 3, 1]), 'int32')
    """
    network = GatedPixelCNN(
        image_shape,
        num_levels=num_levels,
        num_layers=num_layers,
        filters=filters,
        kernel_size=kernel_size,
        input_kernel_size=input_kernel_size,
        output_units=output_units,
        context_size=context_size,
        seed=seed,
    )
    return GatedPixelCNNDistribution(network, validate_args=validate_args, name=name)
