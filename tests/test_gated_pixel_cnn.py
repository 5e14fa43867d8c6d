"""Gated PixelCNN: no blind spot, autoregression, normalization, XLA, context.

The network is `tfp_flows.nn.GatedPixelCNN`, the distribution
`tfp_flows.distributions.GatedPixelCNNDistribution` (the interface of
`PixelRNNDistribution`).
"""

import itertools
import json

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows.distributions import GatedPixelCNNDistribution
from tfp_flows.distributions import PixelRNNDistribution
from tfp_flows.distributions import gated_pixel_cnn
from tfp_flows.internal import specs
from tfp_flows.internal.keras import keras
from tfp_flows.nn import GatedPixelCNN
from tfp_flows.nn import MaskedConv2D

tfd = tfp.distributions


def _images(shape, n=3, levels=4, seed=0):
    return np.random.RandomState(seed).randint(0, levels, (n,) + shape).astype("int32")


def _receptive_fields(net_fn, shape, positions):
    """For each `(i, j)`: `|d sum(out[:, i, j]) / d x|` summed over batch, channels."""
    x = tf.constant(np.random.RandomState(1).normal(size=(2,) + shape), tf.float32)
    proj = tf.constant(np.random.RandomState(2).normal(size=[64]), tf.float32)

    @tf.function
    def field(i, j):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = tf.reshape(net_fn(x)[:, i, j], [2, -1])
            y = tf.reduce_sum(out * proj[: out.shape[-1]])
        return tf.reduce_sum(tf.abs(tape.gradient(y, x)), [0, 3])

    return {(i, j): field(tf.constant(i), tf.constant(j)).numpy() for i, j in positions}


def _past(shape, i, j):
    h, w = shape[:2]
    return {(r, c) for r in range(h) for c in range(w) if r < i or (r == i and c < j)}


def test_gated_pixel_cnn_has_no_blind_spot_where_masked_convolutions_do():
    shape = (6, 6, 1)
    # 7 x 7 first layer, two 3 x 3 layers: rows above within 3 + 2 + 1 = 6,
    # columns within 5 either side (the docstring's range), so on a 6 x 6
    # image the range is the whole image: every earlier pixel must be seen.
    gated = GatedPixelCNN(
        shape, num_levels=4, num_layers=3, filters=4, output_units=8, seed=3
    )
    positions = list(itertools.product(range(6), range(6)))
    fields = _receptive_fields(gated, shape, positions)
    for (i, j), grad in fields.items():
        seen = {(r, c) for r, c in zip(*np.nonzero(grad), strict=True)}
        assert seen == _past(shape, i, j), ((i, j), sorted(_past(shape, i, j) - seen))

    # A PixelCNN stack of plain masked convolutions with the same kernels
    # (7 x 7 mask A, two 3 x 3 mask B) misses pixels above-right of (i, j)
    # although it sees pixels further up in the same column: a blind spot,
    # not a range limit.
    keras.utils.set_random_seed(0)
    plain = keras.Sequential(
        [
            keras.Input(shape),
            MaskedConv2D(4, 7, mask_type="A", activation="tanh"),
            MaskedConv2D(4, 3, mask_type="B", activation="tanh"),
            MaskedConv2D(4, 3, mask_type="B"),
        ]
    )
    i, j = 4, 1
    grad = _receptive_fields(plain, shape, [(i, j)])[(i, j)]
    seen = {(r, c) for r, c in zip(*np.nonzero(grad), strict=True)}
    assert seen <= _past(shape, i, j)  # still autoregressive
    holes = [
        (r, c)
        for r, c in _past(shape, i, j)
        if r < i and (r, c) not in seen and any((q, c) in seen for q in range(r))
    ]
    assert (i - 1, j + 4) in holes, sorted(holes)  # (3, 5): blind; (1, 5) seen
    # The gated network sees it.
    assert fields[(i, j)][i - 1, j + 4] > 0


