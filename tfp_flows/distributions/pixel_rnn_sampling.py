"""Not public API: pixel-by-pixel loops of a `PixelRNN` (sampling, completion).

The loop itself (`autoregressive_loop`) takes any network with the
autoregressive-image interface; the cached steps are the network's own
(`PixelRNNSteps` here, `GatedPixelCNNSteps` beside the Gated PixelCNN's
distribution). For a PixelRNN there are two loops over pixels in raster order
and, inside a pixel, colour channels:

* cached: keeps the recurrent states of finished rows and the columns of
  the current row computed so far, so a new pixel costs about one pixel's
  work (Row LSTM: the state at `(i, j)` reads `k//2 + 1` input columns of
  row `i` and `k` hidden-state columns of row `i - 1`; Diagonal BiLSTM: the
  left-to-right state of a pixel reads the state above it and the one to
  its left; the right-to-left states of a row are computed once, when the
  row is done).
* uncached: re-runs the whole network for every pixel and channel, as
  `tfd.PixelCNN` does.

Both return the image and the logits used at each `(i, j, c)`; with every
pixel given (`num_known = H * W`) they are teacher-forced and their logits
must equal the parallel pass `PixelRNN(images)` (tested).

Why the cached step is lean (its cost at small sizes is per-operation
overhead of the compiled loop, not arithmetic, so it does few, fat ops):

1. Work that is fixed for a whole row is done once per row: the 7 x 7
   mask-A convolution's rows above the current one (`above`), the sampling
   noise of the row, the row's given pixels (completion), and writing the
   finished row into the image.
2. Inside the row a step touches row-sized buffers only: the current row's
   values, and per layer the row's input stream and states.
3. Each step is a handful of matrix products: the current-row part of the
   7 x 7 convolution (the 3 pixels to the left and the centre), one product
   per LSTM layer for its whole pre-activation (input-to-state and
   state-to-state windows concatenated against kernels concatenated once,
   outside the loop), one per residual projection and two for the output
   head (1 x 1 convolutions as matrix products).
4. Sampling is Gumbel-max on noise drawn once per row:
   `argmax(logits - log(-log u))` is a categorical draw, `u < sigmoid(l)` a
   Bernoulli one. The uncached loop uses the same noise, so for one seed the
   two loops draw the same images.

Why the state after the last channel of a pixel is exact: colour group `g`
of every feature at the current pixel sees channels `< g` of the pixel (mask
A, then mask B keeps groups apart), so the step that samples channel `c`
computes groups `<= c` correctly; the step of the last channel computes every
group correctly, and its states are the ones kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from tfp_flows.internal.types import TensorLike
from tfp_flows.nn.pixel_rnn import _lstm_update

__all__ = ["PixelRNNSteps", "autoregressive_loop"]


def _set_column(row, j, value):
    """`row [B, W, ...]` with column `j` replaced by `value [B, ...]`."""
    onehot = tf.one_hot(j, tf.shape(row)[1], dtype=row.dtype)
    onehot = tf.reshape(onehot, [1, -1] + [1] * (row.shape.rank - 2))
    return row * (1.0 - onehot) + onehot * value[:, None]


def _plus(x, bias):
    """`x + bias` (None: no conditioning)."""
    return x if bias is None else x + bias


def _flat_window(row, start, size):
    """Columns `start..start+size-1` of `row [B, W, D]` as `[B, size * D]`."""
    window = tf.slice(row, [0, start, 0], [-1, size, -1])
    return tf.reshape(window, [-1, size * row.shape[-1]])


class _Weights:
    """The kernels a step multiplies with, masked and reshaped once."""

    # Per LSTM layer `(kernel, bias)` of the gates, set by `_RowCache.weights`
    # / `_DiagonalCache.weights`.
    gates: list[tuple[Any, Any]]

    def __init__(self, net):
        conv = net.input_conv
        kernel = conv.masked_kernel()  # [7, 7, C, 2h]
        channels = kernel.shape[2]
        # Rows above the centre (once per row) and the centre row's 3 pixels
        # to the left plus the centre (per step; right of it is masked).
        self.above_kernel = kernel[:3]
        self.row_kernel = tf.reshape(kernel[3, :4], [4 * channels, -1])
        self.input_bias = conv.bias
        self.projections = [(p.masked_kernel()[0, 0], p.bias) for p in net.projections]
        self.head = [
            (c.masked_kernel()[0, 0], c.bias)
            for c in (net.hidden_conv, net.logits_conv)
        ]

    def head_logits(self, stream):
        (k1, b1), (k2, b2) = self.head
        hidden = tf.matmul(tf.nn.relu(stream), k1) + b1
        return tf.matmul(tf.nn.relu(hidden), k2) + b2


class _RowCache:
    """Row LSTM, per layer: column-wise work per pixel.

    The state of pixel `(i, j)` reads the layer's input stream at columns
    `j - k//2 .. j` of row `i` (the masked k x 1 input-to-state conv; columns
    right of `j` are masked) and the previous row's hidden state at columns
    `j - k//2 .. j + k//2`. So each step computes one column of every layer
    and keeps, for the current row, the input streams seen so far (`inputs`,
    left-padded with `k//2` zero columns as the parallel pass's 'same'
    padding) and the new states (`h`, `c`); `prev_h` (padded both sides) and
    `prev_c` are the finished previous row's.
    """

    @staticmethod
    def weights(net):
        w = _Weights(net)
        half = net.kernel_size // 2
        w.gates = []
        for lstm in net.lstms:
            k_in = lstm.input_to_state.masked_kernel()[0, : half + 1]  # [h+1, 2u, 4u]
            k_ss = lstm.state_to_state.kernel  # [k, u, 4u]
            w.gates.append(
                (
                    tf.concat(
                        [
                            tf.reshape(k_in, [-1, k_in.shape[-1]]),
                            tf.reshape(k_ss, [-1, k_ss.shape[-1]]),
                        ],
                        0,
                    ),
                    lstm.input_to_state.bias,
                )
            )
        return w

    @staticmethod
    def context_biases(net, context):
        return [lstm.context_bias(context) for lstm in net.lstms]

    @staticmethod
    def init(net, batch, dtype):
        _, w, _ = net.image_shape
        half = net.kernel_size // 2
        units = net.hidden_units
        z = tf.zeros([batch, w, units], dtype)
        zp = tf.zeros([batch, w + 2 * half, units], dtype)
        zi = tf.zeros([batch, w + half, 2 * units], dtype)
        layer = {"prev_h": zp, "prev_c": z, "h": z, "c": z, "inputs": zi}
        return [dict(layer) for _ in net.lstms]

    @staticmethod
    def pixel(net, weights, stream, cache, j, biases):
        k = net.kernel_size
        half = k // 2
        new = []
        for lstm, st, (kernel, bias), (p_kernel, p_bias), ctx in zip(
            net.lstms, cache, weights.gates, weights.projections, biases, strict=True
        ):
            # Column j of the padded input row is index j + half.
            inputs = _set_column(st["inputs"], j + half, stream)
            window = tf.concat(
                [
                    _flat_window(inputs, j, half + 1),
                    _flat_window(st["prev_h"], j, k),
                ],
                -1,
            )
            z = _plus(tf.matmul(window, kernel) + bias, ctx)
            c_prev = tf.reshape(
                tf.slice(st["prev_c"], [0, j, 0], [-1, 1, -1]), [-1, lstm.units]
            )
            h, c = _lstm_update(z, c_prev, lstm.units)
            new.append(
                {
                    "prev_h": st["prev_h"],
                    "prev_c": st["prev_c"],
                    "h": _set_column(st["h"], j, h),
                    "c": _set_column(st["c"], j, c),
                    "inputs": inputs,
                }
            )
            stream = stream + tf.matmul(h, p_kernel) + p_bias
        return weights.head_logits(stream), new

    @staticmethod
    def end_row(net, weights, cache, biases):
        del weights, biases
        half = net.kernel_size // 2
        return [
            {
                "prev_h": tf.pad(st["h"], [[0, 0], [half, half], [0, 0]]),
                "prev_c": st["c"],
                "h": st["h"],
                "c": st["c"],
                "inputs": st["inputs"],
            }
            for st in cache
        ]


class _DiagonalCache:
    """Diagonal BiLSTM, per layer.

    `l2r_prev`/`l2r_h`/`l2r_c`: left-to-right hidden states of the previous
    row, hidden and cell states of the current row; `r2l_prev`: right-to-left
    hidden states of the previous row (what is shifted down into this row);
    `inputs`: the layer's input stream along the current row.
    """

    @staticmethod
    def weights(net):
        w = _Weights(net)
        w.gates = []
        for lstm in net.lstms:
            l2r = lstm.left_to_right
            k_ss = l2r.state_to_state.kernel  # [2, u, 4u]: (up, left)
            w.gates.append(
                (
                    tf.concat(
                        [l2r.input_to_state.masked_kernel()[0, 0], k_ss[0], k_ss[1]], 0
                    ),
                    l2r.input_to_state.bias,
                )
            )
        return w

    @staticmethod
    def context_biases(net, context):
        return [
            (
                lstm.left_to_right.context_bias(context),
                lstm.right_to_left.context_bias(context),
            )
            for lstm in net.lstms
        ]

    @staticmethod
    def init(net, batch, dtype):
        _, w, _ = net.image_shape
        units = net.hidden_units
        z = tf.zeros([batch, w, units], dtype)
        zl = tf.zeros([batch, w + 1, units], dtype)  # left-padded by one
        zi = tf.zeros([batch, w, 2 * units], dtype)
        layer = {
            "l2r_prev": z,
            "l2r_h": zl,
            "l2r_c": zl,
            "r2l_prev": z,
            "inputs": zi,
        }
        return [dict(layer) for _ in net.lstms]

    @staticmethod
    def pixel(net, weights, stream, cache, j, biases):
        new = []
        for lstm, st, (kernel, bias), (p_kernel, p_bias), (ctx, _) in zip(
            net.lstms, cache, weights.gates, weights.projections, biases, strict=True
        ):
            # l2r_h / l2r_c are left-padded: column j - 1 is index j (zero at
            # j = 0, the boundary's zero state); column j is index j + 1.
            h_left = _flat_window(st["l2r_h"], j, 1)
            c_left = _flat_window(st["l2r_c"], j, 1)
            h_up = _flat_window(st["l2r_prev"], j, 1)
            z = tf.matmul(tf.concat([stream, h_up, h_left], -1), kernel) + bias
            h, c = _lstm_update(_plus(z, ctx), c_left, lstm.units)
            r2l_up = _flat_window(st["r2l_prev"], j, 1)
            new.append(
                {
                    "l2r_prev": st["l2r_prev"],
                    "l2r_h": _set_column(st["l2r_h"], j + 1, h),
                    "l2r_c": _set_column(st["l2r_c"], j + 1, c),
                    "r2l_prev": st["r2l_prev"],
                    "inputs": _set_column(st["inputs"], j, stream),
                }
            )
            stream = stream + tf.matmul(h + r2l_up, p_kernel) + p_bias
        return weights.head_logits(stream), new

    @staticmethod
    def end_row(net, weights, cache, biases):
        del weights
        new = []
        for lstm, st, (_, bias) in zip(net.lstms, cache, biases, strict=True):
            r2l = lstm.right_to_left
            gates = r2l.input_to_state(st["inputs"][:, None])[:, 0]  # [B, W, 4h]
            if bias is not None:
                gates = gates + bias[:, None, :]
            h_up = st["r2l_prev"]
            # Right to left along the row: state (i, j) reads (i, j + 1) and
            # (i - 1, j); zero right of the image.
            gates_t = tf.reverse(tf.transpose(gates, [1, 0, 2]), [0])
            h_up_t = tf.reverse(tf.transpose(h_up, [1, 0, 2]), [0])
            zero = tf.zeros_like(h_up[:, 0])

            def body(carry, xs, r2l=r2l):
                g, hu = xs
                return r2l.pixel_step(g, hu, *carry)

            hs, _ = tf.scan(body, (gates_t, h_up_t), initializer=(zero, zero))
            row = tf.transpose(tf.reverse(hs, [0]), [1, 0, 2])
            new.append(
                {
                    "l2r_prev": st["l2r_h"][:, 1:],
                    "l2r_h": st["l2r_h"],
                    "l2r_c": st["l2r_c"],
                    "r2l_prev": row,
                    "inputs": st["inputs"],
                }
            )
        return new


def _any_batch(loop_vars):
    """Loop-variable shapes with the batch dimension left open.

    The batch size is a tensor (`tf.shape(image)[0]`) inside the loop bodies,
    so a loop entered with a static batch (e.g. `sample(1)`: shape `[1, ...]`)
    would come out of one iteration as `[None, ...]`, which `tf.while_loop`
    rejects unless the invariant says the batch may vary. Scalars (counters)
    keep their shape.
    """

    def relax(t):
        shape = tf.TensorShape(t.shape) if hasattr(t, "shape") else tf.TensorShape([])
        if shape.rank is None or shape.rank == 0:
            return shape
        return tf.TensorShape([None]).concatenate(shape[1:])

    return tf.nest.map_structure(relax, loop_vars)


class PixelRNNSteps:
    """The cached steps of a `PixelRNN` (`_RowCache` / `_DiagonalCache`).

    The interface `autoregressive_loop` runs for any network's cached
    sampler: `init()` gives the loop-carried cache; per row, `begin_row`
    computes what is fixed for the row (not carried); per pixel, `pixel`
    gives the flat logits `[B, C * n]` of the current pixel and the new
    cache; `end_row` finishes the row's cache.
    """

    def __init__(self, net: Any, batch: tf.Tensor, dtype: Any, context: Any):
        self.net = net
        self.batch = batch
        self.dtype = dtype
        self.kind = _RowCache if net.layer_type == "row" else _DiagonalCache
        self.weights = self.kind.weights(net)
        self.biases = self.kind.context_biases(net, context)

    def init(self) -> Any:
        """The cache before the first row."""
        return self.kind.init(self.net, self.batch, self.dtype)

    def begin_row(self, image: tf.Tensor, i: tf.Tensor) -> Any:
        """The 7 x 7 mask-A conv's rows above row `i`, for the whole row."""
        x_padded = tf.pad(self.net.normalize(image), [[0, 0], [3, 0], [3, 3], [0, 0]])
        window = tf.slice(x_padded, [0, i, 0, 0], [-1, 3, -1, -1])
        above = tf.nn.conv2d(window, self.weights.above_kernel, 1, "VALID")
        return above[:, 0] + self.weights.input_bias  # [B, W, 2h]

    def pixel(
        self, row: tf.Tensor, above: Any, cache: Any, j: tf.Tensor
    ) -> tuple[tf.Tensor, Any]:
        """Logits `[B, C * n]` at column `j` of the row `row [B, W, C]`."""
        # Current row: 3 pixels to the left and the centre.
        padded = tf.pad(self.net.normalize(row), [[0, 0], [3, 0], [0, 0]])
        stream = _flat_window(above, j, 1) + tf.matmul(
            _flat_window(padded, j, 4), self.weights.row_kernel
        )
        return self.kind.pixel(self.net, self.weights, stream, cache, j, self.biases)

    def end_row(self, cache: Any) -> Any:
        """The cache after the last pixel of a row."""
        return self.kind.end_row(self.net, self.weights, cache, self.biases)


