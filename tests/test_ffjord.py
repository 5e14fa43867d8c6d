"""FFJORD (Grathwohl et al. 2019): the exact log-det against the autodiff
Jacobian of the ODE map, Hutchinson's estimate unbiased, round trips, weights
and gradients, training with `model.fit`, and errors for bad input.

The shared checks (round trip, log-det shapes, XLA) are in the registry
(`tests/registry_ffjord.py`); the Keras drop-in checks in the zoo
(`tests/flow_zoo_ffjord.py`).
"""

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows import flows
from tfp_flows.bijectors import FFJORD
from tfp_flows.internal.keras import as_tf_variable
from tfp_flows.internal.keras import keras
from tfp_flows.layers import FlowLogProb
from tfp_flows.layers import FlowModel
from tfp_flows.testing import perturb_weights


def _x(n=3, d=2, dtype="float64", seed=0):
    return tf.constant(np.random.RandomState(seed).normal(size=(n, d)).astype(dtype))


@pytest.fixture(scope="module")
def dopri64():
    """A tiny float64 FFJORD on Dormand-Prince at tight tolerances."""
    bij = FFJORD(2, hidden_units=(8,), rtol=1e-8, atol=1e-8, seed=3, dtype="float64")
    perturb_weights(bij, 0.3)
    return bij


# The default phase has the same check on the RK4 entry of the registry
# (`fldj_vs_autodiff`, float64); this one runs the adaptive solver's adjoint.
@pytest.mark.slow
def test_exact_log_det_is_log_det_of_the_autodiff_jacobian_of_the_ode_map(dopri64):
    x = _x()
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = dopri64.forward(x)
    # Differentiates through the solve (TFP's adjoint method): the Jacobian of
    # the map x -> z(T), per row.
    jac = tape.batch_jacobian(y, x, experimental_use_pfor=False)
    expected = np.linalg.slogdet(jac.numpy())[1]
    fldj = dopri64.forward_log_det_jacobian(x, event_ndims=1).numpy()
    assert np.max(np.abs(expected)) > 0.1, expected  # away from the identity
    np.testing.assert_allclose(fldj, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow  # the default phase has the RK4 round trips of the registry
def test_inverse_integrates_backwards_to_the_input(dopri64):
    x = _x(seed=1)
    y = dopri64.forward(x)
    assert np.max(np.abs((y - x).numpy())) > 0.05  # the map moves points
    x_back = dopri64.inverse(tf.identity(y))
    np.testing.assert_allclose(x_back.numpy(), x.numpy(), atol=1e-6)
    # Both log-dets come from the same two solves (cached with y and x).
    ildj = dopri64.inverse_log_det_jacobian(y, event_ndims=1)
    fldj = dopri64.forward_log_det_jacobian(x, event_ndims=1)
    np.testing.assert_allclose(ildj.numpy(), -fldj.numpy(), atol=1e-6)


@pytest.mark.parametrize("noise", ["rademacher", "gaussian"])
def test_hutchinson_estimate_is_unbiased_and_random(noise):
    # RK4 takes the same steps for every row, so the rows differ only in
    # their noise: 2000 copies of one point give 2000 independent estimates.
    flow = flows.ffjord(
        2, hidden_units=(8,), solver="rk4", num_steps=4, noise=noise, seed=4
    )
    perturb_weights(flow, 0.5)
    layer = FlowLogProb(flow)
    x = tf.tile(tf.constant([[0.3, -0.7]]), [2000, 1])
    estimates = layer(x, training=True).numpy().astype(np.float64)
    exact = layer(tf.identity(x), training=False).numpy()
    np.testing.assert_allclose(exact, exact[0], rtol=1e-6)  # deterministic
    stderr = estimates.std() / np.sqrt(len(estimates))
    assert estimates.std() > 1e-3, "the Hutchinson estimate is not random"
    assert abs(estimates.mean() - exact[0]) < 4.0 * stderr, (
        estimates.mean(),
        exact[0],
        stderr,
    )
    # A fresh draw at every call (the noise seed advances).
    again = layer(tf.identity(x), training=True).numpy()
    assert not np.array_equal(again, estimates)


def test_every_weight_is_a_keras_weight_and_gets_a_gradient_in_training():
    flow = flows.ffjord(2, hidden_units=(8, 8), rtol=1e-4, atol=1e-4, seed=5)
    layer = FlowLogProb(flow)
    flow_vars = flow.trainable_variables
    assert len(flow_vars) == 15  # 3 ConcatSquash layers x 5 weights
    assert sorted(id(as_tf_variable(w)) for w in layer.trainable_weights) == sorted(
        id(v) for v in flow_vars
    )
    with tf.GradientTape() as tape:
        loss = -tf.reduce_mean(layer(_x(8, dtype="float32"), training=True))
    grads = tape.gradient(loss, flow_vars)
    for v, g in zip(flow_vars, grads, strict=True):
        assert g is not None, v.name
        assert np.all(np.isfinite(g.numpy())) and np.any(g.numpy() != 0), v.name


def _two_moons_ish(n=96):
    rng = np.random.RandomState(0)
    z = rng.normal(size=(n, 2)).astype("float32")
    return np.stack([z[:, 0], 0.4 * z[:, 1] + 0.5 * z[:, 0] ** 2], -1)


def test_model_fit_trains_with_fresh_hutchinson_noise_every_step():
    """A Keras model whose call passes `training` (here a functional one) runs
    the Hutchinson estimator in `fit`, one draw per step, and the exact trace
    in `evaluate`."""
    keras.utils.set_random_seed(0)
    flow = flows.ffjord(2, hidden_units=(16,), solver="rk4", num_steps=4, seed=6)
    inp = keras.Input((2,))
    model = keras.Model(inp, FlowLogProb(flow)(inp))
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=lambda _, log_p: -tf.reduce_mean(log_p),
        jit_compile=False,
    )
    data = _two_moons_ish()
    state = flow.bijector.bijectors[0].dynamics.noise_seed
    before = state.numpy().copy()
    hist = model.fit(data, np.zeros(96), batch_size=32, epochs=2, verbose=0)
    losses = hist.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0], losses
    assert state.numpy()[1] - before[1] == 2 * 3  # one draw per train step
    after = state.numpy().copy()
    nll = model.evaluate(data, np.zeros(96), batch_size=96, verbose=0)
    np.testing.assert_array_equal(state.numpy(), after)  # exact: no draw
    np.testing.assert_allclose(
        nll, -np.mean(flow.log_prob(tf.constant(data))), rtol=1e-5
    )


