"""Masked 2-D convolution with PixelRNN/PixelCNN colour-channel grouping.

The pixels of an image are ordered in raster order (rows top to bottom, each
row left to right) and, inside a pixel, colour channel by colour channel
(R -> G -> B). A masked convolution only lets an output at pixel `(i, j)`
read inputs at pixels strictly before `(i, j)` in raster order, plus, at
`(i, j)` itself, the inputs whose colour group may be seen:

    mask A (first layer):  input group  < output group
    mask B (later layers): input group <= output group

Feature channels are split into `color_channels` contiguous groups of equal
size (for 3 colours: the first third of the features is "R", the second
"G", the last "B"), as in van den Oord et al. (2016), Section 3.4. With one
colour channel there is one group: mask A hides the centre pixel, mask B
shows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from tfp_flows.internal.keras import keras

__all__ = ["MaskedConv2D", "channel_groups", "pixel_mask"]


def channel_groups(
    num_channels: int, color_channels: int, arg_name: str, owner: str
) -> np.ndarray:
    """Colour group (0..color_channels-1) of each of `num_channels` features.

    Args:
      num_channels: number of feature channels.
      color_channels: number of colour groups (1 or 3 for images).
      arg_name: name of the argument reported in errors.
      owner: class or function reported in errors.

    Returns:
      int numpy array `[num_channels]`; contiguous equal blocks.

    Raises:
      ValueError: if `num_channels` is not a positive multiple of
        `color_channels`.

    #### Examples

    >>> channel_groups(6, 3, "filters", "demo").tolist()
    [0, 0, 1, 1, 2, 2]
    """
    if num_channels < 1 or num_channels % color_channels != 0:
        raise ValueError(
            f"{owner}: argument `{arg_name}` must be a positive multiple of "
            f"color_channels={color_channels} so that features split into "
            f"{color_channels} colour groups; got {num_channels}."
        )
    return np.arange(num_channels) // (num_channels // color_channels)


def pixel_mask(
    kernel_size: tuple[int, int],
    in_groups: np.ndarray,
    out_groups: np.ndarray,
    mask_type: str,
) -> np.ndarray:
    """The 0/1 kernel mask `[kh, kw, in, out]` of a masked convolution.

    Args:
      kernel_size: `(kh, kw)`, both odd; the centre is `(kh // 2, kw // 2)`.
      in_groups: colour group of each input channel.
      out_groups: colour group of each output channel.
      mask_type: `'A'` (centre: input group < output group) or `'B'`
        (centre: input group <= output group).

    Returns:
      float32 numpy array.
    """
    kh, kw = kernel_size
    ci, cj = kh // 2, kw // 2
    mask = np.zeros((kh, kw, len(in_groups), len(out_groups)), np.float32)
    mask[:ci] = 1.0  # rows above the centre
    mask[ci, :cj] = 1.0  # left of the centre, same row
    if mask_type == "A":
        centre = in_groups[:, None] < out_groups[None, :]
    else:
        centre = in_groups[:, None] <= out_groups[None, :]
    mask[ci, cj] = centre.astype(np.float32)
    return mask


@keras.saving.register_keras_serializable(package="tfp_flows")
class MaskedConv2D(keras.layers.Conv2D):
    """A Keras 3 `Conv2D` whose kernel is masked for autoregressive images.

    `y = conv2d(x, kernel * mask) + bias` with the mask of `pixel_mask`: an
    output at pixel `(i, j)` and colour group `g` depends only on inputs at
    earlier pixels and, at `(i, j)`, on input groups `< g` (mask A) or
    `<= g` (mask B). Stride 1 and `'same'` padding, so the output map has the
    input's height and width.

    Args:
      filters: output channels; a multiple of `color_channels`.
      kernel_size: int or `(kh, kw)`, odd sizes (e.g. 7, `(1, 3)`, 1).
      mask_type: `'A'` for the first layer (a channel does not see itself
        at the current pixel), `'B'` for later layers.
      color_channels: colour groups of the image (1 or 3; any count >= 1).
      **kwargs: passed to `keras.layers.Conv2D` (activation, use_bias,
        initializers, name, dtype...). `strides`, `padding`, `dilation_rate`
        and `groups` are fixed.

    Raises:
      ValueError: bad `mask_type`, an even kernel size, `filters` or the
        input channel count not a multiple of `color_channels`.

    #### Examples

    >>> import numpy as np
    >>> conv = MaskedConv2D(3, 3, mask_type="A", color_channels=3)
    >>> tuple(conv(np.zeros((1, 4, 4, 3), "float32")).shape)
    (1, 4, 4, 3)
    >>> conv.mask[1, 1].astype(int).tolist()  # centre: G sees R, B sees R, G
    [[0, 1, 1], [0, 0, 1], [0, 0, 0]]

    #### References

    [1] Aaron van den Oord, Nal Kalchbrenner, Koray Kavukcuoglu. Pixel
        Recurrent Neural Networks. ICML 2016. https://arxiv.org/abs/1601.06759
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, int],
        *,
        mask_type: str = "B",
        color_channels: int = 1,
        **kwargs: Any,
    ):
        for fixed in ("strides", "padding", "dilation_rate", "groups"):
            if fixed in kwargs:
                raise ValueError(
                    f"MaskedConv2D: argument `{fixed}` is fixed (stride 1, 'same' "
                    f"padding, no dilation, one group); got {fixed}={kwargs[fixed]!r}."
                )
        if mask_type not in ("A", "B"):
            raise ValueError(
                f"MaskedConv2D: argument `mask_type` must be 'A' or 'B'; "
                f"got {mask_type!r}."
            )
        if isinstance(color_channels, bool) or not isinstance(color_channels, int):
            raise ValueError(
                "MaskedConv2D: argument `color_channels` must be an integer >= 1; "
                f"got {color_channels!r}."
            )
        if color_channels < 1:
            raise ValueError(
                "MaskedConv2D: argument `color_channels` must be an integer >= 1; "
                f"got {color_channels}."
            )
        ks: tuple[int, ...] = (
            (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        )
        ks = tuple(int(k) for k in ks)
        if len(ks) != 2 or any(k < 1 or k % 2 == 0 for k in ks):
            raise ValueError(
                "MaskedConv2D: argument `kernel_size` must be odd sizes (kh, kw) "
                f"so the current pixel is the kernel centre; got {kernel_size!r}."
            )
        self.out_groups = channel_groups(
            filters, color_channels, "filters", "MaskedConv2D"
        )
        super().__init__(filters, ks, padding="same", **kwargs)
        self.mask_type = mask_type
        self.color_channels = color_channels
        self.mask: np.ndarray | None = None

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Creates the sublayers' weights."""
        in_channels = input_shape[-1]
        if in_channels is None:
            raise ValueError(
                "MaskedConv2D: the input's channel dimension must be known; got "
                f"input shape {tuple(input_shape)}."
            )
        in_groups = channel_groups(
            int(in_channels),
            self.color_channels,
            "inputs (channel dimension)",
            "MaskedConv2D",
        )
        self.mask = pixel_mask(
            self.kernel_size, in_groups, self.out_groups, self.mask_type
        )
        super().build(input_shape)

    def masked_kernel(self) -> tf.Tensor:
        """The kernel times the mask (what the convolution uses)."""
        return self.kernel * self.mask

    def convolution_op(self, inputs: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
        """Convolution with the masked kernel."""
        if inputs.shape[-1] is not None and self.mask is not None:
            if inputs.shape[-1] != self.mask.shape[2]:
                raise ValueError(
                    f"MaskedConv2D: argument `inputs` must have "
                    f"{self.mask.shape[2]} channels (the layer was built for that); "
                    f"got shape {tuple(inputs.shape)}."
                )
        return super().convolution_op(inputs, kernel * self.mask)

    def get_config(self) -> dict[str, Any]:
        """Keras config (for saving)."""
        config = super().get_config()
        for fixed in ("strides", "padding", "dilation_rate", "groups"):
            config.pop(fixed, None)
        config.update(mask_type=self.mask_type, color_channels=self.color_channels)
        return config
