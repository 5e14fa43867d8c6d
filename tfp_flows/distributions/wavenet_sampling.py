"""Not public API: step-by-step generation loops of a `WaveNet`.

Two loops over the steps `t = 0..T-1`, compiled under XLA by the caller
(`tf.function(jit_compile=True)` around a `tf.while_loop`):

* cached (Paine et al. 2016, "Fast Wavenet Generation Algorithm"): every
  causal convolution keeps a queue (a circular buffer) of its last
  `(k - 1) d + 1` inputs. At step `t` a layer pushes its new input into slot
  `t mod S` and reads its `k` taps from slots `(t - (k - 1 - i) d) mod S`,
  so a step costs one tap-matrix product per layer, whatever the receptive
  field. Slots not yet written hold zeros, which are exactly the causal
  zero padding: slot `(t - i d) mod S` with `t < i d` is first written at a
  step `t' = t - i d + m S > t` (because `S > (k - 1) d >= i d`).
* naive: re-runs the whole causal stack at every step on the last
  `W = min(receptive_field, T)` steps of the sequence (the full pass when
  the sequence is no longer than the receptive field). The window is cut
  from the shifted input (position 0 the start of the sequence, zero
  features), so its outputs equal the full pass's: the output at step `t`
  reads `receptive_field` shifted inputs, all inside the window, and no
  path from it reaches the window's left edge padding.

Both draw step `t` from the same uniform noise (`fold_in(seed, t)`), with
Gumbel-max for the categorical output (`argmax(logits - log(-log u))`) and,
for the logistic mixture, Gumbel-max over the components and an inverse-CDF
logistic draw `mu + s (log u - log(1 - u))` rounded to the nearest level
(exact for a discretized logistic: a bin's mass is the mass that rounds to
it, the edge bins taking the tails). So for one seed the two loops give the
same sequences (tested).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfp_flows.internal.types import TensorLike
from tfp_flows.nn.wavenet import WaveNet
from tfp_flows.nn.wavenet import gated_activation

__all__ = ["generation_loop"]

_TINY = 1e-7


def _noise(
    net: WaveNet, batch: tf.Tensor, seed: tf.Tensor, t: tf.Tensor, dtype: Any
) -> tf.Tensor:
    """Uniform noise `[B, n]` of step `t`, bounded away from 0 and 1."""
    n = net.num_levels if net.likelihood == "categorical" else net.num_mixtures + 1
    return tf.random.stateless_uniform(
        tf.stack([batch, n]),
        tf.random.experimental.stateless_fold_in(seed, t),
        minval=_TINY,
        maxval=1.0 - _TINY,
        dtype=dtype,
    )


def draw(net: WaveNet, params: tf.Tensor, noise: tf.Tensor) -> tf.Tensor:
    """A level `[B]` (float) from the step's outputs `[B, n]` and its noise."""
    levels = net.num_levels
    if net.likelihood == "categorical":
        gumbel = -tf.math.log(-tf.math.log(noise))
        return tf.cast(tf.argmax(params + gumbel, -1), params.dtype)
    k = net.num_mixtures
    logits, means, log_scales = net.mixture_parameters(params)
    gumbel = -tf.math.log(-tf.math.log(noise[:, :k]))
    pick = tf.one_hot(tf.argmax(logits + gumbel, -1), k, dtype=params.dtype)
    mean = tf.reduce_sum(pick * means, -1)
    scale = tf.exp(tf.reduce_sum(pick * log_scales, -1))
    u = noise[:, k]
    value = mean + scale * (tf.math.log(u) - tf.math.log1p(-u))
    level = tf.round((value + 1.0) * (0.5 * (levels - 1)))
    return tf.clip_by_value(level, 0.0, float(levels - 1))


def _relax(shape: tf.TensorShape, axis: int) -> tf.TensorShape:
    """`shape` with dimension `axis` (the batch) left open."""
    dims = shape.as_list()
    dims[axis] = None
    return tf.TensorShape(dims)


def _write(queue: tf.Tensor, slot: tf.Tensor, value: tf.Tensor) -> tf.Tensor:
    """`queue [S, B, C]` with row `slot` set to `value [B, C]`."""
    return tf.tensor_scatter_nd_update(queue, tf.reshape(slot, [1, 1]), value[None])


def _taps(queue: tf.Tensor, t: tf.Tensor, kernel_size: int, dilation: int) -> tf.Tensor:
    """The `k` taps of step `t` from a queue, `[B, k * C]` (oldest first)."""
    size = queue.shape[0]
    offsets = tf.constant(
        [(kernel_size - 1 - i) * dilation for i in range(kernel_size)], tf.int32
    )
    taps = tf.gather(queue, tf.math.floormod(t - offsets, size))  # [k, B, C]
    taps = tf.transpose(taps, [1, 0, 2])
    return tf.reshape(taps, [-1, kernel_size * queue.shape[-1]])


