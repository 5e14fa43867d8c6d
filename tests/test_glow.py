"""Glow family: behaviour beyond the registry checks (init, hazards, errors, Keras)."""

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows import bijectors as fb
from tfp_flows import data as fdata
from tfp_flows import flows
from tfp_flows.internal.keras import as_tf_variable
from tfp_flows.internal.keras import keras
from tfp_flows.layers import FlowModel


@pytest.fixture(scope="module")
def small_glow():
    return flows.glow((8, 8, 1), num_levels=2, num_steps=1, hidden_units=8, seed=1)


@pytest.fixture(scope="module")
def digits():
    return fdata.dequantize(fdata.load_digits("train")[:128], seed=[0, 0])


# -- ActNorm ---------------------------------------------------------------
def test_act_norm_initialize_standardizes_each_channel():
    rng = np.random.RandomState(0)
    x = (rng.normal(size=(32, 4, 4, 3)) * [1.0, 5.0, 0.1] + [2.0, -3.0, 0.5]).astype(
        "f4"
    )
    act = fb.ActNorm(3)
    assert not bool(act.is_initialized)
    act.initialize(x)
    z = act.inverse(tf.identity(x)).numpy()
    np.testing.assert_allclose(z.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=(0, 1, 2)), 1.0, atol=1e-4)
    assert bool(act.is_initialized)
    # log-det is H * W * sum(log|s|).
    ldj = act.forward_log_det_jacobian(tf.identity(x), event_ndims=3)
    np.testing.assert_allclose(ldj.numpy(), 16 * act.log_scale.numpy().sum(), rtol=1e-6)


def test_act_norm_zero_variance_channel_is_finite():
    x = np.random.RandomState(1).normal(size=(16, 2, 2, 2)).astype("f4")
    x[..., 1] = 3.0  # constant channel
    act = fb.ActNorm(2, epsilon=1e-6)
    act.initialize(x)
    assert np.all(np.isfinite(act.log_scale.numpy()))
    np.testing.assert_allclose(act.log_scale.numpy()[1], np.log(1e-6), rtol=1e-5)
    z = act.inverse(tf.identity(x)).numpy()
    assert np.all(np.isfinite(z))
    np.testing.assert_allclose(z[..., 1], 0.0, atol=1e-6)


def test_act_norm_never_initializes_from_sampling(small_glow):
    flow = flows.glow((8, 8, 1), num_levels=1, num_steps=1, hidden_units=4, seed=2)
    act = flow.bijector.levels[0].steps[0].act_norm
    before = act.shift.numpy().copy()
    flow.sample(4, seed=1)
    flow.log_prob(tf.zeros([2, 8, 8, 1]))
    assert not bool(act.is_initialized)
    np.testing.assert_array_equal(act.shift.numpy(), before)