@pytest.mark.parametrize("channels", [1, 3])
def test_autoregressive_per_channel_and_context_reaches_every_pixel(channels):
    shape = (3, 4, channels)
    net = GatedPixelCNN(
        shape,
        num_levels=4,
        num_layers=2,
        filters=12,
        output_units=12,
        context_size=2,
        seed=1,
    )
    # Real-valued inputs of 6 images: the ReLUs of the output head are not
    # all dead at any pixel, so every structural path carries a gradient.
    x = tf.constant(np.random.RandomState(0).uniform(0, 3, (6,) + shape), tf.float32)
    z = tf.constant(np.random.RandomState(3).normal(size=(6, 2)), tf.float32)
    proj = tf.random.stateless_normal([4], [3, 4])

    @tf.function
    def grads(i, j, c):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([x, z])
            y = tf.reduce_sum(net(x, context=z)[:, i, j, c] * proj)
        return (
            tf.reduce_sum(tf.abs(tape.gradient(y, x)), 0),
            tf.reduce_sum(tf.abs(tape.gradient(y, z)), 0),
        )

    order = list(itertools.product(range(3), range(4), range(channels)))
    for i, j, c in order:
        dx, dz = (
            t.numpy() for t in grads(tf.constant(i), tf.constant(j), tf.constant(c))
        )
        for ii, jj, cc in order:
            if (ii, jj, cc) >= (i, j, c):
                assert dx[ii, jj, cc] == 0.0, ((i, j, c), (ii, jj, cc))
            else:  # no blind spot, colour channels included
                assert dx[ii, jj, cc] > 0.0, ((i, j, c), (ii, jj, cc))
        assert np.all(dz > 0), ((i, j, c), dz)


def _all_images(shape, levels):
    size = int(np.prod(shape))
    grid = np.array(list(itertools.product(range(levels), repeat=size)), "int32")
    return grid.reshape((-1,) + shape)


def test_normalized_on_tiny_images_with_and_without_context():
    d = gated_pixel_cnn((2, 2, 1), num_levels=3, num_layers=2, filters=2, seed=1)
    total = tf.reduce_logsumexp(d.log_prob(_all_images((2, 2, 1), 3)))
    np.testing.assert_allclose(total, 0.0, atol=1e-5)
    # Colour: 1 x 2 pixels x 3 channels, binary (Bernoulli logits), per class.
    c = gated_pixel_cnn(
        (1, 2, 3),
        num_levels=2,
        num_layers=2,
        filters=3,
        output_units=3,
        context_size=2,
        seed=2,
    )
    x = _all_images((1, 2, 3), 2)
    for label in tf.one_hot([0, 1], 2):
        total = tf.reduce_logsumexp(c.log_prob(x, context=label))
        np.testing.assert_allclose(total, 0.0, atol=1e-5)


def test_log_prob_eager_tf_function_and_xla_agree_and_are_categorical():
    d = gated_pixel_cnn(
        (4, 4, 3), num_levels=5, num_layers=2, filters=3, output_units=6, seed=4
    )
    x = _images((4, 4, 3), n=4, levels=5)
    eager = d.log_prob(x)
    logits = d.network(x)
    expected = tf.reduce_sum(tfd.Categorical(logits=logits).log_prob(x), [1, 2, 3])
    np.testing.assert_allclose(eager, expected, rtol=1e-5)
    graph = tf.function(d.log_prob)(tf.constant(x))
    xla = tf.function(d.log_prob, jit_compile=True)(tf.constant(x))
    np.testing.assert_allclose(graph, eager, rtol=1e-5)
    np.testing.assert_allclose(xla, eager, rtol=1e-4)
    assert d.log_prob(np.stack([x, x])).shape == (2, 4)


# -- sampling (XLA loops compile once per model: one shared model) ----------------
@pytest.fixture(scope="module")
def cond():
    return gated_pixel_cnn(
        (3, 4, 1),
        num_levels=3,
        num_layers=2,
        filters=4,
        output_units=4,
        context_size=3,
        seed=0,
    )


def test_cached_sampler_matches_the_network_and_the_uncached_loop(cond):
    x = _images((3, 4, 1), n=4, levels=3, seed=5)
    z = tf.one_hot([0, 1, 2, 1], 3)
    parallel = cond.network(x, context=z)
    np.testing.assert_allclose(
        cond.teacher_forced_logits(x, context=z), parallel, atol=2e-5
    )
    labels = tf.one_hot([2, 0], 3)
    s = cond.sample(2, context=labels, seed=7)
    assert s.shape == (2, 2, 3, 4, 1) and s.dtype == tf.int32
    assert int(tf.reduce_min(s)) >= 0 and int(tf.reduce_max(s)) <= 2
    np.testing.assert_array_equal(cond.sample(2, context=labels, seed=7), s)
    np.testing.assert_array_equal(
        cond.sample(2, context=labels, seed=7, cached=False), s
    )
    assert not np.array_equal(cond.sample(2, context=labels, seed=8), s)
    bound = cond.condition(labels)
    assert bound.batch_shape == [2]
    np.testing.assert_array_equal(bound.sample(2, seed=7), s)
    done = cond.complete(x, 2, seed=1, context=z).numpy()
    np.testing.assert_array_equal(done[:, :2], x[:, :2])
    np.testing.assert_array_equal(cond.complete(x, 3, context=z), x)


