"""Conditional PixelRNN `p(x | z)`: autoregression, log_prob, XLA sampling, VAE.

The conditional API is the package's (as `flows.maf(..., context_size=C)`):
`log_prob(x, context=z)`, `sample(n, context=z)`, `condition(z)`.
"""

import itertools

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows.data import load_digits
from tfp_flows.distributions import PixelRNNDistribution
from tfp_flows.distributions import pixel_rnn
from tfp_flows.internal.keras import keras
from tfp_flows.layers import DiagonalBiLSTM
from tfp_flows.layers import PixelRNN
from tfp_flows.layers import RowLSTM

tfd = tfp.distributions

H, W, Z = 4, 5, 3


def _images(shape, n=3, levels=4, seed=0):
    return np.random.RandomState(seed).randint(0, levels, (n,) + shape).astype("int32")


def _context(n=3, seed=0):
    return np.random.RandomState(seed + 100).normal(size=(n, Z)).astype("float32")


@pytest.mark.parametrize(
    "layer_type,channels", [("row", 1), ("diagonal", 1), ("diagonal", 3)]
)
def test_autoregressive_with_a_context_and_context_reaches_every_pixel(
    layer_type, channels
):
    tf.random.set_seed(5)
    net = PixelRNN(
        (H, W, channels),
        num_levels=4,
        layer_type=layer_type,
        num_layers=2,
        hidden_units=6 if channels == 3 else 4,
        output_units=12 if channels == 3 else 8,
        context_size=Z,
        seed=5,  # fixed weights, whatever ran before
    )
    x = tf.constant(_images((H, W, channels)).astype("float32"))
    z = tf.constant(_context())
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

    for i, j, c in itertools.product(range(H), range(W), range(channels)):
        # Tensors, not Python ints: one trace for every position.
        dx, dz = (
            t.numpy() for t in grads(tf.constant(i), tf.constant(j), tf.constant(c))
        )
        for ii, jj, cc in itertools.product(range(H), range(W), range(channels)):
            if (ii, jj, cc) >= (i, j, c):
                assert dx[ii, jj, cc] == 0.0, ((i, j, c), (ii, jj, cc))
        if (i, j, c) > (0, 0, 0):
            assert dx.max() > 0  # still sees its pixel context
        # Every pixel, the very first included, depends on the context.
        assert np.all(dz > 0), ((i, j, c), dz)


@pytest.fixture(scope="module", params=["row", "diagonal"])
def cond(request):
    return pixel_rnn(
        (H, W, 1),
        num_levels=4,
        layer_type=request.param,
        num_layers=2,
        hidden_units=2,
        output_units=4,
        context_size=Z,
        seed=2,
    )


def test_context_changes_log_prob_and_matches_independent_categoricals(cond):
    x, z = _images((H, W, 1)), _context()
    lp = cond.log_prob(x, context=z)
    logits = cond.network(x, context=z)
    expected = tf.reduce_sum(tfd.Categorical(logits=logits).log_prob(x), [1, 2, 3])
    np.testing.assert_allclose(lp, expected, rtol=1e-5)
    other = cond.log_prob(x, context=z + 1.0)
    assert np.all(np.abs(lp.numpy() - other.numpy()) > 1e-4)
    # condition(z) is an ordinary distribution with batch shape [3].
    bound = cond.condition(z)
    assert isinstance(bound, tfd.Distribution)
    assert bound.batch_shape == [3] and bound.event_shape == [H, W, 1]
    np.testing.assert_allclose(bound.log_prob(x), lp, rtol=1e-6)
    # One context row broadcasts over the images; batch dims broadcast.
    lp0 = cond.log_prob(x, context=z[0])
    np.testing.assert_allclose(lp0[0], lp[0], rtol=1e-6)
    assert cond.log_prob(np.stack([x, x]), context=z).shape == (2, 3)


