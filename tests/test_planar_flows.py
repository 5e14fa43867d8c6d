"""PlanarFlow, RadialFlow and SylvesterFlow beyond the shared registry checks:
the invertibility constraints, amortization from a context, and bad input."""

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows import flows
from tfp_flows.bijectors import PlanarFlow
from tfp_flows.bijectors import RadialFlow
from tfp_flows.bijectors import SylvesterFlow
from tfp_flows.bijectors._amortized import solve_tanh_equation
from tfp_flows.internal.keras import as_tf_variable
from tfp_flows.internal.keras import keras


def _set(bij, **values):
    by_name = {w.name.split("/")[-1]: w for w in bij.weight_store.weights}
    for key, value in values.items():
        by_name[key].assign(tf.cast(value, by_name[key].dtype))


def test_solver_hits_float64_resolution_near_the_constraint_edge():
    rng = np.random.RandomState(0)
    t = rng.normal(scale=5.0, size=[200])
    p = np.concatenate([np.full(100, -0.999999), rng.normal(scale=20, size=[100])])
    q = np.ones(200)
    s = rng.normal(size=[200])
    v = solve_tanh_equation(t, p, q, s).numpy()
    np.testing.assert_allclose(v + p * np.tanh(q * v + s), t, atol=1e-12, rtol=0)


def test_planar_reparameterization_keeps_w_dot_u_hat_above_minus_one():
    flow = PlanarFlow(3, dtype=tf.float64)
    w = np.array([1.0, -2.0, 0.5])
    _set(flow, w=w, u=-10.0 * w, b=0.3)  # raw w^T u = -52.5
    u_hat, w_t, _, c = flow.constrained_parameters()
    assert float(tf.reduce_sum(w_t * u_hat)) > -1.0
    np.testing.assert_allclose(float(tf.reduce_sum(w_t * u_hat)), float(c), atol=1e-12)
    x = tf.constant(np.random.RandomState(1).normal(scale=3, size=[50, 3]))
    y = flow.forward(x)
    np.testing.assert_allclose(
        flow.inverse(tf.identity(y)).numpy(), x.numpy(), atol=1e-10
    )
    ldj = flow.forward_log_det_jacobian(tf.identity(x), event_ndims=1).numpy()
    assert np.all(np.isfinite(ldj))


def test_planar_with_zero_w_is_a_shift():
    flow = PlanarFlow(2, dtype=tf.float64)
    _set(flow, w=[0.0, 0.0], u=[1.0, 2.0], b=0.5)
    x = tf.constant([[0.0, 0.0], [1.0, -1.0]], tf.float64)
    np.testing.assert_allclose(
        flow.forward(x).numpy(), x.numpy() + np.tanh(0.5) * np.array([1.0, 2.0])
    )
    assert np.allclose(flow.forward_log_det_jacobian(x, event_ndims=1).numpy(), 0.0)


def test_radial_round_trip_near_beta_equal_minus_alpha():
    flow = RadialFlow(3, dtype=tf.float64)
    _set(flow, alpha_raw=0.3, beta_raw=-12.0)  # beta = -alpha + 6e-6
    x = tf.constant(np.random.RandomState(2).normal(size=[40, 3]))
    y = flow.forward(x)
    np.testing.assert_allclose(
        flow.inverse(tf.identity(y)).numpy(), x.numpy(), atol=1e-8
    )


def test_amortized_with_zero_kernel_equals_own_weights():
    own = PlanarFlow(3, dtype=tf.float64, seed=4)
    amortized = PlanarFlow(3, context_size=2, dtype=tf.float64, seed=4)
    flat = np.concatenate([w.numpy().reshape(-1) for w in own.weight_store.weights])
    _set(amortized, context_kernel=np.zeros([2, 7]), context_bias=flat)
    x = tf.constant(np.random.RandomState(3).normal(size=[5, 3]))
    bound = amortized.with_context(np.ones([5, 2]))
    np.testing.assert_allclose(bound.forward(x).numpy(), own.forward(x).numpy())


@pytest.mark.parametrize("cls", [PlanarFlow, RadialFlow, SylvesterFlow])
def test_amortized_context_gives_per_row_flows_and_broadcasts_samples(cls):
    flow = cls(3, context_size=2, dtype=tf.float64, seed=5)
    _set(
        flow,
        context_kernel=np.random.RandomState(6).normal(
            size=flow.weight_store.weights[0].shape
        ),
    )
    ctx = np.array([[1.0, 0.0], [0.0, 1.0]])
    x = tf.constant(np.random.RandomState(7).normal(size=[4, 2, 3]))  # [S, B, D]
    bound = flow.with_context(ctx)
    y = bound.forward(x)
    for row in range(2):
        single = flow.with_context(ctx[row])
        np.testing.assert_allclose(y.numpy()[:, row], single.forward(x[:, row]).numpy())
    np.testing.assert_allclose(
        bound.inverse(tf.identity(y)).numpy(), x.numpy(), atol=1e-8
    )
    # Same weights, and the bound copy lists them too.
    assert [id(v) for v in bound.trainable_variables] == [
        id(v) for v in flow.trainable_variables
    ]