def test_initialize_act_norms_uses_data_as_it_reaches_each_layer(digits):
    flow = flows.glow((8, 8, 1), num_levels=2, num_steps=2, hidden_units=8, seed=3)
    flows.initialize_act_norms(flow, digits)
    steps = [s for lv in flow.bijector.levels for s in lv.steps]
    assert all(bool(s.act_norm.is_initialized) for s in steps)
    # Re-run the data-to-latent pass by hand up to the second step of level 0:
    # the data reaching its ActNorm must come out standardized.
    sq = fb.Squeeze()
    h = steps[0].inverse(sq.forward(tf.identity(digits)))
    z = steps[1].act_norm.inverse(tf.identity(h)).numpy()
    np.testing.assert_allclose(z.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(z.std(axis=(0, 1, 2)), 1.0, atol=1e-3)


def test_act_norm_initialized_state_is_saved_and_restored(tmp_path):
    act = fb.ActNorm(2)
    act.initialize(np.random.RandomState(0).normal(2, 3, (8, 2, 2, 2)).astype("f4"))
    ckpt = tf.train.Checkpoint(bijector=act)
    path = ckpt.save(str(tmp_path / "ckpt"))
    fresh = fb.ActNorm(2)
    tf.train.Checkpoint(bijector=fresh).restore(path).assert_existing_objects_matched()
    assert bool(fresh.is_initialized)
    np.testing.assert_array_equal(fresh.shift.numpy(), act.shift.numpy())


def test_act_norm_require_initialization_raises():
    act = fb.ActNorm(2, require_initialization=True)
    with pytest.raises(tf.errors.InvalidArgumentError, match="before initialize"):
        act.forward(tf.zeros([1, 2, 2, 2]))
    act.initialize(np.random.RandomState(0).normal(size=(4, 2, 2, 2)).astype("f4"))
    act.forward(tf.zeros([1, 2, 2, 2]))


# -- Invertible 1x1 convolution ---------------------------------------------
def test_conv1x1_starts_as_rotation_and_lu_matches_plain_logdet():
    x = tf.random.stateless_normal([2, 3, 5, 4], seed=[7, 8], dtype=tf.float64)
    # At initialization both forms hold a random rotation: log|det W| = 0.
    for lu in (True, False):
        conv = fb.Invertible1x1Conv(4, lu_decomposition=lu, seed=5, dtype=tf.float64)
        w = conv.weight_matrix().numpy()
        np.testing.assert_allclose(w @ w.T, np.eye(4), atol=1e-12)
        np.testing.assert_allclose(np.linalg.det(w), 1.0, atol=1e-12)
        ldj = conv.forward_log_det_jacobian(x, event_ndims=3).numpy()
        np.testing.assert_allclose(ldj, 0.0, atol=1e-12)
    # Move the LU factors far from the rotation (log|det W| = 2.15), then give
    # a plain conv the same matrix W: the LU form's log-det
    # H * W * sum(log_s) must be H * W * log|det W| from slogdet of the plain
    # matrix, and both convs must compute the same maps and log-dets.
    lu = fb.Invertible1x1Conv(4, seed=5, dtype=tf.float64)
    rng = np.random.RandomState(3)
    lu._lower_upper.assign_add(rng.normal(scale=0.5, size=(4, 4)))
    lu._log_s.assign([0.7, -0.4, 1.1, 0.75])
    w = lu.weight_matrix().numpy()
    assert np.max(np.abs(w @ w.T - np.eye(4))) > 0.5  # no longer a rotation
    _, logabsdet = np.linalg.slogdet(w)
    np.testing.assert_allclose(logabsdet, 2.15, rtol=1e-12)
    plain = fb.Invertible1x1Conv(4, lu_decomposition=False, seed=0, dtype=tf.float64)
    plain.trainable_variables[0].assign(w)
    np.testing.assert_array_equal(plain.weight_matrix().numpy(), w)
    pixels = 3 * 5
    for conv in (lu, plain):
        ildj = conv.inverse_log_det_jacobian(tf.identity(x), event_ndims=3).numpy()
        np.testing.assert_allclose(ildj, pixels * logabsdet, rtol=1e-12)
        fldj = conv.forward_log_det_jacobian(tf.identity(x), event_ndims=3).numpy()
        np.testing.assert_allclose(fldj, -pixels * logabsdet, rtol=1e-12)
        # The log-det the fused forward pass stores with its output (TFP's
        # cache answers ildj(y) for y = forward(x) from it) is the same.
        y = conv.forward(tf.identity(x))
        ildj_y = conv.inverse_log_det_jacobian(y, event_ndims=3).numpy()
        np.testing.assert_allclose(ildj_y, pixels * logabsdet, rtol=1e-12)
    lu_y, plain_y = lu.forward(tf.identity(x)), plain.forward(tf.identity(x))
    np.testing.assert_allclose(lu_y.numpy(), plain_y.numpy(), rtol=1e-10, atol=1e-12)
    lu_z, plain_z = lu.inverse(tf.identity(x)), plain.inverse(tf.identity(x))
    np.testing.assert_allclose(lu_z.numpy(), plain_z.numpy(), rtol=1e-12, atol=1e-12)
    # And forward is x -> W^{-1} x per pixel (the sampling direction).
    w_inv_x = np.einsum("ij,nhwj->nhwi", np.linalg.inv(w), x.numpy())
    np.testing.assert_allclose(lu_y.numpy(), w_inv_x, rtol=1e-10, atol=1e-12)


def test_conv1x1_singular_weight_raises_under_validate_args():
    conv = fb.Invertible1x1Conv(2, lu_decomposition=False, seed=0, validate_args=True)
    conv.trainable_variables[0].assign([[1.0, 2.0], [2.0, 4.0]])
    with pytest.raises(tf.errors.InvalidArgumentError, match="singular"):
        conv.forward(tf.ones([1, 2, 2, 2]))
    lu = fb.Invertible1x1Conv(2, seed=0, validate_args=True)
    lu._log_s.assign([-1e4, 0.0])  # exp underflows to 0: singular
    with pytest.raises(tf.errors.InvalidArgumentError, match="singular"):
        lu.forward(tf.ones([1, 2, 2, 2]))


def test_conv1x1_singular_weight_without_validation_gives_infinite_logdet():
    conv = fb.Invertible1x1Conv(2, lu_decomposition=False, seed=0)
    conv.trainable_variables[0].assign([[1.0, 2.0], [2.0, 4.0]])
    # log_prob's direction z = W x collapses volume: log|det| = -inf.
    ildj = conv.inverse_log_det_jacobian(tf.ones([1, 2, 2, 2]), event_ndims=3)
    assert np.isneginf(ildj.numpy()).all()
    fldj = conv.forward_log_det_jacobian(tf.ones([1, 2, 2, 2]), event_ndims=3)
    assert np.isposinf(fldj.numpy()).all()


def test_conv1x1_log_prob_direction_applies_w_as_glows_encoder():
    # Glow (section 3.2) encodes with z = W x per pixel, log-det h*w*log|det W|;
    # our `inverse` is that direction, so log_prob never inverts a matrix.
    x = tf.random.stateless_normal([2, 3, 4, 5], seed=[3, 4], dtype=tf.float64)
    for lu in (True, False):
        conv = fb.Invertible1x1Conv(5, lu_decomposition=lu, seed=2, dtype=tf.float64)
        w = np.random.RandomState(1).normal(size=(5, 5))
        if lu:
            conv._lower_upper.assign(np.tril(w, -1) + np.triu(w, 1))
            conv._log_s.assign(np.linspace(-0.5, 0.9, 5))
        else:
            conv.trainable_variables[0].assign(w)
        w = conv.weight_matrix().numpy()
        z = conv.inverse(x).numpy()
        np.testing.assert_allclose(
            z, np.einsum("ij,nhwj->nhwi", w, x.numpy()), rtol=1e-12
        )
        ildj = conv.inverse_log_det_jacobian(x, event_ndims=3).numpy()
        np.testing.assert_allclose(ildj, 3 * 4 * np.linalg.slogdet(w)[1], rtol=1e-10)
        back = conv.forward(tf.constant(z)).numpy()
        np.testing.assert_allclose(back, x.numpy(), atol=1e-10)


# -- coupling ---------------------------------------------------------------
def test_coupling_starts_input_independent_and_additive_as_identity():
    x = tf.random.stateless_normal([2, 4, 4, 4], seed=[1, 1])
    affine = fb.AffineCoupling(4, hidden_units=8, seed=0)
    y = affine.forward(x).numpy()
    # Glow's scale sigmoid(h + 2) with h = 0: x_b / sigmoid(2), x_a unchanged.
    np.testing.assert_allclose(y[..., :2], x.numpy()[..., :2])
    np.testing.assert_allclose(
        y[..., 2:], x.numpy()[..., 2:] / (1 / (1 + np.exp(-2.0))), rtol=1e-6
    )
    additive = fb.AdditiveCoupling(4, hidden_units=8, seed=0)
    np.testing.assert_allclose(additive.forward(tf.identity(x)).numpy(), x.numpy())


def test_coupling_accepts_a_custom_keras_network_and_tracks_it():
    net = keras.Sequential([keras.layers.Conv2D(4, 3, padding="same")])
    cpl = fb.AffineCoupling(4, network=net)
    assert len(cpl.trainable_variables) == 2
    assert {id(v) for v in cpl.trainable_variables} == {
        id(as_tf_variable(w)) for w in net.weights
    }


# -- GlowStep / composition ---------------------------------------------------
def test_glow_step_is_the_chain_of_its_three_parts():
    step = fb.GlowStep(4, hidden_units=8, seed=0)
    for v in step.trainable_variables:
        v.assign_add(tf.random.stateless_normal(v.shape, seed=[2, 3]) * 0.1)
    x = tf.random.stateless_normal([2, 4, 4, 4], seed=[4, 5])
    by_hand = step.coupling.inverse(
        step.conv.inverse(step.act_norm.inverse(tf.identity(x)))
    )
    np.testing.assert_allclose(
        step.inverse(tf.identity(x)).numpy(), by_hand.numpy(), atol=1e-6
    )


def test_temperature_scales_the_latent(small_glow):
    s0 = flows.sample_with_temperature(small_glow, 3, temperature=0.0, seed=1)
    z0 = small_glow.bijector.inverse(tf.identity(s0))
    np.testing.assert_allclose(z0.numpy(), 0.0, atol=1e-4)


def test_bits_per_dim_of_uniform_density():
    np.testing.assert_allclose(
        float(fdata.bits_per_dim(0.0, 64)), np.log2(17), rtol=1e-12
    )


_ONE = {flows.glow: dict(num_steps=1), flows.realnvp: dict(num_couplings=1)}


# -- XLA and shapes -------------------------------------------------------------
@pytest.mark.parametrize("builder", [flows.glow, flows.realnvp])
def test_log_prob_and_sample_compile_with_unknown_batch(builder, digits):
    flow = builder((8, 8, 1), num_levels=2, hidden_units=8, seed=4, **_ONE[builder])
    flows.initialize_act_norms(flow, digits)
    spec = [tf.TensorSpec([None, 8, 8, 1], tf.float32)]
    lp_xla = tf.function(flow.log_prob, input_signature=spec, jit_compile=True)
    x = digits[:5]
    np.testing.assert_allclose(
        lp_xla(tf.identity(x)).numpy(), flow.log_prob(tf.identity(x)).numpy(), rtol=1e-5
    )
    sample = tf.function(
        lambda n: flow.sample(n, seed=[1, 2]),
        input_signature=[tf.TensorSpec([], tf.int32)],
        jit_compile=True,
    )
    s = sample(tf.constant(3))
    assert s.shape == (3, 8, 8, 1) and np.all(np.isfinite(s.numpy()))
    # Stateless RNG streams differ between XLA and TF kernels, so sampling is
    # compared on the same base noise: the generative pass itself.
    z = tf.random.stateless_normal([3, 8, 8, 1], seed=[3, 4])
    fwd_xla = tf.function(flow.bijector.forward, input_signature=spec, jit_compile=True)
    np.testing.assert_allclose(
        fwd_xla(tf.identity(z)).numpy(),
        flow.bijector.forward(tf.identity(z)).numpy(),
        rtol=1e-5,
        atol=1e-5,
    )


# -- Keras 3 ---------------------------------------------------------------------
@pytest.mark.parametrize("builder", [flows.glow, flows.realnvp])
def test_keras_model_lists_exactly_the_flow_parameters_and_fit_lowers_loss(
    builder, digits
):
    flow = builder((8, 8, 1), num_levels=2, hidden_units=8, seed=6, **_ONE[builder])
    flows.initialize_act_norms(flow, digits)
    model = FlowModel(flow)
    assert len(model.trainable_weights) == len(flow.trainable_variables) > 0
    assert model.flow_variables_match()
    n_keras = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    n_tfp = sum(int(np.prod(v.shape)) for v in flow.trainable_variables)
    assert n_keras == n_tfp
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    before = float(-tf.reduce_mean(flow.log_prob(tf.identity(digits))))
    hist = model.fit(digits, batch_size=32, epochs=4, verbose=0, shuffle=False)
    after = float(-tf.reduce_mean(flow.log_prob(tf.identity(digits))))
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert after < before - 1.0


# -- bad input -----------------------------------------------------------------
def test_bad_input_errors_name_argument_and_shapes(small_glow):
    act = fb.ActNorm(2)
    with pytest.raises(ValueError, match=r"`x`.*rank >= 3.*\[4, 2\]"):
        act.forward(tf.zeros([4, 2]))
    with pytest.raises(ValueError, match=r"`x`.*\[\.\.\., \*, \*, 2\].*\[1, 4, 4, 3\]"):
        act.forward(tf.zeros([1, 4, 4, 3]))
    conv = fb.Invertible1x1Conv(3, seed=0)
    with pytest.raises(ValueError, match=r"`y`.*\[1, 4, 4, 2\]"):
        conv.inverse(tf.zeros([1, 4, 4, 2]))
    with pytest.raises(ValueError, match=r"`x`.*even height and width.*\[2, 5, 4, 1\]"):
        fb.Squeeze().forward(tf.zeros([2, 5, 4, 1]))
    with pytest.raises(ValueError, match=r"`x`.*floating-point.*int32"):
        fb.Squeeze().forward(tf.zeros([2, 4, 4, 1], tf.int32))
    with pytest.raises(ValueError, match=r"`y`.*floating-point.*int32"):
        small_glow.log_prob(tf.zeros([2, 8, 8, 1], tf.int32))
    with pytest.raises(ValueError, match=r"`y`.*\[\.\.\., 8, 8, 1\].*\[2, 8, 8, 3\]"):
        small_glow.log_prob(tf.zeros([2, 8, 8, 3]))
    with pytest.raises(ValueError, match=r"`network`.*output 4 channels"):
        fb.AffineCoupling(4, network=keras.layers.Conv2D(3, 1))
    with pytest.raises(ValueError, match=r"`mask`"):
        fb.AffineCoupling(4, mask="stripes")
    with pytest.raises(ValueError, match=r"`num_channels` must be >= 2; got 1"):
        fb.AffineCoupling(1)


def test_mismatched_event_shapes_between_chained_parts():
    steps = [
        fb.GlowStep(4, hidden_units=4, seed=0),
        fb.GlowStep(8, hidden_units=4, seed=1),
    ]
    with pytest.raises(
        ValueError, match=r"levels\[0\]\.steps\[1\].*\[H, W, 8\].*\[4, 4, 4\]"
    ):
        fb.MultiScale([8, 8, 1], [fb.Level(steps=steps)])
    with pytest.raises(ValueError, match=r"`event_shape`.*divisible by 8"):
        flows.glow((12, 12, 1), num_levels=3)
    with pytest.raises(ValueError, match=r"`num_steps`.*got 0"):
        flows.glow((8, 8, 1), num_steps=0)


def test_nan_input_raises_under_validate_args_and_propagates_otherwise():
    x = np.zeros([1, 8, 8, 1], "f4")
    x[0, 3, 3, 0] = np.nan
    strict = flows.glow(
        (8, 8, 1), num_levels=1, num_steps=1, hidden_units=4, validate_args=True
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or inf"):
        strict.log_prob(tf.constant(x))
    lax = flows.glow((8, 8, 1), num_levels=1, num_steps=1, hidden_units=4)
    assert np.isnan(lax.log_prob(tf.constant(x)).numpy()).all()
    # validate_args does not stop XLA compilation (asserts are dropped there).
    ok = tf.function(strict.log_prob, jit_compile=True)(tf.zeros([2, 8, 8, 1]))
    assert np.all(np.isfinite(ok.numpy()))
