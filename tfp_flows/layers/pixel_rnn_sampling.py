"""Not public API: pixel-by-pixel loops of a `PixelRNN` (sampling, completion).

Two loops over pixels in raster order and, inside a pixel, colour channels:

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

Why the state after the last channel of a pixel is exact: colour group `g`
of every feature at the current pixel sees channels `< g` of the pixel (mask
A, then mask B keeps groups apart), so the step that samples channel `c`
computes groups `<= c` correctly; the step of the last channel computes every
group correctly, and its states are the ones kept.
"""

import tensorflow as tf

from tfp_flows.layers.pixel_rnn import _lstm_update

__all__ = ["autoregressive_loop"]


def _set_column(row, j, value):
    """`row [B, W, D]` with column `j` replaced by `value [B, D]`."""
    onehot = tf.one_hot(j, tf.shape(row)[1], dtype=row.dtype)[None, :, None]
    return row * (1.0 - onehot) + onehot * value[:, None, :]


def _first_conv_pixel(net, x_padded, i, j):
    """Mask-A 7x7 conv output at pixel `(i, j)`: `[B, 2h]`."""
    conv = net.input_conv
    window = x_padded[:, i : i + 4, j : j + 7]
    y = tf.nn.conv2d(window, conv.masked_kernel()[:4], 1, "VALID")
    return y[:, 0, 0] + conv.bias


def _conv1x1(conv, x):
    """A (masked) 1 x 1 `MaskedConv2D` applied to `[B, D]`."""
    return tf.matmul(x, conv.masked_kernel()[0, 0]) + conv.bias


def _taps(kernel, window):
    """Sum over taps: `window [B, T, D_in]`, `kernel [T, D_in, D_out]`."""
    return tf.einsum("btd,tde->be", window, kernel)


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
    def pixel(net, x_padded, cache, i, j):
        k = net.kernel_size
        half = k // 2
        stream = _first_conv_pixel(net, x_padded, i, j)  # [B, 2h]
        new = []
        for lstm, proj, st in zip(net.lstms, net.projections, cache, strict=True):
            # Column j of the padded input row is index j + half.
            inputs = _set_column(st["inputs"], j + half, stream)
            window = tf.slice(inputs, [0, j, 0], [-1, half + 1, -1])
            conv = lstm.input_to_state
            gates = _taps(conv.masked_kernel()[0, : half + 1], window) + conv.bias
            h_window = tf.slice(st["prev_h"], [0, j, 0], [-1, k, -1])
            z = gates + _taps(lstm.state_to_state.kernel, h_window)
            h, c = _lstm_update(z, st["prev_c"][:, j], lstm.units)
            new.append(
                {
                    "prev_h": st["prev_h"],
                    "prev_c": st["prev_c"],
                    "h": _set_column(st["h"], j, h),
                    "c": _set_column(st["c"], j, c),
                    "inputs": inputs,
                }
            )
            stream = stream + _conv1x1(proj, h)
        logits = net.head(stream[:, None, None])[:, 0, 0]
        return logits, new

    @staticmethod
    def end_row(net, cache):
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
    def init(net, batch, dtype):
        _, w, _ = net.image_shape
        z = tf.zeros([batch, w, net.hidden_units], dtype)
        zi = tf.zeros([batch, w, 2 * net.hidden_units], dtype)
        layer = {"l2r_prev": z, "l2r_h": z, "l2r_c": z, "r2l_prev": z, "inputs": zi}
        return [dict(layer) for _ in net.lstms]

    @staticmethod
    def pixel(net, x_padded, cache, i, j):
        stream = _first_conv_pixel(net, x_padded, i, j)  # [B, 2h]
        new = []
        has_left = tf.cast(j > 0, stream.dtype)
        jl = tf.maximum(j - 1, 0)
        for lstm, proj, st in zip(net.lstms, net.projections, cache, strict=True):
            l2r = lstm.left_to_right
            gates = _conv1x1(l2r.input_to_state, stream)
            h, c = l2r.pixel_step(
                gates,
                st["l2r_prev"][:, j],
                st["l2r_h"][:, jl] * has_left,
                st["l2r_c"][:, jl] * has_left,
            )
            new.append(
                {
                    "l2r_prev": st["l2r_prev"],
                    "l2r_h": _set_column(st["l2r_h"], j, h),
                    "l2r_c": _set_column(st["l2r_c"], j, c),
                    "r2l_prev": st["r2l_prev"],
                    "inputs": _set_column(st["inputs"], j, stream),
                }
            )
            stream = stream + _conv1x1(proj, h + st["r2l_prev"][:, j])
        logits = net.head(stream[:, None, None])[:, 0, 0]
        return logits, new

    @staticmethod
    def end_row(net, cache):
        new = []
        for lstm, st in zip(net.lstms, cache, strict=True):
            r2l = lstm.right_to_left
            gates = r2l.input_to_state(st["inputs"][:, None])[:, 0]  # [B, W, 4h]
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
                    "l2r_prev": st["l2r_h"],
                    "l2r_h": st["l2r_h"],
                    "l2r_c": st["l2r_c"],
                    "r2l_prev": row,
                    "inputs": st["inputs"],
                }
            )
        return new


