"""Flow posteriors (Gaussian, planar, IAF) and the VAE with them."""

import json

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows import cli
from tfp_flows.internal.keras import as_tf_variable
from tfp_flows.internal.keras import keras
from tfp_flows.layers import DiagonalGaussianPosterior
from tfp_flows.layers import IAFPosterior
from tfp_flows.layers import PlanarPosterior
from tfp_flows.vae import VAE
from tfp_flows.vae import make_posterior

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
    # Jensen's inequality: holds for any log-weights, so this only checks the
    # plumbing (shapes, signs); the IWAE tests below check the values against
    # an exact log p(x).
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


# -- IWAE against an exact log p(x) ---------------------------------------------
_HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)
_KS = (1, 10, 100, 1000)
_REPEATS = 1000  # independent IWAE estimates per k (batch rows)


class _LinearGaussianVAE(VAE):
    """The package's VAE with a linear-Gaussian decoder, p(x|z) = N(W z + b, s^2 I).

    `VAE`'s decoder is Bernoulli and its `log_weights` hard-codes that
    likelihood, so this subclass overrides `log_weights` and changes only the
    likelihood term: the encoder, the posterior layer (its
    `sample_and_log_prob`) and `importance_weighted` (the IWAE and ELBO
    estimates) are the package's. With z ~ N(0, I) the marginal is
    p(x) = N(x; b, W W^T + s^2 I) and the posterior is Gaussian too.
    """

    def __init__(self, w, b, sigma, **kwargs):
        super().__init__(w.shape[0], latent_size=w.shape[1], **kwargs)
        self._w = tf.constant(w, tf.float32)
        self._b = tf.constant(b, tf.float32)
        self._sigma = float(sigma)

    def log_weights(self, x, num_samples=1, seed=None):
        x = self._check(x)
        z, log_q = self.posterior_of(x).sample_and_log_prob(num_samples, seed=seed)
        mean = tf.einsum("...d,xd->...x", z, self._w) + self._b
        log_px_z = tf.reduce_sum(
            -0.5 * tf.square((x - mean) / self._sigma)
            - np.log(self._sigma)
            - _HALF_LOG_2PI,
            axis=-1,
        )
        log_pz = tf.reduce_sum(-0.5 * tf.square(z) - _HALF_LOG_2PI, axis=-1)
        return log_px_z + log_pz - log_q


def _set_posterior(model, loc, scale, rng, flow_noise):
    """q(z|x): Gaussian `N(loc, scale^2)` for every x (heads' kernel zeroed),
    then the posterior's flow steps (if any) with weights moved by `flow_noise`."""
    heads = model.posterior.heads
    d = model.latent_size
    context = heads.kernel.shape[1] - 2 * d
    raw_scale = np.log(np.expm1(np.asarray(scale) - model.posterior.min_scale))
    heads.kernel.assign(np.zeros(heads.kernel.shape, "float32"))
    heads.bias.assign(
        np.concatenate([loc, raw_scale, rng.normal(size=context)]).astype("float32")
    )
    head_ids = {id(heads.kernel), id(heads.bias)}
    for w in model.posterior.trainable_weights:
        if id(w) not in head_ids:
            w.assign(w + rng.normal(scale=flow_noise, size=w.shape).astype("float32"))


def _iwae_estimates(model, x, seed):
    """{k: (log_px [R], elbo [R])}: `_REPEATS` independent estimates of each."""
    rows = np.tile(np.asarray(x, np.float32)[None], (_REPEATS, 1))
    out = {}
    for k in _KS:
        est = model.importance_weighted(rows, num_samples=k, seed=[seed, k])
        out[k] = (
            est["log_px"].numpy().astype(np.float64),
            est["elbo"].numpy().astype(np.float64),
        )
    return out