@pytest.mark.slow
def test_samples_follow_the_distribution():
    # 1 x 2 binary image: 4 outcomes; 4000 draws of the cached XLA sampler
    # against exp(log_prob) (5 sigma of a binomial frequency < 0.04).
    d = gated_pixel_cnn((1, 2, 1), num_levels=2, num_layers=1, filters=2, seed=3)
    x = _all_images((1, 2, 1), 2)
    probs = np.exp(d.log_prob(x).numpy())
    s = d.sample(4000, seed=11).numpy().reshape(4000, 2)
    freq = np.array([np.mean(np.all(s == row, -1)) for row in x.reshape(4, 2)])
    np.testing.assert_allclose(freq, probs, atol=0.04)
    assert probs.min() > 0.05  # a model where every outcome shows up


def test_context_errors_name_the_argument(cond):
    x = _images((3, 4, 1), levels=3)
    with pytest.raises(ValueError, match=r"`context` is required.*context_size=3"):
        cond.log_prob(x)
    with pytest.raises(ValueError, match=r"`context` is required"):
        cond.sample(2, seed=1)
    with pytest.raises(ValueError, match=r"`context` is required"):
        cond.network(x)
    with pytest.raises(
        ValueError, match=r"`context`.*\[\.\.\., 3\].*got shape \[3, 2\]"
    ):
        cond.log_prob(x, context=np.zeros((3, 2), "float32"))
    with pytest.raises(
        ValueError, match=r"`context`.*\[\.\.\., 3\].*got shape \[3, 4\]"
    ):
        cond.condition(np.zeros((3, 4), "float32"))
    with pytest.raises(
        ValueError, match=r"`context`.*\[batch, 3\].*batch 3.*got shape \[2, 3\]"
    ):
        cond.network(x, context=np.zeros((2, 3), "float32"))
    for bad in (tf.constant([["a", "b", "c"]] * 3), tf.zeros([3, 3], tf.bool)):
        with pytest.raises(ValueError, match=r"`context` must be a real tensor"):
            cond.log_prob(x, context=bad)
        with pytest.raises(ValueError, match=r"`context` must be a real tensor"):
            cond.network(x, context=bad)
    with pytest.raises(
        ValueError, match=r"`context`.*\[3\] or \[batch, 3\].*batch 3.*\[2, 3\]"
    ):
        cond.complete(x, 1, context=np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match=r"already has a bound context"):
        cond.condition(tf.one_hot([0], 3)).log_prob(x, context=tf.one_hot([0], 3))
    # Integer one-hot labels are a valid context (cast to the network's dtype).
    lp = cond.log_prob(x, context=np.eye(3, dtype="int32"))
    np.testing.assert_allclose(lp, cond.log_prob(x, context=np.eye(3)), rtol=1e-6)
    uncond = gated_pixel_cnn((3, 4, 1), num_levels=3, num_layers=1, filters=2)
    with pytest.raises(ValueError, match=r"`context` was given.*unconditional"):
        uncond.log_prob(x, context=np.eye(3))
    with pytest.raises(ValueError, match=r"unconditional \(context_size=None\)"):
        uncond.condition(np.eye(3))


