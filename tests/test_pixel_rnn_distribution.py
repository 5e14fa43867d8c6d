"""PixelRNNDistribution: log_prob, cached sampling, completion, Keras fit."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows.distributions import PixelRNNDistribution
from tfp_flows.internal.keras import keras
from tfp_flows.layers import PixelRNN

tfd = tfp.distributions

SHAPES = {1: (4, 5, 1), 3: (3, 4, 3)}


# XLA compiles each loop once per model (5-20 s on 2 cores): the default run
# covers two models, CI's slow run the other two.
@pytest.fixture(
    scope="module",
    params=[
        ("row", 1),
        ("diagonal", 3),
        pytest.param(("diagonal", 1), marks=pytest.mark.slow),
        pytest.param(("row", 3), marks=pytest.mark.slow),
    ],
)
def dist(request):
    layer_type, channels = request.param
    tf.random.set_seed(3)
    net = PixelRNN(
        SHAPES[channels],
        num_levels=5,
        layer_type=layer_type,
        hidden_units=3 if channels == 3 else 4,
        output_units=6,
    )
    return PixelRNNDistribution(net)


def _images(shape, n=3, levels=5, seed=0):
    return np.random.RandomState(seed).randint(0, levels, (n,) + shape).astype("int32")


def test_log_prob_is_sum_of_independent_categoricals(dist):
    x = _images(dist.network.image_shape)
    logits = dist.network(x)
    expected = tf.reduce_sum(tfd.Categorical(logits=logits).log_prob(x), [1, 2, 3])
    np.testing.assert_allclose(dist.log_prob(x), expected, rtol=1e-5)
    # Extra batch dims are kept.
    x2 = np.stack([x, x[::-1]])
    assert dist.log_prob(x2).shape == (2, 3)
    np.testing.assert_allclose(dist.log_prob(x2)[0], expected, rtol=1e-5)


def test_cached_loop_reproduces_the_parallel_pass(dist):
    x = _images(dist.network.image_shape, seed=1)
    parallel = dist.network(x)
    np.testing.assert_allclose(dist.teacher_forced_logits(x), parallel, atol=2e-5)
    np.testing.assert_allclose(
        dist.teacher_forced_logits(x, cached=False), parallel, atol=2e-5
    )


def test_samples_in_range_and_cached_equals_uncached(dist):
    # Same batch size as the teacher-forced test: the XLA loops compile once.
    s = dist.sample(3, seed=11)
    assert s.shape == (3,) + dist.network.image_shape and s.dtype == tf.int32
    assert int(tf.reduce_min(s)) >= 0 and int(tf.reduce_max(s)) <= 4
    u = dist.sample(3, seed=11, cached=False)
    np.testing.assert_array_equal(s, u)
    assert not np.array_equal(s, dist.sample(3, seed=12))


def test_completion_keeps_the_given_rows(dist):
    x = _images(dist.network.image_shape, n=4, seed=2)
    done = dist.complete(x, 2, seed=5).numpy()
    np.testing.assert_array_equal(done[:, :2], x[:, :2])
    assert done.min() >= 0 and done.max() <= 4
    np.testing.assert_array_equal(dist.complete(x, dist.network.image_shape[0]), x)


def test_binary_images_use_bernoulli_logits():
    net = PixelRNN((4, 4, 1), num_levels=2, hidden_units=2, output_units=4)
    d = PixelRNNDistribution(net)
    x = _images((4, 4, 1), levels=2)
    logits = net(x)[..., 0]
    expected = tf.reduce_sum(tfd.Bernoulli(logits=logits).log_prob(x), [1, 2, 3])
    np.testing.assert_allclose(d.log_prob(x), expected, rtol=1e-5)
    s = d.sample(3, seed=1).numpy()
    assert set(np.unique(s)) <= {0, 1}


def test_trainable_variables_and_keras_fit():
    net = PixelRNN(
        (4, 4, 1), num_levels=3, layer_type="row", hidden_units=2, output_units=4
    )
    d = PixelRNNDistribution(net)
    ids = {id(v) for v in d.trainable_variables}
    assert ids == {id(w.value) for w in net.trainable_weights}
    assert len(d.trainable_variables) == len(net.trainable_weights)
    model = d.as_keras_model()
    x = _images((4, 4, 1), n=32, levels=3, seed=4)
    model(x[:2])
    assert {id(w) for w in model.trainable_weights} == {
        id(w) for w in net.trainable_weights
    }
    model.compile(optimizer=keras.optimizers.Adam(0.02))
    before = float(tf.reduce_mean(-d.log_prob(tf.identity(x))))
    history = model.fit(x, epochs=8, batch_size=16, verbose=0)
    after = float(tf.reduce_mean(-d.log_prob(tf.identity(x))))
    assert len(history.history["loss"]) == 8
    assert after < before - 0.5, (before, after)


def test_bad_values_raise():
    net = PixelRNN((4, 4, 1), num_levels=3, hidden_units=2, output_units=4)
    d = PixelRNNDistribution(net)
    with pytest.raises(ValueError, match=r"`value`.*integer pixel levels 0\.\.2.*0\.5"):
        d.log_prob(np.full((1, 4, 4, 1), 0.5, "float32"))
    with pytest.raises(
        ValueError, match=r"`value`.*levels in 0\.\.2; got values in 0\.\.3"
    ):
        d.log_prob(np.array([0, 3] * 8).reshape(1, 4, 4, 1))
    with pytest.raises(ValueError, match=r"`value`.*-1"):
        d.log_prob(-np.ones((1, 4, 4, 1), "int32"))
    with pytest.raises(
        ValueError,
        match=r"`value` must have shape \[\.\.\., 4, 4, 1\].*got shape \[1, 4, 4, 3\]",
    ):
        d.log_prob(np.zeros((1, 4, 4, 3), "int32"))
    with pytest.raises(
        ValueError, match=r"`value` must have shape.*got shape \[1, 8, 8, 1\]"
    ):
        d.log_prob(np.zeros((1, 8, 8, 1), "int32"))
    with pytest.raises(ValueError, match=r"`num_rows`.*0\.\.4; got 5"):
        d.complete(np.zeros((1, 4, 4, 1), "int32"), 5)
    with pytest.raises(ValueError, match=r"`images`.*got shape \[4, 4, 1\]"):
        d.complete(np.zeros((4, 4, 1), "int32"), 1)
    with pytest.raises(ValueError, match=r"`network`.*got Dense"):
        PixelRNNDistribution(keras.layers.Dense(2))


def test_validate_args_checks_values_in_graph_mode():
    net = PixelRNN((4, 4, 1), num_levels=3, hidden_units=2, output_units=4)
    d = PixelRNNDistribution(net, validate_args=True)
    f = tf.function(
        d.log_prob, input_signature=[tf.TensorSpec([None, 4, 4, 1], tf.int32)]
    )
    assert f(tf.zeros([2, 4, 4, 1], tf.int32)).shape == (2,)
    with pytest.raises(
        tf.errors.InvalidArgumentError, match="must hold integers in 0..2"
    ):
        f(tf.fill([2, 4, 4, 1], 7))


# -- the registered builder ---------------------------------------------------
_SMALL = dict(num_levels=3, hidden_units=2, output_units=4)


@pytest.mark.parametrize("layer_type", ["row", "diagonal"])
def test_builder_same_seed_same_weights_and_rebuilds_from_spec(layer_type):
    from tfp_flows.distributions import pixel_rnn
    from tfp_flows.internal import specs

    def weights(d):
        return [v.numpy() for v in d.trainable_variables]

    kwargs = dict(_SMALL, layer_type=layer_type, num_layers=2)
    tf.random.set_seed(0)
    a = pixel_rnn((4, 4, 1), seed=3, **kwargs)
    tf.random.set_seed(99)  # the global seed must not matter
    b = pixel_rnn((4, 4, 1), seed=3, **kwargs)
    c = pixel_rnn((4, 4, 1), seed=4, **kwargs)
    for u, v in zip(weights(a), weights(b), strict=True):
        np.testing.assert_array_equal(u, v)
    kernels = [w for w in weights(a) if w.ndim > 1]
    others = [w for w in weights(c) if w.ndim > 1]
    assert not any(np.array_equal(u, v) for u, v in zip(kernels, others, strict=True))
    # Every kernel has its own seed: no two equal-shaped kernels are equal.
    for i, u in enumerate(kernels):
        for v in kernels[i + 1 :]:
            assert u.shape != v.shape or not np.array_equal(u, v)
    rebuilt = specs.build_from_spec(specs.spec_of(a))
    assert isinstance(rebuilt, PixelRNNDistribution) and rebuilt is not a
    assert rebuilt.network.get_config()["layer_type"] == layer_type
    for u, v in zip(weights(a), weights(rebuilt), strict=True):
        np.testing.assert_array_equal(u, v)
    x = _images((4, 4, 1), levels=3)
    np.testing.assert_array_equal(a.log_prob(x), rebuilt.log_prob(x))


def test_builder_bad_seed_raises():
    from tfp_flows.distributions import pixel_rnn

    with pytest.raises(ValueError, match=r"`seed`.*non-negative integer; got -1"):
        pixel_rnn((4, 4, 1), seed=-1, **_SMALL)
    with pytest.raises(ValueError, match=r"`seed`.*got 1.5"):
        pixel_rnn((4, 4, 1), seed=1.5, **_SMALL)


def test_sample_with_a_symbolic_count_inside_tf_function():
    from tfp_flows.distributions import pixel_rnn

    d = pixel_rnn((3, 3, 1), seed=0, **_SMALL)
    f = tf.function(
        lambda n, seed: d.sample(n, seed=seed),
        input_signature=[tf.TensorSpec([], tf.int32), tf.TensorSpec([2], tf.int32)],
    )
    s = f(tf.constant(2), tf.constant([1, 2]))
    assert s.shape == (2, 3, 3, 1)
    np.testing.assert_array_equal(s, d.sample(2, seed=tf.constant([1, 2])))


@pytest.mark.parametrize("layer_type", ["row", "diagonal"])
def test_a_single_sample_has_a_static_batch_of_one(layer_type):
    # `sample(1)` enters the sampling loops with a static batch of 1 that the
    # loop bodies turn into a dynamic one: it used to raise a `tf.while_loop`
    # shape-invariant error (batches > 1 worked).
    net = PixelRNN(
        (3, 3, 1),
        num_levels=3,
        layer_type=layer_type,
        hidden_units=4,
        output_units=4,
        seed=0,
    )
    d = PixelRNNDistribution(net)
    cached = d.sample(1, seed=5)
    assert cached.shape == (1, 3, 3, 1)
    np.testing.assert_array_equal(cached, d.sample(1, seed=5, cached=False))
    completed = d.complete(cached, num_rows=1, seed=6)
    assert completed.shape == (1, 3, 3, 1)
    np.testing.assert_array_equal(completed[:, :1], cached[:, :1])