def test_conditional_sampling_under_xla(cond):
    z = _context(2)
    bound = cond.condition(z)
    s = bound.sample(3, seed=7)
    assert s.shape == (3, 2, H, W, 1) and s.dtype == tf.int32
    assert int(tf.reduce_min(s)) >= 0 and int(tf.reduce_max(s)) <= 3
    # The family's sample(n, context=z) is the bound distribution's.
    np.testing.assert_array_equal(cond.sample(3, context=z, seed=7), s)
    # The cached XLA loop equals the network re-run per pixel (same seed).
    np.testing.assert_array_equal(bound.sample(3, seed=7, cached=False), s)
    # With the images given, the cached loop reproduces the parallel pass.
    x = _images((H, W, 1), n=6, seed=3)
    z6 = _context(6, seed=1)
    np.testing.assert_allclose(
        cond.teacher_forced_logits(x, context=z6),
        cond.network(x, context=z6),
        atol=2e-5,
    )
    done = cond.complete(x, 2, seed=1, context=z6).numpy()
    np.testing.assert_array_equal(done[:, :2], x[:, :2])
    # The context is used: two different contexts, same seed, differ.
    far = cond.sample(3, context=z + 5.0, seed=7)
    assert not np.array_equal(far, s)


def test_context_errors():
    uncond = pixel_rnn((H, W, 1), num_levels=4, hidden_units=2, output_units=4)
    c = pixel_rnn(
        (H, W, 1), num_levels=4, hidden_units=2, output_units=4, context_size=Z
    )
    x = _images((H, W, 1))
    with pytest.raises(ValueError, match=r"`context` is required.*context_size=3"):
        c.log_prob(x)
    with pytest.raises(ValueError, match=r"`context` is required"):
        c.sample(2, seed=1)
    with pytest.raises(ValueError, match=r"`context` is required"):
        c.network(x)
    with pytest.raises(
        ValueError, match=r"`context`.*\[\.\.\., 3\].*got shape \[3, 2\]"
    ):
        c.log_prob(x, context=np.zeros((3, 2), "float32"))
    with pytest.raises(
        ValueError, match=r"`context`.*\[\.\.\., 3\].*got shape \[3, 4\]"
    ):
        c.condition(np.zeros((3, 4), "float32"))
    with pytest.raises(
        ValueError, match=r"`context`.*\[batch, 3\].*batch 3.*got shape \[2, 3\]"
    ):
        c.network(x, context=np.zeros((2, 3), "float32"))
    with pytest.raises(
        ValueError, match=r"`context`.*\[3\] or \[batch, 3\].*batch 3.*\[2, 3\]"
    ):
        c.complete(x, 1, context=np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match=r"`context` was given.*unconditional"):
        uncond.log_prob(x, context=_context())
    with pytest.raises(ValueError, match=r"`context` was given.*unconditional"):
        uncond.network(x, context=_context())
    with pytest.raises(ValueError, match=r"unconditional \(context_size=None\)"):
        uncond.condition(_context())
    with pytest.raises(ValueError, match=r"`context` was given.*unconditional"):
        PixelRNNDistribution(uncond.network, context=_context())
    with pytest.raises(ValueError, match=r"already has a bound context"):
        c.condition(_context()).log_prob(x, context=_context())
    with pytest.raises(ValueError, match=r"`context_size`.*got 0"):
        PixelRNN((H, W, 1), context_size=0)
    with pytest.raises(ValueError, match=r"`context_size`.*got 1.5"):
        RowLSTM(4, context_size=1.5)
    with pytest.raises(ValueError, match=r"`context` is required"):
        DiagonalBiLSTM(4, context_size=2)(np.zeros((1, 3, 3, 2), "float32"))
    row = RowLSTM(4, context_size=2)
    out = row(np.zeros((1, 3, 3, 2), "float32"), context=np.ones((1, 2)))
    assert out.shape == (1, 3, 3, 4)
    with pytest.raises(
        ValueError, match=r"`context`.*\[batch, 2\].*got shape \[1, 3\]"
    ):
        row(np.zeros((1, 3, 3, 2), "float32"), context=np.ones((1, 3)))


def test_builder_records_context_size_and_keras_weights():
    from tfp_flows.internal import specs

    d = pixel_rnn(
        (H, W, 1),
        num_levels=4,
        layer_type="diagonal",
        hidden_units=2,
        output_units=4,
        context_size=Z,
        seed=4,
    )
    # Context Dense per layer and direction: 2 layers x 2 directions.
    net = d.network
    assert len(net.trainable_weights) == 2 + 2 * (2 * 4 + 2) + 4
    assert {id(v) for v in d.trainable_variables} == {
        id(w.value) for w in net.trainable_weights
    }
    rebuilt = specs.build_from_spec(specs.spec_of(d))
    assert rebuilt.context_size == Z
    x, z = _images((H, W, 1)), _context()
    np.testing.assert_array_equal(
        d.log_prob(x, context=z), rebuilt.log_prob(x, context=z)
    )
    # The Keras model of a conditional family takes (images, context).
    model = d.as_keras_model()
    np.testing.assert_allclose(model((x, z)), -d.log_prob(x, context=z), rtol=1e-6)
    assert len(model.trainable_weights) == len(net.trainable_weights)