def test_bad_arguments_and_values_raise():
    with pytest.raises(ValueError, match=r"`filters`.*multiple of.*=3.*got 4"):
        GatedPixelCNN((4, 4, 3), filters=4, output_units=6)
    with pytest.raises(ValueError, match=r"`kernel_size`.*odd.*got 4"):
        GatedPixelCNN((4, 4, 1), kernel_size=4)
    with pytest.raises(ValueError, match=r"`input_kernel_size`.*odd.*got 2.5"):
        GatedPixelCNN((4, 4, 1), input_kernel_size=2.5)
    with pytest.raises(ValueError, match=r"`image_shape`.*got \(4, 4\)"):
        GatedPixelCNN((4, 4))
    with pytest.raises(ValueError, match=r"`seed`.*non-negative integer; got -1"):
        gated_pixel_cnn((4, 4, 1), seed=-1)
    with pytest.raises(ValueError, match=r"`context_size`.*got 0"):
        GatedPixelCNN((4, 4, 1), context_size=0)
    with pytest.raises(ValueError, match=r"`network` must be a.*GatedPixelCNN"):
        GatedPixelCNNDistribution(keras.layers.Dense(2))
    d = gated_pixel_cnn((4, 4, 1), num_levels=3, num_layers=1, filters=2)
    with pytest.raises(ValueError, match=r"Distribution: argument `value` must hold"):
        d.log_prob(np.full((1, 4, 4, 1), 3, "int32"))
    with pytest.raises(ValueError, match=r"`value` must have shape \[\.\.\., 4, 4, 1"):
        d.log_prob(np.zeros((1, 4, 4, 3), "int32"))
    with pytest.raises(ValueError, match=r"`num_rows`.*0\.\.4; got 5"):
        d.complete(np.zeros((1, 4, 4, 1), "int32"), 5)
    # A PixelRNN network is not a Gated PixelCNN (and vice versa).
    with pytest.raises(ValueError, match=r"PixelRNNDistribution.*got GatedPixelCNN"):
        PixelRNNDistribution(d.network)


def test_keras_weights_config_and_builder_round_trip():
    kwargs = dict(num_levels=3, num_layers=2, filters=3, output_units=6)
    a = gated_pixel_cnn((4, 4, 3), seed=3, context_size=2, **kwargs)
    b = gated_pixel_cnn((4, 4, 3), seed=3, context_size=2, **kwargs)
    net = a.network
    assert {id(v) for v in a.trainable_variables} == {
        id(w.value) for w in net.trainable_weights
    }
    assert len(a.trainable_variables) == len(net.trainable_weights)
    for u, v in zip(a.trainable_variables, b.trainable_variables, strict=True):
        np.testing.assert_array_equal(u, v)
    kernels = [v.numpy() for v in a.trainable_variables if v.shape.rank > 1]
    for k, u in enumerate(kernels):  # every kernel its own seed
        later = kernels[k + 1 :]
        assert not any(u.shape == v.shape and np.array_equal(u, v) for v in later)
    x = _images((4, 4, 3), levels=3)
    z = tf.one_hot([0, 1, 1], 2)
    rebuilt = specs.build_from_spec(specs.spec_of(a))
    assert isinstance(rebuilt, GatedPixelCNNDistribution)
    np.testing.assert_array_equal(
        a.log_prob(x, context=z), rebuilt.log_prob(x, context=z)
    )
    # get_config / from_config and Keras serialization (safe mode).
    config = net.get_config()
    json.dumps(config)
    assert config["filters"] == 3 and config["context_size"] == 2
    again = GatedPixelCNN.from_config(config)
    assert again.get_config() == config
    again.set_weights(net.get_weights())
    np.testing.assert_allclose(again(x, context=z), net(x, context=z), atol=1e-6)
    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(net)))
    assert serialized["registered_name"] == "tfp_flows>GatedPixelCNN"
    restored = keras.saving.deserialize_keras_object(serialized, safe_mode=True)
    assert type(restored) is GatedPixelCNN and restored.get_config() == config


@pytest.mark.slow
def test_keras_model_fit_trains_exactly_the_network_weights():
    d = gated_pixel_cnn((4, 4, 1), num_levels=3, num_layers=2, filters=4, seed=0)
    model = d.as_keras_model()
    data = _images((4, 4, 1), n=32, levels=3, seed=4)
    model(data[:2])
    assert {id(w) for w in model.trainable_weights} == {
        id(w) for w in d.network.trainable_weights
    }
    model.compile(optimizer=keras.optimizers.Adam(0.02))
    before = float(tf.reduce_mean(-d.log_prob(tf.identity(data))))
    model.fit(data, epochs=8, batch_size=16, verbose=0)
    after = float(tf.reduce_mean(-d.log_prob(tf.identity(data))))
    assert after < before - 0.5, (before, after)
