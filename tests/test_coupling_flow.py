"""tfp_flows.flows.coupling_flow: RealNVP's alternating couplings on vectors."""

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows.bijectors import ActNorm
from tfp_flows.bijectors import AffineCoupling
from tfp_flows.flows import coupling_flow
from tfp_flows.internal.keras import keras_layers_of
from tfp_flows.internal.specs import build_from_spec
from tfp_flows.internal.specs import spec_of


def _couplings(flow):
    # Chain lists bijectors in forward order reversed: data side first.
    return [b for b in flow.bijector.bijectors if isinstance(b, AffineCoupling)]


def _perturb(flow, seed=0):
    """Random non-zero weights so every coupling is a non-trivial map."""
    rng = np.random.RandomState(seed)
    for v in flow.trainable_variables:
        v.assign(0.3 * rng.normal(size=v.shape).astype(v.dtype.as_numpy_dtype))


@pytest.fixture(scope="module")
def flow64():
    flow = coupling_flow(
        3, num_layers=3, hidden_units=8, actnorm=True, seed=2, dtype=tf.float64
    )
    _perturb(flow)
    return flow


def test_structure_alternating_parity_and_actnorm_on_the_data_side():
    flow = coupling_flow(
        4, num_layers=4, hidden_units=8, mask="checkerboard", actnorm=True
    )
    parts = flow.bijector.bijectors  # data -> latent order
    assert [type(b).__name__ for b in parts] == ["ActNorm", "AffineCoupling"] * 4
    # data side first: the last coupling in the forward direction comes first
    assert [c._parity for c in _couplings(flow)] == [1, 0, 1, 0]
    assert all(c.mask == "checkerboard" for c in _couplings(flow))
    flow_sizes = sorted(int(np.prod(v.shape)) for v in flow.trainable_variables)
    layer_sizes = sorted(
        int(np.prod(w.shape))
        for layer in keras_layers_of(flow)
        for w in layer.trainable_weights
    )
    # 4 couplings x (2 Dense kernels + biases; zero Dense kernel, bias, logs)
    # + 4 ActNorms x (shift, log_scale)
    assert flow_sizes == layer_sizes and len(flow_sizes) == 4 * 7 + 4 * 2


def test_two_d_half_mask_transforms_each_coordinate_in_turn(flow64):
    flow = coupling_flow(2, num_layers=2, hidden_units=8, seed=0, dtype=tf.float64)
    _perturb(flow, seed=3)
    first, second = _couplings(flow)[::-1]  # forward order
    x = tf.constant(np.random.RandomState(1).normal(size=(5, 2)))
    # forward of parity 0 keeps x[0]; parity 1 keeps x[1]; both change the other.
    y0 = first.forward(tf.identity(x))
    y1 = second.forward(tf.identity(x))
    np.testing.assert_array_equal(y0[:, 0], x[:, 0])
    np.testing.assert_array_equal(y1[:, 1], x[:, 1])
    assert np.all(np.abs(y0[:, 1] - x[:, 1]) > 1e-6)
    assert np.all(np.abs(y1[:, 0] - x[:, 0]) > 1e-6)


def test_log_prob_is_the_change_of_variables_with_the_autodiff_jacobian(flow64):
    x = tf.constant(np.random.RandomState(0).normal(size=(4, 3)))
    with tf.GradientTape() as tape:
        tape.watch(x)
        z = flow64.bijector.inverse(x)
    jac = tape.batch_jacobian(z, x)
    _, logdet = np.linalg.slogdet(jac.numpy())
    expected = flow64.distribution.log_prob(z).numpy() + logdet
    np.testing.assert_allclose(flow64.log_prob(tf.identity(x)), expected, rtol=1e-10)
    back = flow64.bijector.forward(tf.identity(z))
    np.testing.assert_allclose(back, x, atol=1e-10)


def test_config_round_trip_rebuilds_the_same_flow():
    flow = coupling_flow(3, num_layers=2, hidden_units=8, mask="checkerboard", seed=4)
    again = build_from_spec(spec_of(flow))
    assert len(again.trainable_variables) == len(flow.trainable_variables)
    for a, b in zip(again.trainable_variables, flow.trainable_variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())  # same seeds, same init