def generation_loop(
    net: WaveNet,
    known: TensorLike,
    num_known: TensorLike,
    seed: TensorLike,
    *,
    context: tf.Tensor | None = None,
    local: tf.Tensor | None = None,
    cached: bool = True,
    with_outputs: bool = False,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Generates sequences step by step.

    Args:
      net: a `WaveNet`.
      known: `[B, T]` levels (T static); the first `num_known` steps are kept
        (a prompt; all of them: teacher forcing), the rest are sampled.
      num_known: int32 scalar, `0..T`.
      seed: stateless seed `[2]` int32.
      context: the global condition `[B, G]`, or None.
      local: the local condition at the signal rate `[B, T, Cl]` (already
        upsampled), or None.
      cached: queues per layer (True) or re-run the stack per step.
      with_outputs: also return the network's outputs at every step.

    Returns:
      `(levels [B, T] float, outputs [B, T, n])` (outputs `[0]` when not
      collected).
    """
    dtype = net.compute_dtype
    known = tf.cast(known, dtype)
    length = known.shape[1]
    if length is None:
        raise ValueError("generation_loop: the sequence length must be static.")
    batch = tf.shape(known)[0]
    num_known = tf.convert_to_tensor(num_known, tf.int32)
    seed = tf.convert_to_tensor(seed, tf.int32)
    if context is not None:
        context = tf.cast(context, dtype)
    if local is not None:
        local = tf.cast(local, dtype)
    k = net.kernel_size
    n_out = net.num_outputs
    known_t = tf.transpose(known)  # [T, B]: one row per step

    if cached:
        in_kernel = net.input_conv.flat_kernel()
        blocks = []
        for block in net.blocks:
            cond = block.context_bias(context)
            lb = block.local_bias(local)
            blocks.append(
                (
                    block,
                    block.dilated_conv.flat_kernel(),
                    cond,
                    None if lb is None else tf.transpose(lb, [1, 0, 2]),
                )
            )
        queues = [tf.zeros(tf.stack([k, batch, net.input_channels]), dtype)] + [
            tf.zeros(
                tf.stack([(k - 1) * b.dilation_rate + 1, batch, net.residual_channels]),
                dtype,
            )
            for b in net.blocks
        ]
        # Static queue lengths (the batch stays open).
        queues = [
            tf.ensure_shape(q, [s, None, q.shape[-1]])
            for q, s in zip(
                queues,
                [k] + [(k - 1) * b.dilation_rate + 1 for b in net.blocks],
                strict=True,
            )
        ]
        state = (tf.zeros(tf.stack([batch, net.input_channels]), dtype), queues)
        state_invariants = (
            tf.TensorShape([None, net.input_channels]),
            [_relax(q.shape, 1) for q in queues],
        )

        def outputs_at(t, state):
            prev, queues = state
            q_in = _write(queues[0], tf.math.floormod(t, k), prev)
            h = net.input_conv.step(_taps(q_in, t, k, 1), in_kernel)
            new_queues = [q_in]
            skip_sum = None
            for (block, kernel, cond, lb), q in zip(blocks, queues[1:], strict=True):
                d = block.dilation_rate
                q = _write(q, tf.math.floormod(t, q.shape[0]), h)
                new_queues.append(q)
                pre = block.dilated_conv.step(_taps(q, t, k, d), kernel)
                if cond is not None:
                    pre = pre + cond
                if lb is not None:
                    pre = pre + tf.gather(lb, t)
                z = gated_activation(pre)
                skip = block.skip_projection(z)
                skip_sum = skip if skip_sum is None else skip_sum + skip
                if block.residual_projection is not None:
                    h = h + block.residual_projection(z)
            return net.head(skip_sum), new_queues

        def next_state(value: Any, state: Any, extra: Any, t: Any) -> Any:
            del state, t
            return (net.embed(value), extra)

    else:
        window = min(net.receptive_field, length)
        # Shifted input: row 0 is the start (zero features), row t + 1 is x_t.
        state = tf.zeros(tf.stack([length + 1, batch]), dtype)
        state_invariants = tf.TensorShape([length + 1, None])

        def outputs_at(t, state):
            start = tf.clip_by_value(t - window + 1, 0, length - window)
            rows = tf.slice(state, tf.stack([start, 0]), tf.stack([window, -1]))
            features = net.embed(tf.transpose(rows))  # [B, W, F]
            valid = tf.cast(tf.range(window) + start > 0, dtype)
            features = features * valid[None, :, None]
            local_w = (
                None
                if local is None
                else tf.slice(
                    local, tf.stack([0, start, 0]), tf.stack([-1, window, -1])
                )
            )
            out = net.forward_features(features, context, local_w)
            return out[:, t - start], None

        def next_state(value: Any, state: Any, extra: Any, t: Any) -> Any:
            del extra
            return tf.tensor_scatter_nd_update(
                state, tf.reshape(t + 1, [1, 1]), value[None]
            )

    levels_ta = tf.TensorArray(dtype, size=length, element_shape=[None])
    outputs_ta = tf.TensorArray(
        dtype, size=length if with_outputs else 0, element_shape=[None, n_out]
    )

    def body(t, state, levels_ta, outputs_ta):
        out, extra = outputs_at(t, state)
        sampled = draw(net, out, _noise(net, batch, seed, t, dtype))
        value = tf.where(t < num_known, known_t[t], sampled)
        state = next_state(value, state, extra, t)
        levels_ta = levels_ta.write(t, value)
        if with_outputs:
            outputs_ta = outputs_ta.write(t, out)
        return t + 1, state, levels_ta, outputs_ta

    _, _, levels_ta, outputs_ta = tf.while_loop(
        lambda t, *_: t < length,
        body,
        (tf.constant(0), state, levels_ta, outputs_ta),
        shape_invariants=(
            tf.TensorShape([]),
            state_invariants,
            tf.TensorShape(None),
            tf.TensorShape(None),
        ),
        maximum_iterations=length,
    )
    levels = tf.transpose(levels_ta.stack())
    if with_outputs:
        outputs = tf.transpose(outputs_ta.stack(), [1, 0, 2])
    else:
        outputs = tf.zeros([0], dtype)
    return levels, outputs