def _check_iwae_converges(estimates, exact, weight_var, exact_elbo=None):
    """The IWAE bias shrinks with k, like -Var(w)/(2k), to within the noise.

    For k samples, E[log mean(w)] = log p(x) - Var(w)/(2k) + O(1/k^2) with
    `w` the weights normalized by p(x) (a delta-method expansion), so each
    estimate must lie in [log p(x) - Var(w)/k - 4 SE, log p(x) + 4 SE] for
    k >= 10 (SE: the standard error of the mean of the repeats); k = 1 is the
    ELBO, far below.
    """
    means = {}
    for k, (log_px, elbo) in estimates.items():
        se = log_px.std() / np.sqrt(len(log_px))
        bias = log_px.mean() - exact
        means[k] = (bias, se)
        # The ELBO output is the mean log-weight whatever k: the same value.
        elbo_se = elbo.std() / np.sqrt(len(elbo))
        if exact_elbo is not None:
            assert abs(elbo.mean() - exact_elbo) < 4 * elbo_se, (k, elbo.mean())
        if k == 1:
            np.testing.assert_allclose(log_px, elbo, rtol=1e-6)
            # A deliberately imperfect posterior: the ELBO gap is large.
            assert bias < -0.2 and bias < -10 * se, (bias, se)
        else:
            assert -weight_var / k - 4 * se < bias < 4 * se, (k, bias, se, weight_var)
    # The bias shrinks: each tenfold k leaves a smaller (in magnitude) gap,
    # significantly so while it is still larger than the noise.
    (b1, s1), (b10, s10) = means[1], means[10]
    assert b10 - b1 > 5 * np.hypot(s1, s10), means
    assert abs(means[1000][0]) < 4 * means[1000][1] + weight_var / 1000, means
    return means


def _normalized_weight_stats(model, x, exact, n=200_000):
    """Mean and variance of w = p(x, z) / (q(z|x) p(x)), z ~ q (one row of x)."""
    log_w = model.log_weights(np.asarray(x, np.float32)[None], n, seed=[9, 9])
    w = np.exp(log_w.numpy()[:, 0].astype(np.float64) - exact)
    return w.mean(), w.var(), w.std() / np.sqrt(n)


@pytest.mark.parametrize("posterior", ["gaussian", "planar", "iaf"])
def test_iwae_converges_to_the_exact_log_px_of_a_linear_gaussian_vae(posterior):
    rng = np.random.RandomState(0)
    w, b, sigma = rng.normal(size=(3, 2)), rng.normal(size=3), 0.5
    cov = w @ w.T + sigma**2 * np.eye(3)
    x = b + rng.multivariate_normal(np.zeros(3), cov)
    exact = float(
        -0.5 * (x - b) @ np.linalg.solve(cov, x - b)
        - 0.5 * np.linalg.slogdet(2 * np.pi * cov)[1]
    )
    # The exact posterior N(mu, S); q is shifted by half a posterior std and
    # 1.3 times wider than S's widest direction (so the weights stay bounded,
    # for the Gaussian q, and the IWAE converges at the 1/k rate).
    post_cov = np.linalg.inv(np.eye(2) + w.T @ w / sigma**2)
    post_mean = post_cov @ w.T @ (x - b) / sigma**2
    loc = post_mean + 0.5 * np.sqrt(np.diag(post_cov)) * np.array([1.0, -1.0])
    scale = np.full(2, 1.3 * np.sqrt(np.linalg.eigvalsh(post_cov).max()))
    keras.utils.set_random_seed(0)
    kwargs = dict(posterior=posterior, hidden_units=[8])
    if posterior != "gaussian":
        kwargs.update(num_flow_steps=2, made_hidden_units=[8], context_size=3)
    model = _LinearGaussianVAE(w, b, sigma, **kwargs)
    _set_posterior(model, loc, scale, rng, flow_noise=0.3)
    exact_elbo = None
    if posterior == "gaussian":  # ELBO = log p(x) - KL(q || posterior)
        prec = np.linalg.inv(post_cov)
        kl = 0.5 * (
            np.trace(prec @ np.diag(scale**2))
            + (post_mean - loc) @ prec @ (post_mean - loc)
            - 2
            + np.linalg.slogdet(post_cov)[1]
            - 2 * np.sum(np.log(scale))
        )
        exact_elbo = exact - kl
    # E_q[w] = 1: log q is a normalized density and the weights are unbiased.
    mean_w, var_w, se_w = _normalized_weight_stats(model, x, exact)
    assert abs(mean_w - 1.0) < 4 * se_w, (mean_w, se_w)
    _check_iwae_converges(_iwae_estimates(model, x, seed=3), exact, var_w, exact_elbo)


