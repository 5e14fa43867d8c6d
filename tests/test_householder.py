"""Householder flow (Tomczak & Welling 2016): bijector, builder, VAE posterior.

The shared registry checks are in `tests/registry_householder.py`, the Keras
drop-in checks of `flows.householder_flow` in `tests/flow_zoo_householder.py`.
"""

import json

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows import flows
from tfp_flows.bijectors import Householder
from tfp_flows.bijectors.householder import reflect
from tfp_flows.internal.keras import keras
from tfp_flows.testing import check_bijector
from tfp_flows.vae import VAE
from tfp_flows.vae import HouseholderPosterior
from tfp_flows.vae import make_posterior

tfd = tfp.distributions
_RNG = np.random.RandomState(0)
_V = _RNG.normal(size=[3, 4])  # K = 3 reflections in D = 4
_X = _RNG.normal(size=[5, 4])


def _naive_matrix(v):
    """`H_K ... H_1` in numpy float64, from the paper's formula."""
    q = np.eye(v.shape[-1])
    for vk in v:
        h = np.eye(len(vk)) - 2.0 * np.outer(vk, vk) / vk.dot(vk)
        q = h @ q
    return q


# -- the bijector ----------------------------------------------------------------
@pytest.mark.parametrize("dtype", [tf.float32, tf.float64], ids=lambda d: d.name)
def test_matrix_is_orthogonal_and_matches_the_paper(dtype):
    hh = Householder(4, 3, vectors=tf.constant(_V, dtype), dtype=dtype)
    q = hh.matrix().numpy().astype(np.float64)
    tol = 1e-6 if dtype == tf.float32 else 1e-13
    np.testing.assert_allclose(q.T @ q, np.eye(4), atol=tol)
    np.testing.assert_allclose(q, _naive_matrix(_V), atol=tol)
    np.testing.assert_allclose(abs(np.linalg.det(q)), 1.0, atol=tol)  # det = (-1)^K
    np.testing.assert_allclose(np.linalg.det(q), -1.0, atol=tol)
    x = tf.constant(_X, dtype)
    y = hh.forward(x)
    np.testing.assert_allclose(y.numpy(), _X @ q.T, atol=10 * tol)
    # Each H_k is its own inverse: the inverse applies them in reverse order.
    np.testing.assert_allclose(hh.inverse(tf.identity(y)).numpy(), _X, atol=10 * tol)
    np.testing.assert_array_equal(hh.forward_log_det_jacobian(x, event_ndims=1), 0.0)
    np.testing.assert_array_equal(
        hh.inverse_log_det_jacobian(tf.identity(y), event_ndims=1), 0.0
    )


def test_own_weights_are_one_keras_weight_and_train():
    hh = Householder(3, 2, seed=4)
    assert [v.shape.as_list() for v in hh.trainable_variables] == [[2, 3]]
    # The Keras layer and the bijector list the same numbers.
    (keras_weight,) = hh.weight_store.trainable_weights
    np.testing.assert_array_equal(keras_weight.numpy(), hh.trainable_variables[0])
    np.testing.assert_array_equal(hh.reflection_vectors(), keras_weight.numpy())
    q = hh.matrix().numpy()
    np.testing.assert_allclose(q.T @ q, np.eye(3), atol=1e-6)
    # In a chain after an anisotropic scale, log_prob depends on the vectors.
    flow = tfd.TransformedDistribution(
        tfd.MultivariateNormalDiag(scale_diag=[3.0, 1.0, 0.2]), hh
    )
    with tf.GradientTape() as tape:
        lp = tf.reduce_sum(flow.log_prob(tf.constant(_X[:, :3], tf.float32)))
    (g,) = tape.gradient(lp, hh.trainable_variables)
    assert np.all(np.isfinite(g)) and np.any(np.abs(g) > 1e-3)


