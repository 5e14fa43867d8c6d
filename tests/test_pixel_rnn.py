"""PixelRNN layers: autoregressive property (gradients), shapes, bad input."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows.internal.keras import keras
from tfp_flows.layers import DiagonalBiLSTM
from tfp_flows.layers import PixelRNN
from tfp_flows.layers import RowLSTM
from tfp_flows.nn.pixel_rnn import skew
from tfp_flows.nn.pixel_rnn import unskew

H, W = 5, 6


def _net(layer_type, channels):
    return PixelRNN(
        (H, W, channels),
        num_levels=4,
        layer_type=layer_type,
        num_layers=2,
        hidden_units=3 * channels if channels == 3 else 4,
        output_units=12 * channels,
    )


def _dependency(fn, x, out_channels):
    """dep[i, j, c, i2, j2, c2]: summed |gradient| of fn(x)[:, i, j, c] . r."""
    x = tf.constant(x)
    out = fn(x)
    proj = (
        tf.random.stateless_normal(out.shape[4:], [3, 4])
        if out.shape.rank == 5
        else None
    )

    @tf.function
    def grad(i, j, c):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)[:, i, j, c]
            if proj is not None:
                y = y * proj
            y = tf.reduce_sum(y)
        return tf.reduce_sum(tf.abs(tape.gradient(y, x)), 0)

    dep = np.zeros((H, W, out_channels) + tuple(x.shape[1:]), np.float32)
    for i, j, c in itertools.product(range(H), range(W), range(out_channels)):
        dep[i, j, c] = grad(tf.constant(i), tf.constant(j), tf.constant(c)).numpy()
    return dep


def _group(c, n, groups):
    return c // (n // groups)


@pytest.fixture(
    scope="module", params=list(itertools.product(["row", "diagonal"], [1, 3]))
)
def net_dependency(request):
    layer_type, channels = request.param
    tf.random.set_seed(7)
    net = _net(layer_type, channels)
    x = np.random.RandomState(0).randint(0, 4, (3, H, W, channels)).astype("float32")
    return layer_type, channels, _dependency(net, x, channels)


def test_network_never_sees_the_future(net_dependency):
    _, channels, dep = net_dependency
    for i, j, c in itertools.product(range(H), range(W), range(channels)):
        for ii, jj, cc in itertools.product(range(H), range(W), range(channels)):
            if (ii, jj, cc) >= (i, j, c):
                assert dep[i, j, c, ii, jj, cc] == 0.0, ((i, j, c), (ii, jj, cc))


def test_network_sees_its_context(net_dependency):
    layer_type, channels, dep = net_dependency
    for i, j, c in itertools.product(range(H), range(W), range(channels)):
        d = dep[i, j, c]
        # Earlier channels of the same pixel, the left pixel, the pixel above.
        assert np.all(d[i, j, :c] > 0)
        if j > 0:
            assert np.all(d[i, j - 1] > 0)
        if i > 0:
            assert np.all(d[i - 1, j] > 0)
        if layer_type == "diagonal":
            # The whole context above and to the left. The only inputs the
            # network cannot see are the last channel of the previous row's
            # last pixel for columns j < W - 4: a mask-A input never shows a
            # pixel's last channel at that pixel; it enters the stream only
            # through the 7x7 windows of the next pixels (row i, cols >= W-4).
            for ii, jj, cc in itertools.product(range(H), range(W), range(channels)):
                if (ii, jj, cc) < (i, j, c):
                    blind = (
                        ii == i - 1 and jj == W - 1 and cc == channels - 1 and j < W - 4
                    )
                    assert (d[ii, jj, cc] == 0) == blind, ((i, j, c), (ii, jj, cc))


def _layer_dependency(layer, units, channels_in, groups):
    x = np.random.RandomState(1).normal(size=(2, H, W, channels_in)).astype("float32")
    dep = _dependency(lambda t: layer(t), x, units)
    return dep


@pytest.mark.parametrize("groups", [1, 3])
def test_diagonal_bilstm_layer_has_no_blind_spot(groups):
    units, d_in = 6, 6
    layer = DiagonalBiLSTM(units, color_channels=groups)
    dep = _layer_dependency(layer, units, d_in, groups)
    for i, j, u in itertools.product(range(H), range(W), range(units)):
        g = _group(u, units, groups)
        for ii, jj, cc in itertools.product(range(H), range(W), range(d_in)):
            if (ii, jj) < (i, j):
                visible = True
            elif (ii, jj) == (i, j):
                visible = _group(cc, d_in, groups) <= g  # mask B
            else:
                visible = False
            assert (dep[i, j, u, ii, jj, cc] > 0) == visible, ((i, j, u), (ii, jj, cc))


@pytest.mark.parametrize("kernel_size", [3, 5])
def test_row_lstm_layer_context_is_the_triangle_above(kernel_size):
    units, d_in, groups = 3, 3, 3
    layer = RowLSTM(units, kernel_size=kernel_size, color_channels=groups)
    dep = _layer_dependency(layer, units, d_in, groups)
    r = kernel_size // 2
    for i, j, u in itertools.product(range(H), range(W), range(units)):
        g = _group(u, units, groups)
        for ii, jj, cc in itertools.product(range(H), range(W), range(d_in)):
            d = i - ii
            if d == 0:
                visible = j - r <= jj < j or (jj == j and _group(cc, d_in, groups) <= g)
            elif d > 0:
                # h_{i-d} reaches r more columns each row up, both sides; the
                # input-to-state conv adds r columns to the left.
                visible = j - r * (d + 1) <= jj <= j + r * d
            else:
                visible = False
            assert (dep[i, j, u, ii, jj, cc] > 0) == visible, ((i, j, u), (ii, jj, cc))


def test_skew_unskew_round_trip():
    x = np.random.RandomState(0).normal(size=(2, 3, 5, 2)).astype("float32")
    s = skew(x).numpy()
    assert s.shape == (2, 3, 7, 2)
    for r in range(3):
        np.testing.assert_array_equal(s[:, r, r : r + 5], x[:, r])
        assert np.all(s[:, r, :r] == 0) and np.all(s[:, r, r + 5 :] == 0)
    np.testing.assert_array_equal(unskew(s, 5).numpy(), x)


def test_output_shapes_and_keras_weights():
    net = PixelRNN((4, 5, 3), num_levels=17, hidden_units=3, output_units=6)
    out = net(np.zeros((2, 4, 5, 3), "int32"))
    assert out.shape == (2, 4, 5, 3, 17)
    binary = PixelRNN((4, 5, 1), num_levels=2, hidden_units=2, output_units=4)
    assert binary(np.zeros((2, 4, 5, 1), "int32")).shape == (2, 4, 5, 1, 1)
    # Built at construction: every weight exists and is a Keras 3 weight that
    # a Keras model sees.
    inputs = keras.Input((4, 5, 3))
    model = keras.Model(inputs, net(inputs))
    assert len(model.trainable_weights) == len(net.trainable_weights) > 0
    # input conv (2) + 2 layers x (2 directions x (conv 2 + state 1) + proj 2) + head 4
    assert len(net.trainable_weights) == 2 + 2 * (2 * 3 + 2) + 4


# -- bad input ---------------------------------------------------------------


def test_row_lstm_kernel_size_below_three_raises():
    with pytest.raises(ValueError, match=r"`kernel_size`.*>= 3.*got 1"):
        RowLSTM(4, kernel_size=1)
    with pytest.raises(ValueError, match=r"`kernel_size`.*got 4"):
        RowLSTM(4, kernel_size=4)
    with pytest.raises(ValueError, match=r"`kernel_size`.*got 2"):
        PixelRNN((4, 4, 1), layer_type="row", kernel_size=2)


def test_units_not_multiple_of_colour_groups_raises():
    with pytest.raises(
        ValueError, match=r"`units`.*multiple of color_channels=3.*got 4"
    ):
        RowLSTM(4, color_channels=3)
    with pytest.raises(ValueError, match=r"`hidden_units`.*got 5"):
        PixelRNN((4, 4, 3), hidden_units=5)
    with pytest.raises(ValueError, match=r"`output_units`.*got 8"):
        PixelRNN((4, 4, 3), hidden_units=3, output_units=8)


def test_bad_constructor_arguments_raise():
    with pytest.raises(ValueError, match=r"`layer_type`.*got 'lstm'"):
        PixelRNN((4, 4, 1), layer_type="lstm")
    with pytest.raises(ValueError, match=r"`image_shape`.*got \(4, 4\)"):
        PixelRNN((4, 4))
    with pytest.raises(ValueError, match=r"`num_levels`.*>= 2.*got 1"):
        PixelRNN((4, 4, 1), num_levels=1)


def test_wrong_image_shape_or_channels_raise():
    net = PixelRNN((4, 4, 1), num_levels=4, hidden_units=2, output_units=4)
    with pytest.raises(
        ValueError, match=r"`images`.*\[\.\.\., 4, 4, 1\].*got shape \[2, 4, 4, 3\]"
    ):
        net(np.zeros((2, 4, 4, 3), "int32"))
    with pytest.raises(
        ValueError, match=r"`images`.*\[\.\.\., 4, 4, 1\].*got shape \[2, 6, 4, 1\]"
    ):
        net(np.zeros((2, 6, 4, 1), "int32"))