def test_actnorm_initialization_whitens_the_data():
    from tfp_flows.flows import initialize_act_norms

    flow = coupling_flow(2, num_layers=2, hidden_units=8, actnorm=True)
    data = np.random.RandomState(0).normal([3.0, -1.0], [2.0, 0.5], size=(256, 2))
    initialize_act_norms(flow, tf.constant(data, tf.float32))
    first = flow.bijector.bijectors[0]
    assert isinstance(first, ActNorm) and bool(first.is_initialized)
    z = first.inverse(tf.constant(data, tf.float32))
    np.testing.assert_allclose(np.mean(z, 0), [0, 0], atol=1e-4)
    np.testing.assert_allclose(np.std(z, 0), [1, 1], atol=1e-3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(event_size=0), "event_size"),
        (dict(event_size=1), "event_size.*>= 2.*got 1"),
        (dict(event_size=2, mask="channelwise"), "mask.*'channelwise'"),
        (dict(event_size=2, num_layers=0), "num_layers"),
        (dict(event_size=2, hidden_units=0), "hidden_units"),
        (dict(event_size=2, transform="planar"), "transform.*'planar'"),
        (
            dict(event_size=2, transform="spline", mask="checkerboard"),
            "needs mask='half'",
        ),
        (dict(event_size=2, transform="spline", num_bins=1), "num_bins.*got 1"),
        (dict(event_size=2, transform="spline", spline_bound=0.0), "bound.*> 0"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        coupling_flow(**kwargs)


def test_base_distribution_of_the_wrong_event_shape_raises():
    import tensorflow_probability as tfp

    base = tfp.distributions.Sample(tfp.distributions.Normal(0.0, 1.0), [3])
    with pytest.raises(ValueError, match=r"base_distribution.*\[2\].*\[3\]"):
        coupling_flow(2, base_distribution=base)


def test_event_size_mismatch_in_log_prob_raises():
    flow = coupling_flow(3, num_layers=2, hidden_units=8)
    with pytest.raises(
        ValueError, match=r"event shape \[\.\.\., 3\].*got shape \[4, 2\]"
    ):
        flow.log_prob(tf.zeros([4, 2]))


def test_spline_coupling_is_tfps_rational_quadratic_spline_of_the_network():
    """`inverse` (data -> latent) applies tfb.RationalQuadraticSpline with the
    network's outputs to the transformed half, keeps the other half, and its
    log-det is TFP's; `forward` inverts it."""
    import tensorflow_probability as tfp

    from tfp_flows.bijectors import SplineCoupling
    from tfp_flows.bijectors import _spline

    cpl = SplineCoupling(
        5,
        num_bins=4,
        bound=2.0,
        event_ndims=1,
        hidden_units=8,
        seed=1,
        dtype=tf.float64,
    )
    rng = np.random.RandomState(0)
    for w in cpl.network.trainable_weights:  # away from the identity
        w.assign(w + rng.normal(scale=0.5, size=w.shape))
    x = tf.constant(rng.normal(size=(16, 5)) * 1.5)
    z = cpl.inverse(x)
    raw = tf.reshape(cpl.network(x[:, :2]), [16, 3, 11])
    _, _, w, _, h, slopes = _spline._knots(raw, 2.0)
    rqs = tfp.bijectors.RationalQuadraticSpline(w, h, slopes[..., 1:-1], range_min=-2.0)
    np.testing.assert_array_equal(z[:, :2], x[:, :2])
    np.testing.assert_allclose(z[:, 2:], rqs.forward(x[:, 2:]), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        cpl.inverse_log_det_jacobian(x, event_ndims=1),
        tf.reduce_sum(rqs.forward_log_det_jacobian(x[:, 2:], event_ndims=0), -1),
        rtol=1e-10,
    )
    np.testing.assert_allclose(cpl.forward(tf.identity(z)), x, rtol=1e-9, atol=1e-10)


def test_spline_coupling_flow_trains_under_xla():
    flow = coupling_flow(
        2, num_layers=2, hidden_units=8, transform="spline", num_bins=4
    )
    weights = [w for layer in keras_layers_of(flow) for w in layer.trainable_weights]
    x = tf.constant(np.random.RandomState(0).normal(size=(32, 2)), tf.float32)

    @tf.function(jit_compile=True)
    def loss_and_grads(x):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(flow.log_prob(x))
        return loss, tape.gradient(loss, weights)

    loss, grads = loss_and_grads(x)
    assert np.isfinite(loss) and all(np.all(np.isfinite(g)) for g in grads)
    assert any(float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)
    again = build_from_spec(spec_of(flow))
    assert isinstance(again.bijector.bijectors[0], type(flow.bijector.bijectors[0]))
    assert again.bijector.bijectors[0].num_bins == 4
