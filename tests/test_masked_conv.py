"""MaskedConv2D: masks A/B with colour grouping, checked through gradients."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows.layers import MaskedConv2D


@pytest.mark.parametrize(
    "mask_type,channels,kernel",
    [("A", 3, 3), ("B", 3, 3), ("A", 1, 5), ("B", 1, (1, 3))],
)
def test_output_depends_only_on_allowed_inputs(mask_type, channels, kernel):
    h, w, filters = 5, 5, 2 * channels
    conv = MaskedConv2D(filters, kernel, mask_type=mask_type, color_channels=channels)
    x = tf.constant(
        np.random.RandomState(0).normal(size=(1, h, w, channels)), tf.float32
    )
    conv(x)
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    i, j = 2, 2
    for o in range(filters):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = conv(x)[0, i, j, o]
        g = tape.gradient(y, x).numpy()[0]
        out_group = o // (filters // channels)
        for ii, jj, c in itertools.product(range(h), range(w), range(channels)):
            in_window = abs(ii - i) <= kh // 2 and abs(jj - j) <= kw // 2
            if (ii, jj) < (i, j):
                allowed = in_window
            elif (ii, jj) == (i, j):
                allowed = c < out_group if mask_type == "A" else c <= out_group
            else:
                allowed = False
            assert (g[ii, jj, c] != 0) == allowed, (o, ii, jj, c)


def test_rgb_centre_mask_matches_the_paper():
    a = MaskedConv2D(3, 1, mask_type="A", color_channels=3)
    b = MaskedConv2D(3, 1, mask_type="B", color_channels=3)
    a.build((None, 4, 4, 3))
    b.build((None, 4, 4, 3))
    # rows: input R, G, B; columns: output R, G, B.
    np.testing.assert_array_equal(a.mask[0, 0], [[0, 1, 1], [0, 0, 1], [0, 0, 0]])
    np.testing.assert_array_equal(b.mask[0, 0], [[1, 1, 1], [0, 1, 1], [0, 0, 1]])


def test_masked_weights_are_keras_weights_and_train():
    conv = MaskedConv2D(2, 3, mask_type="B")
    x = tf.random.normal((2, 4, 4, 1))
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(conv(x) ** 2)
    grads = tape.gradient(y, conv.trainable_weights)
    assert len(conv.trainable_weights) == 2
    # Masked kernel entries get exactly zero gradient.
    np.testing.assert_array_equal(grads[0].numpy() * (1 - conv.mask), 0.0)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match=r"`mask_type`.*got 'C'"):
        MaskedConv2D(3, 3, mask_type="C")
    with pytest.raises(ValueError, match=r"`kernel_size`.*odd.*got 4"):
        MaskedConv2D(3, 4)
    with pytest.raises(
        ValueError, match=r"`filters`.*multiple of color_channels=3.*got 4"
    ):
        MaskedConv2D(4, 3, color_channels=3)
    with pytest.raises(ValueError, match=r"`padding` is fixed"):
        MaskedConv2D(3, 3, padding="valid")
    conv = MaskedConv2D(3, 3, color_channels=3)
    with pytest.raises(ValueError, match=r"`inputs \(channel dimension\)`.*got 2"):
        conv(np.zeros((1, 4, 4, 2), "float32"))
    conv(np.zeros((1, 4, 4, 3), "float32"))
    # Keras' own input spec names the expected and the received shape.
    with pytest.raises(ValueError, match=r"axis -1 .* value 3.*\(1, 4, 4, 6\)"):
        conv(np.zeros((1, 4, 4, 6), "float32"))