def test_flow_model_rebuilds_the_flow_from_the_builder_spec():
    flow = flows.ffjord(2, hidden_units=(8,), solver="rk4", num_steps=4, seed=7)
    model = FlowModel(flow)
    assert model.flow_variables_match() and model.builder_name == "ffjord"
    rebuilt = FlowModel.from_config(model.get_config())
    assert len(rebuilt.trainable_weights) == len(model.trainable_weights) == 10
    x = tf.constant(_two_moons_ish()[:4])
    np.testing.assert_allclose(rebuilt(x), model(tf.identity(x)), rtol=1e-6)


@pytest.mark.slow
def test_flow_model_fit():
    flow = flows.ffjord(2, hidden_units=(8,), solver="rk4", num_steps=4, seed=7)
    model = FlowModel(flow)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    hist = model.fit(_two_moons_ish(), batch_size=48, epochs=3, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]


def test_conditional_flow_uses_its_context():
    family = flows.ffjord(
        2, hidden_units=(8,), solver="rk4", num_steps=4, context_size=3, seed=8
    )
    perturb_weights(family, 0.5)
    x = _x(4, dtype="float32")
    a = family.log_prob(x, context=tf.zeros([4, 3]))
    b = family.log_prob(tf.identity(x), context=tf.ones([4, 3]))
    assert a.shape == (4,) and np.max(np.abs((a - b).numpy())) > 1e-3
    c = tf.Variable(tf.ones([4, 3]))
    with tf.GradientTape() as tape:
        lp = FlowLogProb(family)((x, c), training=True)
    grad = tape.gradient(lp, c)
    assert grad is not None and np.any(grad.numpy() != 0)
    s = family.sample(5, context=tf.ones([3]), seed=1)
    assert s.shape == (5, 2) and np.all(np.isfinite(s.numpy()))


@pytest.mark.slow
def test_model_fit_under_xla_with_the_adaptive_solver_and_adjoint():
    """Keras' XLA train step with Dormand-Prince (a while loop of
    data-dependent length), the adjoint gradients and the Hutchinson noise."""
    keras.utils.set_random_seed(0)
    flow = flows.ffjord(2, hidden_units=(16,), rtol=1e-4, atol=1e-4, seed=9)
    inp = keras.Input((2,))
    model = keras.Model(inp, FlowLogProb(flow)(inp))
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=lambda _, log_p: -tf.reduce_mean(log_p),
        jit_compile=True,
    )
    hist = model.fit(_two_moons_ish(), np.zeros(96), batch_size=32, epochs=3)
    assert model.jit_compile, "Keras fell back from XLA"
    losses = hist.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0], losses