def autoregressive_loop(
    net: Any,
    known: TensorLike,
    num_known: TensorLike,
    seed: TensorLike,
    *,
    context: tf.Tensor | None = None,
    cached: bool = True,
    with_logits: bool = True,
    steps: Callable[..., Any] | None = None,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Fills an image pixel by pixel, channel by channel.

    Args:
      net: a built network with the autoregressive-image interface
        (`image_shape`, `num_logits`, `compute_dtype`, `call(images,
        context)` giving logits `[B, H, W, C, n]`): a `PixelRNN` or a
        `GatedPixelCNN`.
      known: `[B, H, W, C]` image; the first `num_known` pixels (raster order)
        are kept, the rest are sampled.
      num_known: int32 scalar tensor, `0..H*W`.
      seed: stateless seed, shape `[2]` int32.
      context: `[B, C]` for a conditional network (the same context at every
        step: its per-layer biases are computed once), else None.
      cached: use the network's cached steps (True) or re-run the network
        per step.
      with_logits: also collect the logits of every step (teacher forcing
        checks); sampling skips that work and returns an empty tensor.
      steps: the class of the cached steps, called as
        `steps(net, batch, dtype, context)` (interface of `PixelRNNSteps`);
        None: `PixelRNNSteps`.

    Returns:
      `(image [B, H, W, C] float, logits [B, H, W, C, n])`.
    """
    height, width, channels = net.image_shape
    dtype = net.compute_dtype
    image = tf.cast(known, dtype)
    batch = tf.shape(image)[0]
    n_logits = net.num_logits
    if with_logits:
        logits_all = tf.zeros(tf.concat([tf.shape(image), [n_logits]], 0), dtype)
    else:
        logits_all = tf.zeros([0], dtype)
    if context is not None:
        context = tf.cast(context, dtype)
    if cached:
        stepper = (steps or PixelRNNSteps)(net, batch, dtype, context)
        cache = stepper.init()
    else:
        cache = 0

    def draw(logits_c, noise_c):
        """Gumbel-max (categorical) or threshold (Bernoulli) on uniform noise."""
        if n_logits == 1:  # Bernoulli
            return tf.cast(noise_c[:, 0] < tf.sigmoid(logits_c[:, 0]), dtype)
        gumbel = -tf.math.log(-tf.math.log(noise_c))
        return tf.cast(tf.argmax(logits_c + gumbel, -1), dtype)

    def set_row(full, i, row):
        """`full [B, H, ...]` with row `i` replaced by `row [B, ...]`."""
        onehot = tf.one_hot(i, height, dtype=full.dtype)
        onehot = tf.reshape(onehot, [1, height] + [1] * (full.shape.rank - 2))
        return full * (1.0 - onehot) + onehot * row[:, None]

    def row_body(i, image, logits_all, cache):
        known_row = tf.reshape(
            tf.slice(image, [0, i, 0, 0], [-1, 1, -1, -1]), [-1, width, channels]
        )
        # Noise for the whole row, tiny and bounded away from 0 and 1.
        noise = tf.random.stateless_uniform(
            tf.stack([batch, width, channels, n_logits]),
            tf.random.experimental.stateless_fold_in(seed, i),
            minval=1e-7,
            maxval=1.0 - 1e-7,
            dtype=dtype,
        )
        if cached:
            row_inputs = stepper.begin_row(image, i)
        row_logits = (
            tf.zeros(tf.stack([batch, width, channels, n_logits]), dtype)
            if with_logits
            else logits_all
        )

        def col_body(j, row, row_logits, cache):
            pos = i * width + j
            keep = pos < num_known
            for c in range(channels):
                if cached:
                    logits, cache = stepper.pixel(row, row_inputs, cache, j)
                else:
                    logits = net(set_row(image, i, row), context=context)[:, i, j]
                    logits = tf.reshape(logits, [batch, channels * n_logits])
                logits = tf.reshape(logits, [batch, channels, n_logits])[:, c]
                noise_c = tf.reshape(
                    tf.slice(noise, [0, j, c, 0], [-1, 1, 1, -1]), [-1, n_logits]
                )
                given = tf.reshape(tf.slice(known_row, [0, j, c], [-1, 1, 1]), [-1])
                value = tf.where(keep, given, draw(logits, noise_c))
                onehot = tf.one_hot(j * channels + c, width * channels, dtype=dtype)
                onehot = tf.reshape(onehot, [1, width, channels])
                row = row * (1.0 - onehot) + onehot * value[:, None, None]
                if with_logits:
                    row_logits = row_logits + onehot[..., None] * logits[:, None, None]
            return j + 1, row, row_logits, cache

        loop_vars = (tf.constant(0), known_row, row_logits, cache)
        _, row, row_logits, cache = tf.while_loop(
            lambda j, *_: j < width,
            col_body,
            loop_vars,
            shape_invariants=_any_batch(loop_vars),
        )
        image = set_row(image, i, row)
        if with_logits:
            logits_all = set_row(logits_all, i, row_logits)
        if cached:
            cache = stepper.end_row(cache)
        return i + 1, image, logits_all, cache

    loop_vars = (tf.constant(0), image, logits_all, cache)
    _, image, logits_all, _ = tf.while_loop(
        lambda i, *_: i < height,
        row_body,
        loop_vars,
        shape_invariants=_any_batch(loop_vars),
    )
    return image, logits_all
