"""PixelRNN (van den Oord, Kalchbrenner & Kavukcuoglu, 2016) as Keras 3 layers.

Three layers follow the paper's Section 3:

* `RowLSTM`: the image is processed row by row, top to bottom, a whole row at
  a time. With `x_i` the input row and `h_{i-1}, c_{i-1}` the previous row's
  hidden and cell states (zero above the image),

      [o_i, f_i, i_i, g_i] = [s, s, s, tanh](K_ss (*) h_{i-1} + K_is (*) x_i)
      c_i = f_i . c_{i-1} + i_i . g_i
      h_i = o_i . tanh(c_i)

  where `(*)` is a convolution along the row, `s` the logistic sigmoid,
  `K_is` a `k x 1` (one row, `k` columns) mask-B convolution computed for
  the whole input map at once, and `K_ss` a `k x 1` unmasked convolution of
  the previous row's state (`k >= 3`, odd). The context of a pixel is a
  triangle above it (plus the pixels to its left that the input layers see).

* `DiagonalBiLSTM`: for each direction the map is skewed (row `r` shifted
  right by `r`, giving `n x (2n - 1)` for an `n x n` map), the input-to-state
  component is a 1 x 1 mask-B convolution, and the state is computed column by
  column of the skewed map with a `2 x 1` convolution over the previous
  column's hidden state (rows `r - 1` and `r`); the cell state runs along the
  column direction. Unskewed, the state of pixel `(i, j)` reads the hidden
  states at `(i, j - 1)` and `(i - 1, j)`. The right-to-left direction runs
  on the mirrored map; its output is shifted down one row and added to the
  left-to-right output, so the context is everything above and to the left
  of the pixel: no blind spot.

  Implementation note: the 1 x 1 input-to-state convolution is computed before
  skewing (it commutes with the skew on every image pixel). The padding of the
  skewed map then carries pre-activations of exactly 0, and an LSTM step with
  zero pre-activations and zero states gives zero states, so the boundary
  states are exactly the zero initial states. This is what lets the cached
  sampler run the same recurrence pixel by pixel.

* `PixelRNN`: a 7 x 7 mask-A convolution with `2h` features, `L` residual
  blocks `x <- x + conv1x1_B(lstm(x))` (the LSTM has `h` units), then two
  `ReLU -> 1 x 1 mask-B convolution` layers, the second producing per-channel
  logits over the pixel levels (`num_levels` logits per colour channel; a
  single Bernoulli logit per channel when `num_levels == 2`).

Conditioning (optional, `context_size=C`): a context vector `z [B, C]` (a
class embedding, a VAE latent) is projected by a bias-free `Dense(4h)` per
LSTM layer and direction, `V z`, and added to that layer's input-to-state
pre-activations at every pixel, as the conditional PixelCNN adds `V^T h` to
every gated layer (van den Oord et al. 2016b; PixelVAE, Gulrajani et al.
2017). The bias is the same at every pixel, so the autoregressive structure
is untouched. (The Diagonal BiLSTM adds it before skewing, so the skewed
map's padding still carries exact zeros.)

All trainable numbers are Keras 3 weights (masked `Conv2D` and `Conv1D`
layers); the recurrences use a bounded `tf.while_loop` and compute their
state-to-state convolutions as matmuls (`_state_product`), so training
compiles under XLA with any batch size and runs at least as fast there as
without XLA.

#### References

[1] Aaron van den Oord, Nal Kalchbrenner, Koray Kavukcuoglu. Pixel Recurrent
    Neural Networks. ICML 2016. https://arxiv.org/abs/1601.06759
[2] Aaron van den Oord et al. Conditional Image Generation with PixelCNN
    Decoders. NeurIPS 2016. https://arxiv.org/abs/1606.05328
[3] Ishaan Gulrajani et al. PixelVAE: A Latent Variable Model for Natural
    Images. ICLR 2017. https://arxiv.org/abs/1611.05013
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

__all__ = ["DiagonalBiLSTM", "PixelRNN", "RowLSTM", "skew", "unskew"]


def _dims(x):
    """`[B, H, W, D]` of a rank-4 tensor: static ints where known, else tensors."""
    dynamic = tf.shape(x)
    return [d if d is not None else dynamic[i] for i, d in enumerate(x.shape)]


def skew(x: TensorLike) -> tf.Tensor:
    """Skews `[B, H, W, D]` to `[B, H, W + H - 1, D]`: row `r` moves right by `r`.

    `skew(x)[:, r, s] = x[:, r, s - r]` for `0 <= s - r < W`, else 0. Done by
    padding each row with `H` zeros, flattening and re-reading the rows with
    length `W + H - 1`, so every row starts one place later.

    #### Examples

    >>> import numpy as np
    >>> x = np.arange(1, 7, dtype="float32").reshape(1, 2, 3, 1)
    >>> np.asarray(skew(x))[0, ..., 0].tolist()
    [[1.0, 2.0, 3.0, 0.0], [0.0, 4.0, 5.0, 6.0]]
    """
    x = tf.convert_to_tensor(x)
    b, h, w, d = _dims(x)
    padded = tf.pad(x, [[0, 0], [0, 0], [0, h], [0, 0]])
    flat = tf.reshape(padded, [b, h * (w + h), d])[:, : h * (w + h - 1)]
    return tf.reshape(flat, [b, h, w + h - 1, d])


def unskew(x: TensorLike, width: int) -> tf.Tensor:
    """Inverse of `skew`: `[B, H, width + H - 1, D]` to `[B, H, width, D]`."""
    x = tf.convert_to_tensor(x)
    b, h, s, d = _dims(x)
    flat = tf.reshape(x, [b, h * s, d])
    flat = tf.pad(flat, [[0, 0], [0, h], [0, 0]])
    return tf.reshape(flat, [b, h, s + 1, d])[:, :, :width]


def _lstm_update(z, c_prev, units):
    """LSTM gates from pre-activations `z [..., 4 * units]` (unit-major)."""
    z = tf.reshape(z, tf.concat([tf.shape(z)[:-1], [units, 4]], 0))
    o = tf.sigmoid(z[..., 0])
    f = tf.sigmoid(z[..., 1])
    i = tf.sigmoid(z[..., 2])
    g = tf.tanh(z[..., 3])
    c = f * c_prev + i * g
    h = o * tf.tanh(c)
    return h, c


def _state_product(taps, kernel):
    """`sum_j taps[j] @ kernel[j]`, as one matmul: `[B, N, 4u]`.

    `taps`: `k` tensors `[B, N, u]` (the hidden states each tap of a `k x 1`
    convolution reads), `kernel`: the `Conv1D` kernel `[k, u, 4u]`. The
    state-to-state convolutions inside the recurrences are computed this way
    rather than by calling the `Conv1D` layer: under XLA on CPU, a
    convolution (and its filter gradient) inside a `tf.while_loop` body runs
    about 10x slower than the same product as a matmul, which made the XLA
    training step of a PixelRNN 3-14x slower than TensorFlow's. The kernel
    (the weight that is trained and saved) is the `Conv1D`'s own.
    """
    k, u, out = kernel.shape
    x = tf.concat(taps, -1) if k > 1 else taps[0]
    shape = tf.shape(x)
    kernel = tf.cast(tf.reshape(kernel, [k * u, out]), x.dtype)
    z = tf.matmul(tf.reshape(x, [-1, k * u]), kernel)
    return tf.reshape(z, tf.concat([shape[:-1], [out]], 0))


def _check_units(units, color_channels, owner, arg_name="units"):
    units = check_positive_int(units, arg_name, owner)
    channel_groups(units, color_channels, arg_name, owner)
    return units


def _initializer(seed, offset):
    """Glorot-uniform kernels (Keras' default), seeded when `seed` is an int.

    Every kernel gets its own seed, `seed * 1009 + offset`, so one integer
    seed fixes all of a network's initial weights.
    """
    if seed is None:
        return "glorot_uniform"
    return keras.initializers.GlorotUniform(seed=int(seed) * 1009 + offset)


def _gate_conv(units, kernel_size, color_channels, name, seed=None):
    # Gate channels are unit-major (unit u, gate q at index 4u + q), so the
    # contiguous colour grouping of the 4*units channels gives every gate of
    # unit u the colour group of u.
    return MaskedConv2D(
        4 * units,
        kernel_size,
        mask_type="B",
        color_channels=color_channels,
        kernel_initializer=_initializer(seed, 0),
        name=name,
    )


def _context_dense(units, context_size, seed, name):
    """Bias-free `Dense(4 * units)` of the context, built (None: unconditional)."""
    if context_size is None:
        return None
    dense = keras.layers.Dense(
        4 * units,
        use_bias=False,
        kernel_initializer=_initializer(seed, 2),
        name=name,
    )
    dense.build((None, context_size))
    return dense


def _add_context(gates, dense, context):
    """`gates [B, ..., 4h] + (context @ V)` broadcast over the pixels."""
    if dense is None:
        return gates
    bias = dense(context)
    extra = gates.shape.rank - 2
    return gates + tf.reshape(
        bias, tf.concat([tf.shape(bias)[:1], [1] * extra, [-1]], 0)
    )


def _scan(step, init, elems):
    """A scan over `elems`' first axis with a bounded trip count.

    XLA needs a bounded loop to compile the gradient of a scan (its
    TensorLists need a maximum size): this is a
    `tf.while_loop(maximum_iterations=n)` over `TensorArray(size=n)`, so
    `model.compile(jit_compile=True)` trains a PixelRNN, with any batch size.
    `n` is the static length, or `tf.shape(elems)[0]` when that is unknown
    (XLA sees every shape at compile time, so it is a constant there too;
    `keras.ops.scan`, used before, fails there: "XLA compilation requires a
    fixed tensor list size").
    Returns `(final_carry, (stacked_h, stacked_c))`.
    """
    n = elems.shape[0]
    if n is None:
        n = tf.shape(elems)[0]
    inputs = tf.TensorArray(elems.dtype, size=n).unstack(elems)
    hs = tf.TensorArray(init[0].dtype, size=n)
    cs = tf.TensorArray(init[1].dtype, size=n)

    def body(i, carry, hs, cs):
        carry, (h, c) = step(carry, inputs.read(i))
        return i + 1, carry, hs.write(i, h), cs.write(i, c)

    _, carry, hs, cs = tf.while_loop(
        lambda i, *_: i < n, body, (tf.constant(0), init, hs, cs), maximum_iterations=n
    )
    return carry, (hs.stack(), cs.stack())


def _check_layer_context(layer, context, owner, batch=None, values_name="images"):
    """ValueError unless `context` fits the layer's `context_size`.

    Conditional: `context` must be `[batch, context_size]`; unconditional:
    `context` must be None (`internal/conditioning.check_network_context`).
    """
    check_network_context(
        context,
        layer.context_size,
        layer.compute_dtype,
        owner,
        rows=batch,
        values_name=values_name,
    )


@keras.saving.register_keras_serializable(package="tfp_flows")
class RowLSTM(keras.layers.Layer):
    """Row LSTM layer of PixelRNN: one row at a time, top to bottom.

    See the module docstring for the equations. Input `[B, H, W, D]` with `D`
    a multiple of `color_channels`; output the hidden states `[B, H, W, units]`.

    Args:
      units: hidden units `h`; a multiple of `color_channels`.
      kernel_size: `k`, width of the input-to-state and the state-to-state
        convolutions along the row; odd and `>= 3`.
      color_channels: colour groups (1 or 3).
      context_size: C for a conditional layer: `call(inputs, context)` adds
        `Dense(4h)(context)` to the input-to-state pre-activations of every
        pixel. None: unconditional.
      seed: integer seed of the kernel initializers (None: unseeded).
      name: layer name.
      **kwargs: passed to `keras.layers.Layer`.

    Raises:
      ValueError: `kernel_size` below 3 or even; `units` not a multiple of
        `color_channels`.

    #### Examples

    >>> import numpy as np
    >>> layer = RowLSTM(4, kernel_size=3)
    >>> layer(np.zeros((2, 5, 6, 2), "float32")).shape
    TensorShape([2, 5, 6, 4])
    """

    def __init__(
        self,
        units: int,
        *,
        kernel_size: int = 3,
        color_channels: int = 1,
        context_size: int | None = None,
        seed: int | None = None,
        name: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(name=name, **kwargs)
        if isinstance(kernel_size, bool) or not isinstance(
            kernel_size, (int, np.integer)
        ):
            raise ValueError(
                "RowLSTM: argument `kernel_size` (state-to-state convolution width) "
                f"must be an odd integer >= 3; got {kernel_size!r}."
            )
        if kernel_size < 3 or kernel_size % 2 == 0:
            raise ValueError(
                "RowLSTM: argument `kernel_size` (state-to-state convolution width) "
                f"must be an odd integer >= 3, as in the paper's k x 1 convolution; "
                f"got {kernel_size}."
            )
        self.units = _check_units(units, color_channels, "RowLSTM")
        self.kernel_size = int(kernel_size)
        self.color_channels = color_channels
        self.seed = seed
        self.input_to_state = _gate_conv(
            self.units, (1, self.kernel_size), color_channels, "input_to_state", seed
        )
        self.state_to_state = keras.layers.Conv1D(
            4 * self.units,
            self.kernel_size,
            padding="same",
            use_bias=False,
            kernel_initializer=_initializer(seed, 1),
            name="state_to_state",
        )
        self.context_size = check_context_size(context_size, "RowLSTM")
        self.context_to_state = _context_dense(
            self.units, self.context_size, seed, "context_to_state"
        )

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Creates the sublayers' weights."""
        self.input_to_state.build(input_shape)
        self.state_to_state.build((None, input_shape[2], self.units))

    def context_bias(self, context: tf.Tensor) -> tf.Tensor | None:
        """`Dense(4h)(context)` `[B, 4h]`, or None for an unconditional layer."""
        if self.context_to_state is None:
            return None
        return self.context_to_state(context)

    def row_step(
        self, gates_row: tf.Tensor, h_prev: tf.Tensor, c_prev: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """One row: `gates_row [B, W, 4h]` (input-to-state), previous states.

        The state-to-state term is the `Conv1D`'s "same" convolution of
        `h_prev` along the row, `sum_j K[j] h_prev[w + j - (k - 1) / 2]`
        (zero outside the row), as one matmul (`_state_product`).
        """
        k, width = self.kernel_size, h_prev.shape[1]
        half = (k - 1) // 2
        padded = tf.pad(h_prev, [[0, 0], [half, half], [0, 0]])
        if width is None:
            width = tf.shape(h_prev)[1]
        taps = [padded[:, j : j + width] for j in range(k)]
        z = gates_row + _state_product(taps, self.state_to_state.kernel)
        return _lstm_update(z, c_prev, self.units)

    def call(self, inputs: tf.Tensor, context: TensorLike | None = None) -> tf.Tensor:
        """Runs the layer (`context [B, C]` for a conditional layer)."""
        if context is not None:
            context = tf.cast(tf.convert_to_tensor(context), self.compute_dtype)
        _check_layer_context(self, context, "RowLSTM", values_name="inputs")
        # [B, H, W, 4h], all rows at once
        gates = _add_context(
            self.input_to_state(inputs), self.context_to_state, context
        )
        b, w = tf.shape(inputs)[0], tf.shape(inputs)[2]
        zeros = tf.zeros(tf.stack([b, w, self.units]), dtype=gates.dtype)

        def step(carry, gates_row):
            h, c = self.row_step(gates_row, *carry)
            # Keras' TF scan wants the per-step outputs shaped like the carry.
            return (h, c), (h, c)

        _, (hs, _) = _scan(step, (zeros, zeros), tf.transpose(gates, [1, 0, 2, 3]))
        return tf.transpose(hs, [1, 0, 2, 3])

    def compute_output_shape(
        self, input_shape: Sequence[int | None]
    ) -> tuple[int | None, ...]:
        """Output shape for `input_shape`."""
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self) -> dict[str, Any]:
        """Keras config (for saving): the constructor arguments."""
        config = super().get_config()
        config.update(
            units=self.units,
            kernel_size=self.kernel_size,
            color_channels=self.color_channels,
            context_size=self.context_size,
            seed=self.seed,
        )
        return config


class _DiagonalLSTM(keras.layers.Layer):
    """One direction (left to right) of the Diagonal BiLSTM."""

    def __init__(
        self, units, color_channels, seed=None, context_size=None, name=None, **kwargs
    ):
        super().__init__(name=name, **kwargs)
        self.units = units
        self.context_to_state = _context_dense(
            units, context_size, seed, "context_to_state"
        )
        self.input_to_state = _gate_conv(
            units, 1, color_channels, "input_to_state", seed
        )
        # Column-wise 2 x 1 convolution along the rows of a skewed column:
        # causal padding gives z[r] = K[0] h[r - 1] + K[1] h[r].
        self.state_to_state = keras.layers.Conv1D(
            4 * units,
            2,
            padding="causal",
            use_bias=False,
            kernel_initializer=_initializer(seed, 1),
            name="state_to_state",
        )

    def build(self, input_shape):
        """Creates the sublayers' weights."""
        self.input_to_state.build(input_shape)
        self.state_to_state.build((None, input_shape[1], self.units))

    def pixel_step(self, gates, h_up, h_left, c_left):
        """The unskewed recurrence at one pixel (used by the cached sampler)."""
        kernel = self.state_to_state.kernel
        z = gates + tf.matmul(h_up, kernel[0]) + tf.matmul(h_left, kernel[1])
        return _lstm_update(z, c_left, self.units)

    def context_bias(self, context):
        """`Dense(4h)(context)` `[B, 4h]`, or None for an unconditional layer."""
        if self.context_to_state is None:
            return None
        return self.context_to_state(context)

    def call(self, inputs, context=None):
        """Runs the layer."""
        width = _dims(inputs)[2]
        # The context bias goes in before skewing: the padding stays exactly 0.
        gates = _add_context(
            self.input_to_state(inputs), self.context_to_state, context
        )
        gates = skew(gates)  # [B, H, S, 4h]
        b, h = tf.shape(inputs)[0], tf.shape(inputs)[1]
        zeros = tf.zeros(tf.stack([b, h, self.units]), dtype=gates.dtype)

        def step(carry, gates_col):
            h_prev, c_prev = carry
            # The causal 2 x 1 convolution: z[r] = K[0] h[r - 1] + K[1] h[r].
            h_up = tf.pad(h_prev, [[0, 0], [1, 0], [0, 0]])[:, :-1]
            z = gates_col + _state_product([h_up, h_prev], self.state_to_state.kernel)
            h_new, c_new = _lstm_update(z, c_prev, self.units)
            return (h_new, c_new), (h_new, c_new)

        _, (hs, _) = _scan(step, (zeros, zeros), tf.transpose(gates, [2, 0, 1, 3]))
        return unskew(tf.transpose(hs, [1, 2, 0, 3]), width)


@keras.saving.register_keras_serializable(package="tfp_flows")
class DiagonalBiLSTM(keras.layers.Layer):
    """Diagonal BiLSTM layer of PixelRNN (both directions, no blind spot).

    Input `[B, H, W, D]` (`D` a multiple of `color_channels`); output
    `[B, H, W, units]`: the left-to-right diagonal LSTM's hidden states plus
    the right-to-left one's shifted down by one row.

    Args:
      units: hidden units `h` per direction; a multiple of `color_channels`.
      color_channels: colour groups (1 or 3).
      context_size: C for a conditional layer: `call(inputs, context)` adds a
        `Dense(4h)(context)` per direction to its input-to-state
        pre-activations. None: unconditional.
      seed: integer seed of the kernel initializers (None: unseeded).
      name: layer name.
      **kwargs: passed to `keras.layers.Layer`.

    #### Examples

    >>> import numpy as np
    >>> layer = DiagonalBiLSTM(4)
    >>> layer(np.zeros((2, 5, 6, 2), "float32")).shape
    TensorShape([2, 5, 6, 4])
    """

    def __init__(
        self,
        units: int,
        *,
        color_channels: int = 1,
        context_size: int | None = None,
        seed: int | None = None,
        name: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(name=name, **kwargs)
        self.units = _check_units(units, color_channels, "DiagonalBiLSTM")
        self.color_channels = color_channels
        self.context_size = check_context_size(context_size, "DiagonalBiLSTM")
        self.seed = seed
        self.left_to_right = _DiagonalLSTM(
            self.units,
            color_channels,
            None if seed is None else 2 * int(seed),
            self.context_size,
            name="left_to_right",
        )
        self.right_to_left = _DiagonalLSTM(
            self.units,
            color_channels,
            None if seed is None else 2 * int(seed) + 1,
            self.context_size,
            name="right_to_left",
        )

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Creates the sublayers' weights."""
        self.left_to_right.build(input_shape)
        self.right_to_left.build(input_shape)

    def call(self, inputs: tf.Tensor, context: TensorLike | None = None) -> tf.Tensor:
        """Runs the layer (`context [B, C]` for a conditional layer)."""
        if context is not None:
            context = tf.cast(tf.convert_to_tensor(context), self.compute_dtype)
        _check_layer_context(self, context, "DiagonalBiLSTM", values_name="inputs")
        forward = self.left_to_right(inputs, context)
        backward = tf.reverse(self.right_to_left(tf.reverse(inputs, [2]), context), [2])
        # Shift down one row: pixel (i, j) gets the right-to-left state of
        # (i - 1, j), whose context (rows <= i - 1) is all in the past.
        backward = tf.pad(backward, [[0, 0], [1, 0], [0, 0], [0, 0]])[:, :-1]
        return forward + backward

    def compute_output_shape(
        self, input_shape: Sequence[int | None]
    ) -> tuple[int | None, ...]:
        """Output shape for `input_shape`."""
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self) -> dict[str, Any]:
        """Keras config (for saving): the constructor arguments."""
        config = super().get_config()
        config.update(
            units=self.units,
            color_channels=self.color_channels,
            context_size=self.context_size,
            seed=self.seed,
        )
        return config


@keras.saving.register_keras_serializable(package="tfp_flows")
class PixelRNN(keras.layers.Layer):
    """The PixelRNN network: integer images to per-pixel, per-channel logits.

    `7 x 7 mask A conv (2h)` -> `L x [x + conv1x1_B(LSTM_h(x))]` ->
    `ReLU -> 1 x 1 mask B conv (output_units)` -> `ReLU -> 1 x 1 mask B conv
    (logits)`. Logits at `(i, j, c)` depend only on pixels before `(i, j)` in
    raster order and on channels `< c` of pixel `(i, j)`.

    The layer is built at construction for `image_shape`, so its weights exist
    at once. Inputs are images of levels `0..num_levels-1` (any real dtype;
    they are scaled to `[-1, 1]`).

    Args:
      image_shape: `(H, W, C)`; `C` colour channels (1 or 3).
      num_levels: pixel levels (256 for 8-bit images, 17 for the digits, 2 for
        binary images: then one Bernoulli logit per channel).
      layer_type: `'row'` (Row LSTM) or `'diagonal'` (Diagonal BiLSTM).
      num_layers: `L`, the number of LSTM layers (residual blocks).
      hidden_units: `h`, LSTM units; the residual stream has `2h` features.
        A multiple of `C`.
      output_units: features of the first 1 x 1 output layer; a multiple of C.
      kernel_size: Row LSTM `k` (odd, >= 3); unused for `'diagonal'`.
      context_size: C for a conditional network `p(x | z)`: `call(images,
        context=z)` with `z [B, C]`, projected by a bias-free `Dense` per LSTM
        layer (and direction) and added to its input-to-state pre-activations
        at every pixel. None (default): unconditional.
      seed: integer seed of every kernel initializer: the same seed gives
        the same initial weights (None: Keras' unseeded initializers).
      name: layer name.
      **kwargs: passed to `keras.layers.Layer`.

    Returns (when called):
      logits `[B, H, W, C, n]` with `n = num_levels` (or 1 when
      `num_levels == 2`).

    Raises:
      ValueError: bad arguments; called with the wrong image shape; a context
        missing (conditional), given (unconditional) or not `[B, C]`.

    #### Examples

    >>> import numpy as np
    >>> net = PixelRNN((4, 4, 1), num_levels=17, hidden_units=4, output_units=8)
    >>> net(np.zeros((3, 4, 4, 1), "int32")).shape
    TensorShape([3, 4, 4, 1, 17])

    Conditional on a 2-D vector (e.g. a VAE's latent):

    >>> cond = PixelRNN((4, 4, 1), num_levels=2, hidden_units=2, output_units=4,
    ...                 context_size=2)
    >>> cond(np.zeros((3, 4, 4, 1), "int32"), context=np.ones((3, 2), "float32")).shape
    TensorShape([3, 4, 4, 1, 1])
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        *,
        num_levels: int = 256,
        layer_type: str = "diagonal",
        num_layers: int = 2,
        hidden_units: int = 16,
        output_units: int = 32,
        kernel_size: int = 3,
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
                "PixelRNN: argument `image_shape` must be (height, width, channels) "
                f"of positive integers; got {image_shape!r}."
            )
        if layer_type not in ("row", "diagonal"):
            raise ValueError(
                "PixelRNN: argument `layer_type` must be 'row' or 'diagonal'; "
                f"got {layer_type!r}."
            )
        self.image_shape = tuple(int(d) for d in image_shape)
        height, width, channels = self.image_shape
        self.num_levels = check_positive_int(num_levels, "num_levels", "PixelRNN", 2)
        self.layer_type = layer_type
        self.num_layers = check_positive_int(num_layers, "num_layers", "PixelRNN")
        self.hidden_units = _check_units(
            hidden_units, channels, "PixelRNN", "hidden_units"
        )
        self.output_units = check_positive_int(output_units, "output_units", "PixelRNN")
        channel_groups(self.output_units, channels, "output_units", "PixelRNN")
        self.kernel_size = kernel_size
        self.context_size = check_context_size(context_size, "PixelRNN")
        if seed is not None and (
            isinstance(seed, bool)
            or not isinstance(seed, (int, np.integer))
            or seed < 0
        ):
            raise ValueError(
                "PixelRNN: argument `seed` must be None or a non-negative integer; "
                f"got {seed!r}."
            )
        self.seed = None if seed is None else int(seed)
        self.num_logits = 1 if self.num_levels == 2 else self.num_levels
        width2 = 2 * self.hidden_units
        # Distinct initializer seeds: sub-seed `1000 * seed + k`; the LSTMs use
        # offsets 0, 1 of it (see `_initializer`), this layer's convs 2..5.
        base = None if self.seed is None else 1000 * self.seed

        def init(k, offset):
            return _initializer(None if base is None else base + k, offset)

        def sub_seed(k):
            return None if base is None else base + k

        self.input_conv = MaskedConv2D(
            width2,
            7,
            mask_type="A",
            color_channels=channels,
            kernel_initializer=init(0, 2),
            name="input_conv",
        )
        self.lstms, self.projections = [], []
        for k in range(self.num_layers):
            if layer_type == "row":
                lstm = RowLSTM(
                    self.hidden_units,
                    kernel_size=kernel_size,
                    color_channels=channels,
                    context_size=self.context_size,
                    seed=sub_seed(k),
                    name=f"row_lstm_{k}",
                )
            else:
                lstm = DiagonalBiLSTM(
                    self.hidden_units,
                    color_channels=channels,
                    context_size=self.context_size,
                    seed=sub_seed(k),
                    name=f"diag_bilstm_{k}",
                )
            self.lstms.append(lstm)
            self.projections.append(
                MaskedConv2D(
                    width2,
                    1,
                    mask_type="B",
                    color_channels=channels,
                    kernel_initializer=init(k, 3),
                    name=f"residual_{k}",
                )
            )
        self.hidden_conv = MaskedConv2D(
            self.output_units,
            1,
            mask_type="B",
            color_channels=channels,
            kernel_initializer=init(0, 4),
            name="output_1",
        )
        self.logits_conv = MaskedConv2D(
            channels * self.num_logits,
            1,
            mask_type="B",
            color_channels=channels,
            kernel_initializer=init(0, 5),
            name="output_logits",
        )
        self.build((None,) + self.image_shape)

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Creates the sublayers' weights."""
        h, w, _ = self.image_shape
        stream = (None, h, w, 2 * self.hidden_units)
        self.input_conv.build((None,) + self.image_shape)
        for lstm, proj in zip(self.lstms, self.projections, strict=True):
            lstm.build(stream)
            proj.build((None, h, w, self.hidden_units))
        self.hidden_conv.build(stream)
        self.logits_conv.build((None, h, w, self.output_units))

    # -- pieces shared by the parallel pass and the cached sampler ---------

    def normalize(self, images: TensorLike) -> tf.Tensor:
        """Levels `0..num_levels-1` to floats in `[-1, 1]`."""
        x = tf.cast(images, self.compute_dtype)
        return x * (2.0 / (self.num_levels - 1)) - 1.0

    def head(self, stream: tf.Tensor) -> tf.Tensor:
        """Two `ReLU -> 1 x 1 mask-B conv` layers: stream to flat logits."""
        hidden = self.hidden_conv(tf.nn.relu(stream))
        return self.logits_conv(tf.nn.relu(hidden))

    def check_images(
        self, images: tf.Tensor, arg_name: str = "images", owner: str = "PixelRNN"
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
                f"colour channels; the masks group features into "
                f"{self.image_shape[2]} colour group(s)); got shape "
                f"{shape.as_list()}."
            )

    def check_context(
        self,
        context: tf.Tensor | None,
        batch: int | None = None,
        owner: str = "PixelRNN",
    ) -> None:
        """ValueError unless `context` is None (unconditional) / `[batch, C]`."""
        _check_layer_context(self, context, owner, batch)

    def cast_context(
        self, context: TensorLike | None, owner: str = "PixelRNN"
    ) -> tf.Tensor | None:
        """`context` as a tensor of the compute dtype (None stays None).

        Raises:
          ValueError: `context` is not of a real (float or integer) dtype,
            or not `[..., context_size]`.
        """
        if context is None:
            return None
        return check_context(
            context, [self.context_size], self.compute_dtype, owner, cast=True
        )

    def call(self, images: TensorLike, context: TensorLike | None = None) -> tf.Tensor:
        """Runs the layer (`context [B, C]` for a conditional network)."""
        images = tf.convert_to_tensor(images)
        self.check_images(images)
        if images.shape.rank == 4:
            # The image size is the model's: static from here on (a traced
            # signature may leave it unknown), so are the recurrences' trip
            # counts; only the batch stays dynamic.
            images = tf.ensure_shape(images, (None,) + self.image_shape)
        context = self.cast_context(context)
        batch = images.shape[0] if images.shape.rank is not None else None
        self.check_context(context, batch)
        stream = self.input_conv(self.normalize(images))
        for lstm, proj in zip(self.lstms, self.projections, strict=True):
            stream = stream + proj(lstm(stream, context))
        logits = self.head(stream)
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
        """Keras config (for saving)."""
        config = super().get_config()
        config.update(
            image_shape=self.image_shape,
            num_levels=self.num_levels,
            layer_type=self.layer_type,
            num_layers=self.num_layers,
            hidden_units=self.hidden_units,
            output_units=self.output_units,
            kernel_size=self.kernel_size,
            context_size=self.context_size,
            seed=self.seed,
        )
        return config