def autoregressive_loop(net, known, num_known, seed, *, cached=True, with_logits=True):
    """Fills an image pixel by pixel, channel by channel.

    Args:
      net: a built `PixelRNN`.
      known: `[B, H, W, C]` image; the first `num_known` pixels (raster order)
        are kept, the rest are sampled.
      num_known: int32 scalar tensor, `0..H*W`.
      seed: stateless seed, shape `[2]` int32.
      cached: keep recurrent states (True) or re-run the network per step.
      with_logits: also collect the logits of every step (teacher forcing
        checks); sampling skips that work and returns an empty tensor.

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
    kind = _RowCache if net.layer_type == "row" else _DiagonalCache
    cache = kind.init(net, batch, dtype) if cached else 0
    flat = height * width * channels

    def sample_channel(logits_c, step_seed):
        if n_logits == 1:  # Bernoulli
            u = tf.random.stateless_uniform(
                tf.shape(logits_c)[:1], step_seed, dtype=dtype
            )
            return tf.cast(u < tf.sigmoid(logits_c[:, 0]), dtype)
        draw = tf.random.stateless_categorical(logits_c, 1, step_seed, dtype=tf.int32)
        return tf.cast(draw[:, 0], dtype)

    def pixel_body(i, j, image, logits_all, cache):
        pos = i * width + j
        keep = pos < num_known
        for c in range(channels):
            if cached:
                x_padded = tf.pad(
                    net.normalize(image), [[0, 0], [3, 0], [3, 3], [0, 0]]
                )
                logits, cache = kind.pixel(net, x_padded, cache, i, j)
                logits = tf.reshape(logits, [batch, channels, n_logits])[:, c]
            else:
                logits = net(image)[:, i, j, c]
            step_seed = tf.random.experimental.stateless_fold_in(
                seed, pos * channels + c
            )
            value = tf.where(keep, image[:, i, j, c], sample_channel(logits, step_seed))
            index = (i * width + j) * channels + c
            onehot = tf.reshape(
                tf.one_hot(index, flat, dtype=dtype), [height, width, channels]
            )
            image = image * (1.0 - onehot) + onehot * value[:, None, None, None]
            if with_logits:
                logits_all = (
                    logits_all + onehot[..., None] * logits[:, None, None, None, :]
                )
        return image, logits_all, cache

    def row_body(i, image, logits_all, cache):
        def col_cond(j, *_):
            return j < width

        def col_body(j, image, logits_all, cache):
            image, logits_all, cache = pixel_body(i, j, image, logits_all, cache)
            return j + 1, image, logits_all, cache

        _, image, logits_all, cache = tf.while_loop(
            col_cond, col_body, (tf.constant(0), image, logits_all, cache)
        )
        if cached:
            cache = kind.end_row(net, cache)
        return i + 1, image, logits_all, cache

    _, image, logits_all, _ = tf.while_loop(
        lambda i, *_: i < height,
        row_body,
        (tf.constant(0), image, logits_all, cache),
    )
    return image, logits_all