def _decoder_logits_np(model, z):
    """The VAE's decoder (Dense + elu layers, then Dense) in float64 numpy."""
    layers = model.decoder.layers
    h = z
    for i, layer in enumerate(layers):
        h = h @ layer.kernel.numpy().astype(np.float64) + layer.bias.numpy()
        if i < len(layers) - 1:
            h = np.where(h > 0, h, np.expm1(np.minimum(h, 0.0)))  # elu
    return h


@pytest.mark.parametrize("posterior", ["gaussian", "iaf"])
def test_iwae_of_the_bernoulli_vae_converges_to_log_px_by_quadrature(posterior):
    # The package's VAE unmodified (Bernoulli decoder, its own log_weights):
    # with a 2-D latent, log p(x) = log of the integral of p(x|z) N(z; 0, I)
    # is computed on a 701 x 701 grid over [-7, 7]^2 (the integrand is smooth
    # and negligible outside; a 1601-point grid over [-8, 8]^2 agrees to 1e-12).
    keras.utils.set_random_seed(0)
    kwargs = dict(posterior=posterior, hidden_units=[8])
    if posterior != "gaussian":
        kwargs.update(num_flow_steps=2, made_hidden_units=[8], context_size=3)
    model = VAE(6, latent_size=2, **kwargs)
    for layer in model.decoder.layers:  # a decoder that depends strongly on z
        layer.kernel.assign(layer.kernel * 2.0)
    rng = np.random.RandomState(0)
    # q(z|x) = N((0.2, -0.1), 1.2^2 I) for every x (then the IAF steps): wider
    # than the prior, far from the posterior (ELBO gap 2.1 to 3.3 nats).
    loc, scale = np.array([0.2, -0.1]), np.full(2, 1.2)
    _set_posterior(model, loc, scale, rng, flow_noise=0.0)
    z = rng.normal(size=(1, 2))
    probs = 1.0 / (1.0 + np.exp(-_decoder_logits_np(model, z)[0]))
    x = (rng.uniform(size=6) < probs).astype(np.float64)  # drawn from the model
    c = np.linspace(-7.0, 7.0, 701)
    grid = np.stack(np.meshgrid(c, c, indexing="ij"), -1).reshape(-1, 2)
    logits = _decoder_logits_np(model, grid)
    log_px_z = np.sum(x * logits - np.logaddexp(0.0, logits), axis=-1)
    log_pz = -0.5 * np.sum(grid**2, -1) - np.log(2 * np.pi)
    log_joint = log_px_z + log_pz
    top = log_joint.max()
    cell = (c[1] - c[0]) ** 2
    exact = float(np.log(np.sum(np.exp(log_joint - top)) * cell) + top)
    exact_elbo = None
    if posterior == "gaussian":  # ELBO = E_q[log p(x, z) - log q(z)], same grid
        log_q = np.sum(
            -0.5 * ((grid - loc) / scale) ** 2 - np.log(scale) - _HALF_LOG_2PI, -1
        )
        exact_elbo = float(np.sum(np.exp(log_q) * (log_joint - log_q)) * cell)
    mean_w, var_w, se_w = _normalized_weight_stats(model, x, exact)
    assert abs(mean_w - 1.0) < 4 * se_w, (mean_w, se_w)
    _check_iwae_converges(_iwae_estimates(model, x, seed=4), exact, var_w, exact_elbo)