def test_per_example_vectors_through_check_bijector():
    # Vectors [B, K, D] for a batch of B = 3 (the VAE posterior's case).
    v = tf.constant(_RNG.normal(size=[3, 2, 4]), tf.float64)
    hh = Householder(4, 2, vectors=v, dtype=tf.float64)
    ran = check_bijector(
        hh,
        [4],
        checks=["round_trip", "fldj_vs_ildj", "eager_function_xla"],
        num_weights=0,
    )
    assert ran == ["round_trip", "fldj_vs_ildj", "eager_function_xla"]
    x = tf.constant(_X[:3], tf.float64)
    y = hh.forward(x).numpy()
    for b in range(3):  # example b is reflected by its own vectors
        np.testing.assert_allclose(y[b], _naive_matrix(v[b].numpy()) @ _X[b], 1e-12)
    # Samples [S, B, D] broadcast against the vectors' batch [B].
    assert hh.forward(tf.zeros([7, 3, 4], tf.float64)).shape == (7, 3, 4)
    # Gradients reach whatever made the vectors.
    w = tf.Variable(v)
    with tf.GradientTape() as tape:
        out = Householder(4, 2, vectors=w * 1.0, dtype=tf.float64).forward(x)
        loss = tf.reduce_sum(tf.sin(out))
    g = tape.gradient(loss, w)
    assert g is not None and np.all(np.isfinite(g)) and np.any(g.numpy() != 0)


def test_in_a_chain_and_as_a_rotation_of_a_diagonal_gaussian():
    # scale -> reflections: N(0, Q S^2 Q^T), checked against TFP's MVN.
    scale = np.array([2.0, 0.5, 1.0, 0.3])
    hh = Householder(4, 3, vectors=tf.constant(_V), dtype=tf.float64)
    chain = tfp.bijectors.Chain([hh, tfp.bijectors.ScaleMatvecDiag(scale)])
    flow = tfd.TransformedDistribution(
        tfd.MultivariateNormalDiag(tf.zeros(4, tf.float64)), chain
    )
    q = _naive_matrix(_V)
    ref = tfd.MultivariateNormalTriL(
        tf.zeros(4, tf.float64),
        tf.linalg.cholesky(tf.constant(q @ np.diag(scale**2) @ q.T)),
    )
    x = tf.constant(_X)
    np.testing.assert_allclose(flow.log_prob(x), ref.log_prob(x), atol=1e-10)


@pytest.mark.parametrize("scale", [0.0, 1e-25, 1e25])
def test_vectors_near_zero_and_huge_are_handled(scale):
    """Naively `||v||^2` underflows (1e-50) or overflows (1e50) in float32."""
    d = np.array([0.3, -1.2, 0.5, 0.8], np.float32)
    v = tf.Variable((d * np.float32(scale))[None, :].astype(np.float32))
    x = tf.constant(_X, tf.float32)
    naive = x - 2.0 * tf.reduce_sum(v * x, -1, keepdims=True) * v / tf.reduce_sum(v * v)
    assert not np.all(np.isfinite(naive))  # the hazard is real in float32
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        hh = Householder(4, 1, vectors=v * 1.0)
        y = hh.forward(x)
        loss = tf.reduce_sum(tf.sin(y))
    gv, gx = tape.gradient(loss, v), tape.gradient(loss, x)
    for t in (y, gx, gv):
        assert np.all(np.isfinite(t))
    if scale == 0.0:  # direction undefined: the identity, gradients zero
        np.testing.assert_array_equal(y, x)
        np.testing.assert_array_equal(gv, 0.0)
    else:  # the exact reflection of the direction d
        want = _X @ _naive_matrix(d[None].astype(np.float64)).T
        np.testing.assert_allclose(y, want, atol=1e-5)
    q = Householder(4, 1, vectors=v).matrix().numpy()
    np.testing.assert_allclose(q.T @ q, np.eye(4), atol=1e-6)
    np.testing.assert_allclose(
        Householder(4, 1, vectors=v).inverse(tf.identity(y)), _X, atol=1e-5
    )
    # The same v through `reflect` directly, in float64 too.
    np.testing.assert_allclose(
        reflect(tf.constant(_X), tf.constant(d.astype(np.float64) * scale)),
        want if scale else _X,
        atol=1e-12,
    )


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match=r"`num_reflections` must be an integer >= 1"):
        Householder(3, 0)
    with pytest.raises(ValueError, match=r"`num_reflections`.*2\.5"):
        Householder(3, 2.5)
    with pytest.raises(ValueError, match=r"`event_size` must be an integer >= 1"):
        Householder(0, 1)
    want = r"`vectors` must have shape \[\.\.\., 2, 3\].*got shape "
    with pytest.raises(ValueError, match=want + r"\[4, 3\]"):
        Householder(3, 2, vectors=tf.zeros([4, 3]))
    with pytest.raises(ValueError, match=want + r"\[3\]"):
        Householder(3, 2, vectors=tf.zeros([3]))
    with pytest.raises(ValueError, match="`vectors`.*NaN or Inf"):
        Householder(2, 1, vectors=[[np.nan, 1.0]])
    with pytest.raises(ValueError, match="`vectors`.*floating-point"):
        Householder(2, 1, vectors=tf.ones([1, 2], tf.int32))
    hh = Householder(3, 2)
    with pytest.raises(ValueError, match=r"`x` must have event shape \[\.\.\., 3\]"):
        hh.forward(tf.zeros([2, 4]))
    with pytest.raises(ValueError, match=r"y.*dtype float32.*dtype float64"):
        hh.inverse(tf.zeros([2, 3], tf.float64))
    per_example = Householder(3, 1, vectors=tf.ones([5, 1, 3]))
    with pytest.raises(ValueError, match=r"`x` has batch shape \[4\].*\[5\]"):
        per_example.forward(tf.zeros([4, 3]))


