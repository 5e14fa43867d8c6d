"""Gated PixelCNN (van den Oord et al. 2016b) as a Keras 3 layer.

A plain stack of masked convolutions (PixelCNN, van den Oord et al. 2016a)
has a blind spot: the receptive field of pixel `(i, j)` grows up and to the
left, but misses pixels above and to the right of it (e.g. `(i - 1, j + 4)`
after a 7 x 7 and two 3 x 3 layers) that its own field reaches higher up.
The Gated PixelCNN splits every layer into two stacks:

* the vertical stack: `v_l = conv_{(n//2 + 1) x n}(v_{l-1})`, a convolution
  over the rows `i - n//2 .. i` and the columns `j - n//2 .. j + n//2`
  (top-aligned, no mask). It sees a whole rectangle of rows above (and the
  current row, which is why it is shifted before it is used);
* the horizontal stack: `1 x n` convolutions along the current row, masked so
  that pixel `j` reads columns `<= j` (mask A in the first layer: the current
  pixel only for earlier colour channels; mask B after);
* the link: the vertical pre-activations shifted down one row,
  `down(v)[i] = v[i - 1]` (zero in row 0), then a 1 x 1 convolution, are
  added to the horizontal pre-activations. Row `i - 1` of the vertical stack
  reads only rows `<= i - 1`, so pixel `(i, j)` sees every pixel above it in
  range and every pixel to its left: no blind spot.

Every layer uses the gated activation of the paper's equation (4), with an
optional context vector `h` (class conditioning, equation (5)):

    y = tanh(W_f * x + V_f^T h)  .  sigmoid(W_g * x + V_g^T h)

`W_f, W_g` are the stack's convolution (its `2p` outputs hold filter `f` and
gate `g` of unit `u` at channels `2u` and `2u + 1`), `V_f, V_g` one bias-free
`Dense(2p)` of `h` per stack and layer, added at every pixel. The horizontal
stack of layers `l >= 1` is residual: `x_l = x_{l-1} + conv_1x1(y_l)`; the
first layer maps the image to `p` features and has none.

Colour images (`C > 1` channels, ordered R -> G -> B inside a pixel): as in
PixelCNN/PixelRNN, every feature map of the horizontal stack is split into
`C` contiguous colour groups, and the masks let group `g` at the current
pixel read the groups `< g` (first layer, mask A) or `<= g` (mask B).
The vertical stack and the link carry only rows above, where every channel
may be read, so they are unmasked.

Output head: `ReLU -> 1 x 1 mask-B conv (output_units) -> ReLU -> 1 x 1
mask-B conv (C * n logits)`; categorical logits over `num_levels` levels per
channel (one Bernoulli logit when `num_levels == 2`), as `PixelRNN`.

All trainable numbers are Keras 3 weights (`Conv2D`, `MaskedConv2D`,
`Dense`).

#### References

[1] Aaron van den Oord, Nal Kalchbrenner, Oriol Vinyals, Lasse Espeholt, Alex
    Graves, Koray Kavukcuoglu. Conditional Image Generation with PixelCNN
    Decoders. NeurIPS 2016. https://arxiv.org/abs/1606.05328
[2] Aaron van den Oord, Nal Kalchbrenner, Koray Kavukcuoglu. Pixel Recurrent
    Neural Networks. ICML 2016. https://arxiv.org/abs/1601.06759
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from tfp_flows.internal.checks import check_positive_int
from tfp_flows.internal.conditioning import check_context
from tfp_flows.internal.conditioning import check_context_size
from tfp_flows.internal.conditioning import check_network_context
from tfp_flows.internal.keras import keras
from tfp_flows.internal.types import TensorLike
from tfp_flows.nn.masked_conv import MaskedConv2D
from tfp_flows.nn.masked_conv import channel_groups

__all__ = ["GatedPixelCNN"]


def _gate(z: tf.Tensor) -> tf.Tensor:
    """`tanh(f) * sigmoid(g)` of unit-major pre-activations `[..., 2p]`."""
    z = tf.reshape(z, tf.concat([tf.shape(z)[:-1], [-1, 2]], 0))
    return tf.tanh(z[..., 0]) * tf.sigmoid(z[..., 1])


def _down_shift(x: tf.Tensor) -> tf.Tensor:
    """`out[:, i] = x[:, i - 1]`, zero in row 0."""
    return tf.pad(x, [[0, 0], [1, 0], [0, 0], [0, 0]])[:, :-1]


def _check_odd(value: Any, arg_name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(
            f"GatedPixelCNN: argument `{arg_name}` must be an odd integer >= 1; "
            f"got {value!r}."
        )
    if value < 1 or value % 2 == 0:
        raise ValueError(
            f"GatedPixelCNN: argument `{arg_name}` must be an odd integer >= 1 "
            f"(the current pixel is the kernel's centre column); got {value}."
        )
    return int(value)


@keras.saving.register_keras_serializable(package="tfp_flows")
class GatedPixelCNN(keras.layers.Layer):
    """The Gated PixelCNN network: integer images to per-channel logits.

    See the module docstring for the equations. Layer 0 has kernel size
    `input_kernel_size` (the paper's 7) and mask A; layers `1..L-1` have
    `kernel_size` (3) and mask B and a residual horizontal stack. Logits at
    `(i, j, c)` depend only on pixels before `(i, j)` in raster order, on
    channels `< c` of pixel `(i, j)`, and on the context; and on *every* such
    pixel in range (no blind spot): rows above within
    `input_kernel_size // 2 + (L - 1) * (kernel_size // 2) + 1` rows and as
    many columns either side, the current row within
    `input_kernel_size // 2 + (L - 1) * (kernel_size // 2)` columns to the left.

    The layer is built at construction for `image_shape`. Inputs are images
    of levels `0..num_levels-1` (any real dtype; scaled to `[-1, 1]`).

    Args:
      image_shape: `(H, W, C)`; `C` colour channels.
      num_levels: pixel levels (256 for 8-bit images, 17 for the digits, 2 for
        binary images: then one Bernoulli logit per channel).
      num_layers: `L`, gated layers (each a vertical and a horizontal stack).
      filters: `p`, features of both stacks (the gates have `2p`); a multiple
        of `C`.
      kernel_size: `n` of layers `1..L-1` (odd).
      input_kernel_size: `n` of layer 0 (odd).
      output_units: features of the first 1 x 1 output layer; a multiple of C.
      context_size: size of the context vector `h` (e.g. 10 for one-hot digit
        classes): `call(images, context=h)` with `h [B, context_size]`. None
        (default): unconditional.
      seed: integer seed of every kernel initializer: the same seed gives the
        same initial weights (None: Keras' unseeded initializers).
      name: layer name.
      **kwargs: passed to `keras.layers.Layer`.

    Returns (when called):
      logits `[B, H, W, C, n]` with `n = num_levels` (1 when `num_levels == 2`).

    Raises:
      ValueError: bad arguments; called with the wrong image shape; a context
        missing (conditional), given (unconditional), not `[B, context_size]`
        or not of a real dtype.

    #### Examples

    >>> import numpy as np
    >>> net = GatedPixelCNN((4, 4, 1), num_levels=17, num_layers=2, filters=4,
    ...                     output_units=8)
    >>> net(np.zeros((3, 4, 4, 1), "int32")).shape
    TensorShape([3, 4, 4, 1, 17])

    Class-conditional (a one-hot label per image):

    >>> cond = GatedPixelCNN((4, 4, 1), num_levels=2, num_layers=2, filters=4,
    ...                      output_units=4, context_size=10)
    >>> labels = np.eye(10, dtype="float32")[[3, 7]]
    >>> cond(np.zeros((2, 4, 4, 1), "int32"), context=labels).shape
    TensorShape([2, 4, 4, 1, 1])

    #### References

    [1] Aaron van den Oord et al. Conditional Image Generation with PixelCNN
        Decoders. NeurIPS 2016. https://arxiv.org/abs/1606.05328
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        *,
        num_levels: int = 256,
        num_layers: int = 5,
        filters: int = 16,
        kernel_size: int = 3,
        input_kernel_size: int = 7,
        output_units: int = 32,
        context_size: int | None = None,
        seed: int | None = None,
        name: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(name=name, **kwargs)
        image_shape = tuple(image_shape)
        if len(image_shape) != 3 or any(
            isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1
            for d in image_shape
        ):
            raise ValueError(
                "GatedPixelCNN: argument `image_shape` must be (height, width, "
                f"channels) of positive integers; got {image_shape!r}."
            )
        self.image_shape = tuple(int(d) for d in image_shape)
        channels = self.image_shape[2]
        owner = "GatedPixelCNN"
        self.num_levels = check_positive_int(num_levels, "num_levels", owner, 2)
        self.num_layers = check_positive_int(num_layers, "num_layers", owner)
        self.filters = check_positive_int(filters, "filters", owner)
        channel_groups(self.filters, channels, "filters", owner)
        self.kernel_size = _check_odd(kernel_size, "kernel_size")
        self.input_kernel_size = _check_odd(input_kernel_size, "input_kernel_size")
        self.output_units = check_positive_int(output_units, "output_units", owner)
        channel_groups(self.output_units, channels, "output_units", owner)
        self.context_size = check_context_size(context_size, owner)
        if seed is not None and (
            isinstance(seed, bool)
            or not isinstance(seed, (int, np.integer))
            or seed < 0
        ):
            raise ValueError(
                "GatedPixelCNN: argument `seed` must be None or a non-negative "
                f"integer; got {seed!r}."
            )
        self.seed = None if seed is None else int(seed)
        self.num_logits = 1 if self.num_levels == 2 else self.num_levels

        counter = iter(range(10**6))

        def init() -> Any:
            # Every kernel its own seed, so one integer fixes all of them.
            if self.seed is None:
                return "glorot_uniform"
            return keras.initializers.GlorotUniform(
                seed=self.seed * 100003 + next(counter)
            )

        p2 = 2 * self.filters
        self.vertical_convs: list[Any] = []
        self.links: list[Any] = []
        self.horizontal_convs: list[Any] = []
        self.residuals: list[Any] = []
        self.vertical_context: list[Any] = []
        self.horizontal_context: list[Any] = []
        for k in range(self.num_layers):
            n = self.input_kernel_size if k == 0 else self.kernel_size
            self.vertical_convs.append(
                keras.layers.Conv2D(
                    p2,
                    (n // 2 + 1, n),
                    padding="valid",
                    kernel_initializer=init(),
                    name=f"vertical_{k}",
                )
            )
            self.links.append(
                keras.layers.Conv2D(
                    p2, 1, kernel_initializer=init(), name=f"vertical_to_horizontal_{k}"
                )
            )
            self.horizontal_convs.append(
                MaskedConv2D(
                    p2,
                    (1, n),
                    mask_type="A" if k == 0 else "B",
                    color_channels=channels,
                    kernel_initializer=init(),
                    name=f"horizontal_{k}",
                )
            )
            self.residuals.append(
                MaskedConv2D(
                    self.filters,
                    1,
                    mask_type="B",
                    color_channels=channels,
                    kernel_initializer=init(),
                    name=f"horizontal_out_{k}",
                )
            )
            if self.context_size is not None:
                for stack, lst in (
                    ("vertical", self.vertical_context),
                    ("horizontal", self.horizontal_context),
                ):
                    lst.append(
                        keras.layers.Dense(
                            p2,
                            use_bias=False,
                            kernel_initializer=init(),
                            name=f"context_to_{stack}_{k}",
                        )
                    )
        self.hidden_conv = MaskedConv2D(
            self.output_units,
            1,
            mask_type="B",
            color_channels=channels,
            kernel_initializer=init(),
            name="output_1",
        )
        self.logits_conv = MaskedConv2D(
            channels * self.num_logits,
            1,
            mask_type="B",
            color_channels=channels,
            kernel_initializer=init(),
            name="output_logits",
        )
        self.build((None,) + self.image_shape)

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Creates the sublayers' weights."""
        h, w, c = self.image_shape
        p, p2 = self.filters, 2 * self.filters
        for k in range(self.num_layers):
            n = self.input_kernel_size if k == 0 else self.kernel_size
            depth = c if k == 0 else p
            self.vertical_convs[k].build((None, h + n // 2, w + 2 * (n // 2), depth))
            self.links[k].build((None, h, w, p2))
            self.horizontal_convs[k].build((None, h, w, depth))
            self.residuals[k].build((None, h, w, p))
            if self.context_size is not None:
                self.vertical_context[k].build((None, self.context_size))
                self.horizontal_context[k].build((None, self.context_size))
        self.hidden_conv.build((None, h, w, p))
        self.logits_conv.build((None, h, w, self.output_units))
        self.built = True

    # -- pieces shared by the parallel pass and the row-cached sampler -----

    def normalize(self, images: TensorLike) -> tf.Tensor:
        """Levels `0..num_levels-1` to floats in `[-1, 1]`."""
        x = tf.cast(images, self.compute_dtype)
        return x * (2.0 / (self.num_levels - 1)) - 1.0

    def _context_bias(self, dense: Any, context: tf.Tensor | None) -> Any:
        if context is None:
            return 0.0
        return dense(context)[:, None, None, :]

    def horizontal_inputs(
        self, x: tf.Tensor, context: tf.Tensor | None = None
    ) -> list[tf.Tensor]:
        """The vertical stack's contribution to each horizontal layer.

        Args:
          x: normalized images `[B, H, W, C]` (`normalize`).
          context: `[B, context_size]` or None.

        Returns:
          Per layer, `[B, H, W, 2p]`: the link `conv_1x1(down(v_l))` plus the
          horizontal stack's context term `V^T h`. Row `i` depends only on
          rows `< i` of `x` (and the context).
        """
        links = []
        v = x
        for k in range(self.num_layers):
            n = self.input_kernel_size if k == 0 else self.kernel_size
            half = n // 2
            # Top-aligned (n//2 + 1) x n window: rows i - n//2 .. i.
            padded = tf.pad(v, [[0, 0], [half, 0], [half, half], [0, 0]])
            v_pre = self.vertical_convs[k](padded)
            if context is not None:
                v_pre = v_pre + self._context_bias(self.vertical_context[k], context)
            link = self.links[k](_down_shift(v_pre))
            if context is not None:
                link = link + self._context_bias(self.horizontal_context[k], context)
            links.append(link)
            v = _gate(v_pre)
        return links

    def horizontal_logits(self, x: tf.Tensor, links: Sequence[tf.Tensor]) -> tf.Tensor:
        """The horizontal stack and the output head: flat logits.

        Args:
          x: normalized images, or some of their rows, `[B, R, W, C]`.
          links: `horizontal_inputs` for the same rows, each `[B, R, W, 2p]`.

        Returns:
          `[B, R, W, C * n]`; row `r` reads only row `r` of `x` and `links`.
        """
        h = x
        for k in range(self.num_layers):
            y = _gate(self.horizontal_convs[k](h) + links[k])
            out = self.residuals[k](y)
            h = out if k == 0 else h + out
        hidden = self.hidden_conv(tf.nn.relu(h))
        return self.logits_conv(tf.nn.relu(hidden))

    # -- checks -----------------------------------------------------------

    def check_images(
        self, images: tf.Tensor, arg_name: str = "images", owner: str = "GatedPixelCNN"
    ) -> None:
        """ValueError unless `images` is `[..., H, W, C]` of this model."""
        shape = images.shape
        if shape.rank is not None and (
            shape.rank < 3
            or any(
                g is not None and g != e
                for g, e in zip(shape.as_list()[-3:], self.image_shape, strict=True)
            )
        ):
            raise ValueError(
                f"{owner}: argument `{arg_name}` must have shape [..., "
                f"{', '.join(map(str, self.image_shape))}] (height, width, "
                f"colour channels); got shape {shape.as_list()}."
            )

    def check_context(
        self,
        context: tf.Tensor | None,
        batch: int | None = None,
        owner: str = "GatedPixelCNN",
    ) -> None:
        """ValueError unless `context` is None (unconditional) / `[batch, C]`."""
        check_network_context(
            context, self.context_size, self.compute_dtype, owner, rows=batch
        )

    def cast_context(
        self, context: TensorLike | None, owner: str = "GatedPixelCNN"
    ) -> tf.Tensor | None:
        """`context` as a tensor of the compute dtype (None stays None).

        Raises:
          ValueError: `context` is not of a real (float or integer) dtype,
            e.g. a string or bool tensor, or not `[..., context_size]`.
        """
        if context is None:
            return None
        return check_context(
            context, [self.context_size], self.compute_dtype, owner, cast=True
        )

    def call(self, images: TensorLike, context: TensorLike | None = None) -> tf.Tensor:
        """Runs the network (`context [B, context_size]` when conditional)."""
        images = tf.convert_to_tensor(images)
        self.check_images(images)
        context = self.cast_context(context)
        batch = images.shape[0] if images.shape.rank is not None else None
        self.check_context(context, batch)
        x = self.normalize(images)
        logits = self.horizontal_logits(x, self.horizontal_inputs(x, context))
        return tf.reshape(
            logits,
            tf.concat(
                [tf.shape(logits)[:-1], [self.image_shape[2], self.num_logits]], 0
            ),
        )

    def compute_output_shape(
        self, input_shape: Sequence[int | None]
    ) -> tuple[int | None, ...]:
        """Output shape for `input_shape`."""
        return tuple(input_shape) + (self.num_logits,)

    def get_config(self) -> dict[str, Any]:
        """Keras config (for saving): the constructor arguments."""
        config = super().get_config()
        config.update(
            image_shape=self.image_shape,
            num_levels=self.num_levels,
            num_layers=self.num_layers,
            filters=self.filters,
            kernel_size=self.kernel_size,
            input_kernel_size=self.input_kernel_size,
            output_units=self.output_units,
            context_size=self.context_size,
            seed=self.seed,
        )
        return config