class _TinyVAE(keras.Model):
    """x -> Dense encoder -> q(z|x) Gaussian -> z -> PixelRNN(x | z)."""

    def __init__(self, latent, decoder, **kwargs):
        super().__init__(**kwargs)
        self.latent = latent
        self.encoder = keras.Sequential(
            [
                keras.layers.Flatten(),
                keras.layers.Dense(16, activation="relu"),
                keras.layers.Dense(2 * latent),
            ]
        )
        self.encoder.build((None, 8, 8, 1))
        self.decoder = decoder  # PixelRNNDistribution family p(x | z)
        self.decoder_network = decoder.network
        self.noise = keras.random.SeedGenerator(3)

    def call(self, x):
        stats = self.encoder(tf.cast(x, "float32"))
        mean, log_std = stats[:, : self.latent], stats[:, self.latent :]
        eps = keras.random.normal(tf.shape(mean), seed=self.noise)
        z = mean + tf.exp(log_std) * eps
        log_px = self.decoder.condition(z).log_prob(x)
        kl = 0.5 * tf.reduce_sum(
            tf.square(mean) + tf.exp(2.0 * log_std) - 2.0 * log_std - 1.0, -1
        )
        return kl - log_px  # negative ELBO per image

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, **kw):
        return tf.reduce_mean(y_pred)


def test_tiny_vae_with_a_pixel_rnn_decoder_trains_with_fit():
    x = load_digits("train", binarize=True)[:128].astype("int32")
    decoder = pixel_rnn(
        (8, 8, 1),
        num_levels=2,
        layer_type="row",
        num_layers=1,
        hidden_units=4,
        output_units=8,
        context_size=2,
        seed=0,
    )
    keras.utils.set_random_seed(0)
    vae = _TinyVAE(2, decoder, name="tiny_vae")
    vae(x[:2])
    assert {id(w) for w in vae.trainable_weights} == {
        id(w) for w in vae.encoder.trainable_weights + decoder.network.trainable_weights
    }
    vae.compile(optimizer=keras.optimizers.Adam(0.01))
    before = float(tf.reduce_mean(vae(tf.identity(x))))
    history = vae.fit(x, epochs=4, batch_size=32, verbose=0)
    after = float(tf.reduce_mean(vae(tf.identity(x))))
    losses = history.history["loss"]
    assert len(losses) == 4 and losses[-1] < losses[0], losses
    assert after < before - 1.0, (before, after)


def test_conditional_pixel_rnn_in_flow_model_and_flow_sample():
    from tfp_flows.layers import FlowModel
    from tfp_flows.layers import FlowSample

    d = pixel_rnn(
        (H, W, 1), num_levels=4, hidden_units=2, output_units=4, context_size=Z
    )
    x, z = _images((H, W, 1)), _context()
    model = FlowModel(d)
    np.testing.assert_allclose(model((x, z)), d.log_prob(x, context=z), rtol=1e-6)
    assert model.flow_variables_match()
    with pytest.raises(ValueError, match=r"conditional.*\(x, context\)"):
        model(x)
    s = FlowSample(d, seed=1)(z)
    assert s.shape == (3, H, W, 1) and s.dtype == tf.int32


def test_conditional_pixel_rnn_exports_a_saved_model(tmp_path):
    from tfp_flows.layers import export_saved_model

    d = pixel_rnn(
        (H, W, 1), num_levels=4, hidden_units=2, output_units=4, context_size=Z
    )
    x, z = _images((H, W, 1)), _context()
    served = tf.saved_model.load(export_saved_model(d, str(tmp_path / "prnn")))
    lp = served.signatures["log_prob"](x=tf.constant(x), context=tf.constant(z))
    np.testing.assert_allclose(lp["log_prob"], d.log_prob(x, context=z), rtol=1e-5)
    sample = served.signatures["sample"](
        context=tf.constant(z[:2]), seed=tf.constant([1, 2])
    )
    s = sample["samples"]
    assert s.shape == (2, H, W, 1) and s.dtype == tf.int32
    assert np.all((s.numpy() >= 0) & (s.numpy() < 4))
    # The same draw as in this process: one sample per context row.
    here = d.condition(tf.constant(z[:2])).sample(seed=tf.constant([1, 2]))
    np.testing.assert_array_equal(s, here)