# -- the builder ---------------------------------------------------------------
def test_householder_flow_is_a_full_covariance_gaussian():
    flow = flows.householder_flow(3, seed=2, dtype=tf.float64)
    act, hh = flow.bijector.bijectors[::-1]  # base side first
    act.log_scale.assign([0.5, -0.2, 0.1])
    act.shift.assign([1.0, 0.0, -1.0])
    q = hh.matrix().numpy()
    s = np.exp([0.5, -0.2, 0.1])
    ref = tfd.MultivariateNormalTriL(
        q @ np.array([1.0, 0.0, -1.0]),
        tf.linalg.cholesky(tf.constant(q @ np.diag(s**2) @ q.T)),
    )
    x = tf.constant(_X[:, :3])
    np.testing.assert_allclose(flow.log_prob(x), ref.log_prob(x), atol=1e-10)
    assert len(flow.trainable_variables) == 3  # shift, log_scale, vectors
    assert hh.num_reflections == 3  # default K = D


def test_householder_flow_bad_input():
    with pytest.raises(ValueError, match="`diagonal_affine` is False.*N\\(0, I\\)"):
        flows.householder_flow(3, diagonal_affine=False)
    with pytest.raises(ValueError, match="`num_reflections`.*-1"):
        flows.householder_flow(3, num_reflections=-1)
    with pytest.raises(ValueError, match="`diagonal_affine` must be True or False"):
        flows.householder_flow(3, diagonal_affine="yes")
    # Reflections alone on a base that is not rotation invariant are allowed.
    base = tfd.MultivariateNormalDiag(scale_diag=[1.0, 2.0, 3.0])
    flow = flows.householder_flow(3, diagonal_affine=False, base_distribution=base)
    assert len(flow.trainable_variables) == 1


# -- the VAE posterior ---------------------------------------------------------
_FEATURES = _RNG.normal(size=[5, 6]).astype(np.float32)


@pytest.fixture(scope="module")
def posterior():
    keras.utils.set_random_seed(0)
    layer = make_posterior("householder", 3, feature_size=6, num_steps=3, seed=1)
    for w in layer.trainable_weights:  # off the initial values
        w.assign(w + np.random.RandomState(1).normal(scale=0.3, size=w.shape))
    return layer


def test_posterior_vectors_follow_the_paper(posterior):
    assert isinstance(posterior, HouseholderPosterior)
    v = posterior.householder_vectors(_FEATURES).numpy()
    assert v.shape == (5, 3, 3)
    kernel, bias = (w.numpy() for w in posterior.heads.weights)
    np.testing.assert_allclose(
        v[:, 0], (_FEATURES @ kernel + bias)[:, 6:], rtol=1e-5, atol=1e-5
    )  # v_1 = W_0 e + b_0
    for t, layer in enumerate(posterior.vector_layers):  # v_{t+1} = W_t v_t + b_t
        k, b = (w.numpy() for w in layer.weights)
        np.testing.assert_allclose(v[:, t + 1], v[:, t] @ k + b, rtol=1e-5, atol=1e-5)
    assert len(posterior.trainable_weights) == 2 + 2 * 2


