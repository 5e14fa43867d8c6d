"""Squeeze: 2x2 space-to-depth, the reshaping step of multi-scale flows."""

import tensorflow as tf

from tfp_flows.bijectors.base import FusedBijector
from tfp_flows.internal import checks

__all__ = ["Squeeze"]


class Squeeze(FusedBijector):
    """2x2 space-to-depth: `[..., H, W, C] -> [..., H/2, W/2, 4C]` (forward).

    Channel order as Glow's `squeeze2d`: output channel `c * 4 + 2 * dy + dx`
    holds input pixel `(2i + dy, 2j + dx)` of channel `c`, so splitting the
    squeezed channels in half keeps whole 2x2 blocks of the first `C/2`
    channels together. A permutation: log-det 0. The inverse is depth-to-space.

    #### Examples

    >>> sq = Squeeze()
    >>> sq.forward(tf.zeros([5, 8, 6, 1])).shape
    TensorShape([5, 4, 3, 4])
    >>> sq.forward_event_shape([8, 6, 1])
    TensorShape([4, 3, 4])
    """

    def __init__(self, *, validate_args: bool = False, name: str | None = None):
        """Creates the bijector (no parameters)."""
        parameters = dict(locals())
        with tf.name_scope(name or "squeeze") as name:
            super().__init__(
                forward_min_event_ndims=3,
                validate_args=validate_args,
                parameters=parameters,
                dtype=None,
                name=name,
            )

    @staticmethod
    def _check_squeezable(shape, arg_name):
        shape = tf.TensorShape(shape)
        if shape.rank is not None and shape.rank < 3:
            raise ValueError(
                f"Squeeze: argument `{arg_name}` must have rank >= 3 ([..., H, W, C]); "
                f"got shape {checks.shape_str(shape)}."
            )
        if shape.rank is None:
            return
        h, w = shape[-3], shape[-2]
        if (h is not None and h % 2) or (w is not None and w % 2):
            raise ValueError(
                f"Squeeze: argument `{arg_name}` needs even height and width "
                f"([..., 2k, 2m, C]); got shape {checks.shape_str(shape)}."
            )

    def _forward_event_shape(self, input_shape):
        self._check_squeezable(input_shape, "input_shape")
        h, w, c = tf.TensorShape(input_shape)[-3:].as_list()
        half = lambda d: None if d is None else d // 2
        return tf.TensorShape([half(h), half(w), None if c is None else 4 * c])

    def _inverse_event_shape(self, output_shape):
        shape = tf.TensorShape(output_shape)
        if shape.rank is not None and (
            shape.rank < 3 or (shape[-1] is not None and shape[-1] % 4)
        ):
            raise ValueError(
                "Squeeze: argument `output_shape` must be [..., H, W, 4k]; got "
                f"{checks.shape_str(shape)}."
            )
        h, w, c = shape[-3:].as_list()
        dbl = lambda d: None if d is None else 2 * d
        return tf.TensorShape([dbl(h), dbl(w), None if c is None else c // 4])

    def _forward_event_shape_tensor(self, input_shape):
        return tf.stack(
            [input_shape[-3] // 2, input_shape[-2] // 2, input_shape[-1] * 4]
        )

    def _inverse_event_shape_tensor(self, output_shape):
        return tf.stack(
            [output_shape[-3] * 2, output_shape[-2] * 2, output_shape[-1] // 4]
        )

    def _forward_and_log_det(self, x):
        checks.check_float_dtype(x, "x", "Squeeze")
        self._check_squeezable(x.shape, "x")
        s = tf.shape(x)
        rank = x.shape.rank
        batch = s[: rank - 3]
        h, w, c = s[rank - 3], s[rank - 2], s[rank - 1]
        t = tf.reshape(x, [-1, h // 2, 2, w // 2, 2, c])
        t = tf.transpose(t, [0, 1, 3, 5, 2, 4])  # [N, h/2, w/2, c, dy, dx]
        y = tf.reshape(t, tf.concat([batch, [h // 2, w // 2, 4 * c]], 0))
        return y, tf.zeros_like(x[..., 0, 0, 0])

    def _inverse_and_log_det(self, y):
        checks.check_float_dtype(y, "y", "Squeeze")
        rank = y.shape.rank
        if rank is not None and rank < 3:
            raise ValueError(
                "Squeeze: argument `y` must have rank >= 3; got shape "
                f"{checks.shape_str(y.shape)}."
            )
        if y.shape[-1] is not None and y.shape[-1] % 4:
            raise ValueError(
                "Squeeze: argument `y` must have a channel count divisible by 4 "
                f"([..., H, W, 4k]); got shape {checks.shape_str(y.shape)}."
            )
        s = tf.shape(y)
        batch = s[: rank - 3]
        h, w, c4 = s[rank - 3], s[rank - 2], s[rank - 1]
        c = c4 // 4
        t = tf.reshape(y, [-1, h, w, c, 2, 2])
        t = tf.transpose(t, [0, 1, 4, 2, 5, 3])  # [N, h, dy, w, dx, c]
        x = tf.reshape(t, tf.concat([batch, [2 * h, 2 * w, c]], 0))
        return x, tf.zeros_like(y[..., 0, 0, 0])
