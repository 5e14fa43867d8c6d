"""Flow posteriors (Gaussian, planar, IAF) and the VAE with them."""

import json

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows import cli
from tfp_flows.internal.keras import as_tf_variable, keras
from tfp_flows.layers import DiagonalGaussianPosterior, IAFPosterior, PlanarPosterior
from tfp_flows.vae import VAE, make_posterior

FEATURES = np.random.RandomState(0).normal(size=[5, 6]).astype(np.float32)


def _layers():
    return {
        "gaussian": DiagonalGaussianPosterior(3, feature_size=6),
        "planar": PlanarPosterior(3, feature_size=6, num_steps=3, context_size=4),
        "iaf": IAFPosterior(
            3, feature_size=6, num_steps=2, context_size=4, hidden_units=[8]
        ),
    }


@pytest.fixture(scope="module")
def layers():
    keras.utils.set_random_seed(0)
    layers = _layers()
    for layer in layers.values():  # move off the near-identity initialization
        for w in layer.trainable_weights:
            w.assign(w + np.random.RandomState(1).normal(scale=0.3, size=w.shape))
    return layers


@pytest.mark.parametrize("kind", ["gaussian", "planar", "iaf"])
def test_sample_and_log_prob_agrees_with_log_prob(layers, kind):
    q = layers[kind](FEATURES)
    z, log_q = q.sample_and_log_prob(7, seed=3)
    assert z.shape == (7, 5, 3) and log_q.shape == (7, 5)
    np.testing.assert_allclose(
        q.log_prob(tf.identity(z)).numpy(), log_q.numpy(), atol=2e-3
    )
    if kind != "gaussian":  # the flow changes the density
        base = tfp.distributions.MultivariateNormalDiag(q.loc, q.scale)
        assert np.max(np.abs(base.log_prob(z).numpy() - log_q.numpy())) > 1e-2


def test_gaussian_posterior_is_the_diagonal_normal(layers):
    q = layers["gaussian"](FEATURES)
    z = q.sample(4, seed=2)
    ref = tfp.distributions.MultivariateNormalDiag(q.loc, q.scale).log_prob(z)
    np.testing.assert_allclose(q.log_prob(z).numpy(), ref.numpy(), rtol=1e-5)


def test_iaf_posterior_log_prob_is_normalized(layers):
    # E_p[q(z) / p(z)] = 1 for z ~ p, with p a wider normal around q's samples.
    q = layers["iaf"](FEATURES[:1])
    z = q.sample(20000, seed=5)[:, 0]
    mean, std = tf.reduce_mean(z, 0), tf.math.reduce_std(z, 0)
    wide = tfp.distributions.MultivariateNormalDiag(mean, 2.0 * std)
    zp = wide.sample(40000, seed=6)
    ratio = tf.exp(q.log_prob(zp[:, None, :])[:, 0] - wide.log_prob(zp))
    assert abs(float(tf.reduce_mean(ratio)) - 1.0) < 0.05, float(tf.reduce_mean(ratio))


def test_posterior_bad_input(layers):
    with pytest.raises(ValueError, match=r"`features`.*\[batch, 6\].*\[5, 7\]"):
        layers["iaf"](np.zeros([5, 7], np.float32))
    q = layers["planar"](FEATURES)
    with pytest.raises(
        ValueError, match=r"`z` must have shape \[\.\.\., 5, 3\].*\[4, 3\]"
    ):
        q.log_prob(tf.zeros([4, 3]))
    with pytest.raises(ValueError, match="`kind`.*'maf'"):
        make_posterior("maf", 3, feature_size=6, num_steps=2)
    with pytest.raises(ValueError, match="`num_steps`.*0"):
        make_posterior("iaf", 3, feature_size=6, num_steps=0)
    with pytest.raises(
        ValueError, match=r"`x` must have shape \[batch, 16\].*\[2, 15\]"
    ):
        VAE(16, latent_size=2, hidden_units=[8]).posterior_of(np.zeros([2, 15]))


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(0)
    x = (np.random.RandomState(0).uniform(size=(64, 16)) > 0.5).astype(np.float32)
    model = VAE(
        16,
        latent_size=2,
        posterior="iaf",
        num_flow_steps=2,
        hidden_units=[16],
        made_hidden_units=[8],
        context_size=3,
    )
    before = [w.numpy().copy() for w in model.trainable_weights]
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit(x, batch_size=32, epochs=3, verbose=0)
    return model, x, before, history


def test_vae_weights_are_encoder_decoder_posterior_and_all_train(trained):
    model, _, before, history = trained
    expected = (
        model.encoder.trainable_weights
        + model.decoder.trainable_weights
        + model.posterior.trainable_weights
    )
    assert sorted(id(w) for w in model.trainable_weights) == sorted(
        id(w) for w in expected
    )
    # The IAF bijectors' own variable lists (what TFP sees) are Keras weights.
    made_vars = {
        id(v)
        for step in model.posterior._bijectors(tf.zeros([1, 3]))
        for v in step.trainable_variables
    }
    keras_vars = {id(as_tf_variable(w)) for w in model.trainable_weights}
    assert made_vars and made_vars <= keras_vars
    # Every weight moved under model.fit (gradients reach the IAF steps too).
    for w, b in zip(model.trainable_weights, before, strict=True):
        assert np.any(w.numpy() != b), w.path
    assert np.all(np.isfinite(history.history["loss"]))


def test_iwae_bound_is_above_the_elbo_on_the_same_samples(trained):
    model, x, _, _ = trained
    out = model.importance_weighted(x[:8], num_samples=64, seed=[1, 2])
    elbo, log_px = out["elbo"].numpy(), out["log_px"].numpy()
    assert np.all(log_px >= elbo - 1e-5)
    assert np.all(log_px < 0)  # a probability of binary data
    bounds = model.evaluate_bounds(x[:8], num_samples=64, batch_size=4)
    assert bounds["log_px"] >= bounds["elbo"]


def test_vae_job_writes_metrics_weights_and_pngs(tmp_path):
    out = tmp_path / "vae"
    argv = ["--model", "vae", "--fast", "--no-progress", "--output-dir", str(out)]
    assert cli.main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == "vae" and metrics["posterior"] == "iaf"
    assert metrics["test_log_px_nats"] >= metrics["test_elbo_nats"]
    assert -64 * np.log(2) * 3 < metrics["test_elbo_nats"] < 0
    for name in ("samples.png", "reconstructions.png", "curve.png", "vae.weights.h5"):
        assert (out / name).stat().st_size > 0