def test_posterior_log_prob_is_the_base_density(posterior):
    q = posterior(_FEATURES)
    z, log_q = q.sample_and_log_prob(7, seed=3)
    assert z.shape == (7, 5, 3) and log_q.shape == (7, 5)
    # Volume preserving: log q(z_K | x) = log N(z_0; mu, sigma), z_0 = Q^T z_K.
    v = posterior.householder_vectors(_FEATURES)
    z0 = Householder(3, 3, vectors=v).inverse(tf.identity(z))
    base = tfd.MultivariateNormalDiag(q.loc, q.scale)
    np.testing.assert_allclose(log_q, base.log_prob(z0), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(q.log_prob(tf.identity(z)), log_q, rtol=1e-5, atol=1e-4)
    # ... and the flow did move the samples (not the diagonal Gaussian).
    assert np.max(np.abs(base.log_prob(z).numpy() - log_q.numpy())) > 1e-2
    # q(z|x) = N(Q mu, Q diag(sigma^2) Q^T) for each example.
    for b in range(2):
        qm = _naive_matrix(v[b].numpy().astype(np.float64))
        mu, sd = q.loc[b].numpy(), q.scale[b].numpy()
        ref = tfd.MultivariateNormalFullCovariance(
            (qm @ mu).astype(np.float32),
            (qm @ np.diag(sd**2) @ qm.T).astype(np.float32),
        )
        np.testing.assert_allclose(
            log_q[:, b], ref.log_prob(z[:, b]), rtol=1e-4, atol=1e-3
        )


def test_posterior_config_round_trip(posterior):
    config = posterior.get_config()
    json.dumps(config)
    assert config["num_steps"] == 3 and config["seed"] == 1
    assert "context_size" not in config
    rebuilt = HouseholderPosterior.from_config(config)
    assert rebuilt.get_config() == config
    rebuilt.set_weights(posterior.get_weights())
    z1, lq1 = posterior(_FEATURES).sample_and_log_prob(2, seed=[1, 2])
    z2, lq2 = rebuilt(_FEATURES).sample_and_log_prob(2, seed=[1, 2])
    np.testing.assert_allclose(z1, z2, atol=1e-6)
    np.testing.assert_allclose(lq1, lq2, atol=1e-5)
    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(posterior)))
    assert serialized["registered_name"] == "tfp_flows>HouseholderPosterior"
    restored = keras.saving.deserialize_keras_object(serialized, safe_mode=True)
    assert type(restored) is HouseholderPosterior
    assert restored.get_config() == config


def test_posterior_bad_input(posterior):
    with pytest.raises(ValueError, match=r"`features`.*\[batch, 6\].*\[5, 7\]"):
        posterior(np.zeros([5, 7], np.float32))
    with pytest.raises(ValueError, match="`num_steps`.*0"):
        make_posterior("householder", 3, feature_size=6, num_steps=0)
    with pytest.raises(ValueError, match="`num_steps`.*0"):
        HouseholderPosterior(3, feature_size=6, num_steps=0)
    with pytest.raises(ValueError, match="`context_size` is not an option.*4"):
        HouseholderPosterior(3, feature_size=6, context_size=4)
    with pytest.raises(ValueError, match="`num_flow_steps`.*0"):
        VAE(16, latent_size=2, posterior="householder", num_flow_steps=0)


@pytest.fixture(scope="module")
def trained_vae():
    keras.utils.set_random_seed(0)
    x = (np.random.RandomState(0).uniform(size=(64, 16)) > 0.5).astype(np.float32)
    model = VAE(
        16, latent_size=2, posterior="householder", num_flow_steps=2, hidden_units=[16]
    )
    before = [w.numpy().copy() for w in model.posterior.trainable_weights]
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit(x, batch_size=32, epochs=2, verbose=0)
    return model, x, before, history


def test_vae_with_householder_posterior_trains(trained_vae, tmp_path):
    model, x, before, history = trained_vae
    assert np.all(np.isfinite(history.history["loss"]))
    # Every posterior weight (heads and the v_{t+1} layers) moved.
    for w, b in zip(model.posterior.trainable_weights, before, strict=True):
        assert np.any(w.numpy() != b), w.path
    bounds = model.importance_weighted(x[:8], num_samples=16, seed=[3, 4])
    assert np.all(np.isfinite(bounds["elbo"])) and np.all(np.isfinite(bounds["log_px"]))
    assert np.all(bounds["log_px"].numpy() >= bounds["elbo"].numpy() - 1e-4)
    # A `.keras` file restores the same model (config only, safe mode).
    path = tmp_path / "vae_householder.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(
        loaded.log_weights(x[:4], 2, seed=[1, 2]),
        model.log_weights(x[:4], 2, seed=[1, 2]),
        rtol=1e-5,
        atol=1e-5,
    )
