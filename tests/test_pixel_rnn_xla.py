"""PixelRNN under XLA: unknown batch (and image) sizes, same values as without.

The recurrences compute their state-to-state convolutions as matmuls of the
`Conv1D` kernels (`nn/pixel_rnn._state_product`): the first tests check them
against the `Conv1D` layers themselves; the others train with
`jit_compile=True` on batches of different sizes (the last one smaller) and
compare with the non-compiled path.
"""

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows.data.digits import load_digits
from tfp_flows.data.preprocess import as_dataset
from tfp_flows.distributions.pixel_rnn import pixel_rnn
from tfp_flows.internal.keras import keras
from tfp_flows.jobs.options import JobOptions
from tfp_flows.jobs.training import fit
from tfp_flows.layers import DiagonalBiLSTM
from tfp_flows.layers import FlowModel
from tfp_flows.layers import RowLSTM
from tfp_flows.nn.pixel_rnn import skew
from tfp_flows.nn.pixel_rnn import unskew

LAYER_TYPES = ("row", "diagonal")


def _lstm(z, c_prev, units):
    """Reference LSTM gates; channels are unit-major (unit u, gate q: 4u + q)."""
    z = tf.reshape(z, tf.concat([tf.shape(z)[:-1], [units, 4]], 0))
    o, f, i, g = (z[..., q] for q in range(4))
    c = tf.sigmoid(f) * c_prev + tf.sigmoid(i) * tf.tanh(g)
    return tf.sigmoid(o) * tf.tanh(c), c


def _row_lstm_reference(layer, x):
    """Row LSTM, calling its `Conv1D` layer on each previous row of states."""
    gates = layer.input_to_state(x)
    zeros = tf.zeros(x.shape[:1] + x.shape[2:3] + [layer.units])
    h, c, rows = zeros, zeros, []
    for r in range(x.shape[1]):
        h, c = _lstm(gates[:, r] + layer.state_to_state(h), c, layer.units)
        rows.append(h)
    return tf.stack(rows, 1)


def _diagonal_reference(direction, x):
    """One Diagonal LSTM direction, calling its causal `Conv1D` per column."""
    gates = skew(direction.input_to_state(x))
    units = direction.units
    zeros = tf.zeros(x.shape[:2] + [units])
    h, c, cols = zeros, zeros, []
    for s in range(gates.shape[2]):
        z = gates[:, :, s] + direction.state_to_state(h)
        h, c = _lstm(z, c, units)
        cols.append(h)
    return unskew(tf.stack(cols, 2), x.shape[2])


def _inputs(shape, seed=0):
    return tf.random.stateless_normal(shape, [seed, 7])


@pytest.mark.parametrize("kernel_size", [3, 5])
def test_row_lstm_matches_its_conv1d(kernel_size):
    layer = RowLSTM(4, kernel_size=kernel_size, seed=3)
    x = _inputs([2, 4, 7, 2])
    np.testing.assert_allclose(
        layer(x), _row_lstm_reference(layer, x), rtol=1e-5, atol=1e-6
    )


def test_diagonal_lstm_matches_its_conv1d():
    layer = DiagonalBiLSTM(4, seed=3)
    x = _inputs([2, 5, 6, 2])
    layer(x)
    for direction in (layer.left_to_right, layer.right_to_left):
        np.testing.assert_allclose(
            direction(x), _diagonal_reference(direction, x), rtol=1e-5, atol=1e-6
        )


def _grad_fn(layer, loss_fn):
    def run(x):
        with tf.GradientTape() as tape:
            loss = loss_fn(x)
        return loss, tape.gradient(loss, layer.trainable_variables)

    return run


def _assert_same(got, want, rtol=1e-5, atol=1e-5):
    (loss, grads), (loss_ref, grads_ref) = got, want
    np.testing.assert_allclose(loss, loss_ref, rtol=rtol, atol=atol)
    assert len(grads) == len(grads_ref) > 0
    for g, g_ref in zip(grads, grads_ref, strict=True):
        np.testing.assert_allclose(g, g_ref, rtol=rtol, atol=atol)