@pytest.mark.parametrize("cls", [PlanarFlow, RadialFlow, SylvesterFlow])
def test_keras_model_sees_exactly_the_bijector_weights(cls):
    flow = cls(3, context_size=2)

    class M(keras.Model):
        def __init__(self):
            super().__init__()
            self.store = flow.weight_store

        def call(self, c):
            return flow.with_context(c).forward(tf.zeros([tf.shape(c)[0], 3]))

    model = M()
    model(tf.ones([2, 2]))
    assert sorted(id(as_tf_variable(w)) for w in model.trainable_weights) == sorted(
        id(v) for v in flow.trainable_variables
    )


# -- bad input -----------------------------------------------------------------
@pytest.mark.parametrize("cls", [PlanarFlow, RadialFlow, SylvesterFlow])
def test_wrong_event_shape_names_argument_and_shapes(cls):
    flow = cls(3)
    with pytest.raises(ValueError, match=r"argument `x`.*\[\.\.\., 3\].*\[5, 4\]"):
        flow.forward(tf.zeros([5, 4]))
    with pytest.raises(ValueError, match=r"argument `y`.*\[5, 2\]"):
        flow.inverse(tf.zeros([5, 2]))


@pytest.mark.parametrize("cls", [PlanarFlow, RadialFlow, SylvesterFlow])
def test_context_size_mismatch(cls):
    flow = cls(3, context_size=4)
    with pytest.raises(
        ValueError, match=r"`context` must have shape \[\.\.\., 4\].*\[2, 5\]"
    ):
        flow.with_context(tf.zeros([2, 5]))


def test_context_for_unamortized_and_missing_context():
    with pytest.raises(
        ValueError, match=r"`context` was given \(got shape \[2\]\).*unconditional"
    ):
        PlanarFlow(3, context=tf.zeros([2]))
    with pytest.raises(ValueError, match="no `context` was bound"):
        PlanarFlow(3, context_size=2).forward(tf.zeros([1, 3]))


def test_context_batch_mismatch():
    flow = PlanarFlow(3, context_size=2).with_context(tf.zeros([4, 2]))
    with pytest.raises(
        ValueError,
        match=r"`context` has batch shape \[4\].*batch shape \[5\] of `x`",
    ):
        flow.forward(tf.zeros([5, 3]))
    with pytest.raises(ValueError, match=r"batch shape \[5\] of `y`"):
        flow.inverse(tf.zeros([5, 3]))


def test_non_finite_context_and_parameters():
    with pytest.raises(ValueError, match="`context`.*NaN or Inf"):
        RadialFlow(2, context_size=2).with_context([[np.nan, 0.0]])
    flow = PlanarFlow(2, validate_args=True)
    _set(flow, b=np.inf)
    with pytest.raises(ValueError, match=r"parameter `b` contains NaN or Inf"):
        flow.forward(tf.zeros([1, 2]))
    # The input check is the base class's (an assertion, eager and tf.function).
    with pytest.raises(
        (ValueError, tf.errors.InvalidArgumentError),
        match=r"(?i)argument `x`.*NaN or inf",
    ):
        SylvesterFlow(2, validate_args=True).forward(tf.constant([[np.nan, 0.0]]))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="`activation`.*'relu'"):
        PlanarFlow(2, activation="relu")
    with pytest.raises(ValueError, match="`negative_slope`.*0.0"):
        PlanarFlow(2, activation="leaky_relu", negative_slope=0.0)
    with pytest.raises(ValueError, match="`event_size`.*0"):
        RadialFlow(0)
    with pytest.raises(ValueError, match="`num_householder`.*0"):
        SylvesterFlow(3, num_householder=0)
    # TFP's own dtype check (bijector dtype = weight dtype) names both dtypes.
    with pytest.raises(ValueError, match=r"x: .*dtype float32 for .*dtype float64"):
        PlanarFlow(2).forward(tf.zeros([1, 2], tf.float64))


@pytest.mark.parametrize(
    "builder", [flows.planar_flow, flows.radial_flow, flows.sylvester_flow]
)
def test_builders_with_context_size_give_an_amortized_family(builder):
    family = builder(3, num_layers=2, context_size=4, seed=2)
    assert isinstance(family, flows.ConditionalFlow)
    assert family.context_shape == (4,)
    c = tf.random.stateless_normal([6, 4], seed=[1, 2])
    z = family.sample(6, context=c, seed=3)
    np.testing.assert_allclose(
        family.log_prob(z, context=c), family.condition(c).log_prob(z), atol=1e-6
    )
    # The parameters depend on the context: another context, another density.
    other = family.log_prob(z, context=c + 1.0)
    assert float(tf.reduce_max(tf.abs(other - family.log_prob(z, context=c)))) > 0
    with pytest.raises(ValueError, match="`context` is required"):
        family.log_prob(z)
    with pytest.raises(ValueError, match="context_size"):
        builder(3, context_size=0)