@pytest.mark.slow
def test_bdf_solver_round_trip():
    bij = FFJORD(2, hidden_units=(8,), solver="bdf", rtol=1e-6, atol=1e-6, seed=10)
    perturb_weights(bij, 0.3)
    x = _x(dtype="float32")
    y = bij.forward(x)
    np.testing.assert_allclose(bij.inverse(tf.identity(y)).numpy(), x, atol=1e-4)


# -- bad input -----------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"event_size": 0}, r"`event_size` must be an integer >= 1; got 0"),
        ({"hidden_units": [8, 0]}, r"`hidden_units\[1\]` must be an integer >= 1"),
        ({"trace_estimator": "skilling"}, r"`trace_estimator` must be one of"),
        ({"eval_trace_estimator": "x"}, r"`eval_trace_estimator` must be one of"),
        ({"noise": "uniform"}, r"`noise` must be one of"),
        ({"solver": "euler"}, r"`solver` must be one of .*got 'euler'"),
        ({"activation": "relu"}, r"`activation` must be one of"),
        ({"time_conditioning": "film"}, r"`time_conditioning` must be one of"),
        ({"rtol": 0.0}, r"`rtol` must be a number > 0.0; got 0.0"),
        ({"atol": -1.0}, r"`atol` must be a number > 0.0"),
        ({"num_steps": 0}, r"`num_steps` must be an integer >= 1"),
        ({"time_length": 0.0}, r"`time_length` must be a number > 0.0"),
        ({"context_size": 0}, r"`context_size` must be an integer >= 1"),
        ({"dtype": "int32"}, r"`dtype` must be a floating dtype"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(kwargs, match):
    args = {"event_size": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        FFJORD(args.pop("event_size"), **args)


def test_bad_inputs_raise_naming_the_argument_and_shapes():
    bij = FFJORD(3, hidden_units=(4,), solver="rk4", num_steps=2)
    with pytest.raises(ValueError, match=r"`x` must have event shape \[\.\.\., 3\]"):
        bij.forward(tf.zeros([2, 4]))
    with pytest.raises(ValueError, match=r"`y` must have event shape \[\.\.\., 3\]"):
        bij.inverse(tf.zeros([2, 2]))
    # TFP's conversion to the bijector's dtype names `x` and both dtypes.
    with pytest.raises(ValueError, match=r"x: .*dtype float32 for .*dtype float64"):
        bij.forward(tf.zeros([2, 3], tf.float64))
    with pytest.raises(ValueError, match=r"unconditional"):
        bij.with_context(tf.zeros([3]))
    cond = FFJORD(3, hidden_units=(4,), solver="rk4", num_steps=2, context_size=2)
    with pytest.raises(ValueError, match=r"no `context` was bound"):
        cond.forward(tf.zeros([2, 3]))
    with pytest.raises(ValueError, match=r"context"):
        cond.with_context(tf.zeros([2, 5]))
    with pytest.raises(ValueError, match=r"ffjord: argument `num_blocks`"):
        flows.ffjord(2, num_blocks=0)
    with pytest.raises(ValueError, match=r"`dynamics` must be the `dynamics`"):
        FFJORD(3, hidden_units=(8,), dynamics=bij.dynamics)


def test_flow_model_fit_trains_with_the_hutchinson_estimator():
    # `fit` passes training=True down to the dynamics: one noise draw per
    # train step (the exact trace draws none); evaluate uses the exact trace.
    flow = flows.ffjord(2, hidden_units=(8,), solver="rk4", num_steps=4, seed=7)
    seed = flow.bijector.bijectors[0].dynamics.noise_seed
    before = int(np.asarray(seed)[1])
    model = FlowModel(flow)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    model.fit(_two_moons_ish(), batch_size=48, epochs=1, verbose=0)
    after_fit = int(np.asarray(seed)[1])
    assert after_fit - before == 2  # 96 rows, batch 48: two steps
    model.evaluate(_two_moons_ish(), batch_size=48, verbose=0)
    assert int(np.asarray(seed)[1]) == after_fit