@pytest.mark.parametrize("layer_cls", [RowLSTM, DiagonalBiLSTM])
def test_lstm_layer_gradient_compiles_with_unknown_sizes(layer_cls):
    # Batch, height and width all unknown when traced: the scan's trip count
    # then comes from tf.shape (keras.ops.scan failed here under XLA: "XLA
    # compilation requires a fixed tensor list size").
    layer = layer_cls(4, seed=1)
    run = _grad_fn(layer, lambda x: tf.reduce_sum(layer(x) ** 2))
    spec = tf.TensorSpec([None, None, None, 2], tf.float32)
    compiled = tf.function(run, input_signature=[spec], jit_compile=True)
    for shape in ([3, 4, 5, 2], [2, 3, 3, 2]):
        x = _inputs(shape)
        _assert_same(compiled(x), run(x))


def _digits(n):
    return tf.constant(load_digits("train")[:n], tf.int32)


def _dist(layer_type, num_layers):
    return pixel_rnn(
        (8, 8, 1),
        num_levels=17,
        layer_type=layer_type,
        num_layers=num_layers,
        hidden_units=4,
        output_units=8,
        seed=0,
    )


@pytest.mark.parametrize("layer_type", LAYER_TYPES)
def test_nll_gradient_compiles_with_unknown_batch(layer_type):
    dist = _dist(layer_type, num_layers=1)
    run = _grad_fn(dist.network, lambda x: -tf.reduce_mean(dist.log_prob(x)))
    spec = tf.TensorSpec([None, 8, 8, 1], tf.int32)
    compiled = tf.function(run, input_signature=[spec], jit_compile=True)
    images = _digits(8)
    # One trace with an unknown batch; a batch of 5, then a smaller one.
    for x in (images[:5], images[5:]):
        _assert_same(compiled(x), run(x))
    assert compiled.experimental_get_tracing_count() == 1


def _train(model, data, tmp_path, jit_compile):
    opts = JobOptions(model="pixelrnn", output_dir=str(tmp_path), progress=False)
    result = fit(
        model, data, opts, epochs=2, learning_rate=1e-2, jit_compile=jit_compile
    )
    assert model.jit_compile is jit_compile
    return result.history["loss"], [w.numpy() for w in model.trainable_weights]


@pytest.mark.slow
@pytest.mark.parametrize("layer_type", LAYER_TYPES)
def test_job_fit_under_xla_matches_no_xla(layer_type, tmp_path):
    # The pixelrnn job's path: FlowModel + jobs.training.fit; 10 images in
    # batches of 4 (the last one has 2), so XLA sees two batch sizes.
    images = _digits(10).numpy()
    runs = []
    for jit in (False, True):
        model = FlowModel(_dist(layer_type, num_layers=1))
        data = as_dataset(images, batch_size=4, shuffle=False)
        assert data.element_spec.shape[0] is None
        runs.append(_train(model, data, tmp_path / str(jit), jit))
    (loss_ref, w_ref), (loss, w) = runs
    assert len(loss) == 2 and loss[1] < loss[0]
    np.testing.assert_allclose(loss, loss_ref, rtol=1e-4)
    for a, b in zip(w, w_ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


@pytest.mark.slow
def test_keras_fit_under_xla_matches_no_xla():
    # keras.Model.fit on a dataset whose batch dimension is unknown.
    images = _digits(6)
    data = tf.data.Dataset.from_tensor_slices(images).batch(4)
    assert data.element_spec.shape.as_list() == [None, 8, 8, 1]
    losses = []
    for jit in (False, True):
        model = _dist("diagonal", num_layers=1).as_keras_model()
        model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=jit)
        assert model.jit_compile is jit
        history = model.fit(data, epochs=2, verbose=0)
        losses.append(history.history["loss"])
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-4)
