"""Neural autoregressive flows: the sigmoidal transformers of MAF and IAF.

Huang, Krueger, Lacoste, Courville 2018. The transformer math is checked
against an independent numpy transcription of the paper's equations, its
log-derivative against autodiff, its numerics at saturated pre-activations,
its bracketed-Newton inverse (values, XLA, implicit-function gradients), and
the flows built on it (normalization, context, errors).
"""

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows import flows
from tfp_flows.bijectors import IAF
from tfp_flows.bijectors import MAF
from tfp_flows.bijectors import _sigmoidal as sg
from tfp_flows.internal.keras import keras
from tfp_flows.internal.keras import keras_layers_of
from tfp_flows.nn import MADE

CONFIGS = [(False, 4, 1), (False, 3, 2), (True, 3, 2), (True, 2, 3)]
IDS = ["dsf", "dsf_2_layers", "ddsf_2_layers", "ddsf_3_layers"]


def _np_softmax(t):
    e = np.exp(t - t.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _np_sigmoid(t):
    return 1.0 / (1.0 + np.exp(-t))


def _paper(x, raw, k, num_layers, dense):
    """The paper's eq. 5 (DSF, composed) / eq. 8 (DDSF), one scalar at a time."""
    offsets = np.linspace(-1.0, 1.0, k) if k > 1 else np.zeros(1)
    i = 0
    h = np.array([x])
    for d_in, _, d_out in sg.layer_dims(k, num_layers, dense):
        u = np.ones([k, 1])
        if d_in > 1:
            u = _np_softmax(raw[i : i + k * d_in].reshape(k, d_in))
            i += k * d_in
        a = np.log1p(np.exp(raw[i : i + k] + np.log(np.e - 1.0)))
        # The bounds of the module docstring: log a and b soft-clamped.
        a = np.exp(5.0 * np.tanh(np.log(a) / 5.0))
        b = 10.0 * np.tanh(raw[i + k : i + 2 * k] / 10.0) + offsets
        w = _np_softmax(raw[i + 2 * k : i + 2 * k + d_out * k].reshape(d_out, k))
        i += 2 * k + d_out * k
        s = w @ _np_sigmoid(a * (u @ h) + b)
        h = np.log(s) - np.log1p(-s)  # sigma^{-1}
    assert i == raw.shape[-1]
    return h[0] + 1e-3 * x  # the linear term


@pytest.mark.parametrize("dense,k,num_layers", CONFIGS, ids=IDS)
def test_transformer_is_the_papers_equation_with_autodiff_log_det(dense, k, num_layers):
    p = sg.num_sigmoidal_params(k, num_layers, dense)
    rng = np.random.default_rng(0)
    x = rng.normal(size=12) * 2.0
    raw = rng.normal(size=(12, p))
    want = np.array(
        [_paper(xi, ri, k, num_layers, dense) for xi, ri in zip(x, raw, strict=True)]
    )
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y, log_det = sg.sigmoidal_forward(xt, tf.constant(raw), k, num_layers, dense)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-10, atol=1e-10)
    slope = tape.gradient(y, xt).numpy()
    assert np.all(slope > 0)  # strictly increasing
    np.testing.assert_allclose(log_det.numpy(), np.log(slope), rtol=1e-9, atol=1e-9)


def test_parameter_counts_and_identity_free_start():
    assert sg.num_sigmoidal_params(8, 1, False) == 24
    assert sg.num_sigmoidal_params(4, 3, False) == 36
    # DDSF, K = 3, L = 2: (1 -> 3 -> 3): 2K + K^2; (3 -> 3 -> 1): K^2 + 2K + K.
    assert sg.num_sigmoidal_params(3, 2, True) == 15 + 18
    # L = 1: DDSF is exactly DSF.
    x = tf.constant(np.linspace(-4.0, 4.0, 9))
    raw = tf.constant(np.random.default_rng(1).normal(size=(9, 15)))
    a = sg.sigmoidal_forward(x, raw, 5, 1, False)
    b = sg.sigmoidal_forward(x, raw, 5, 1, True)
    np.testing.assert_allclose(a[0].numpy(), b[0].numpy(), rtol=0, atol=0)


@pytest.mark.parametrize("dense,k,num_layers", CONFIGS, ids=IDS)
def test_extreme_inputs_and_saturated_pre_activations_stay_finite(dense, k, num_layers):
    # |x| up to 50, raw parameters up to +-30: pre-activations of order 1e14
    # (a = softplus(30) ~ 30 per layer), sigmoids saturated to 0 / 1 in float32.
    p = sg.num_sigmoidal_params(k, num_layers, dense)
    rng = np.random.default_rng(2)
    for dtype in (tf.float32, tf.float64):
        x = tf.constant(np.concatenate([[-50.0, 50.0, -1e-3, 0.0], rng.normal(size=4)]))
        x = tf.cast(x, dtype)
        raw = tf.cast(
            np.concatenate(
                [np.full([2, p], 30.0), np.full([2, p], -30.0), rng.normal(size=[4, p])]
            )
            * rng.choice([-1.0, 1.0], size=[8, p]),
            dtype,
        )
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([x, raw])
            y, log_det = sg.sigmoidal_forward(x, raw, k, num_layers, dense)
            loss = tf.reduce_sum(y) + tf.reduce_sum(log_det)
        for name, t in [("y", y), ("log_det", log_det)]:
            assert np.all(np.isfinite(t.numpy())), (dtype.name, name, t.numpy())
        for name, g in zip(["x", "raw"], tape.gradient(loss, [x, raw]), strict=True):
            assert np.all(np.isfinite(g.numpy())), (dtype.name, "d/d" + name)
        # y(x) increasing even where float32 sigmoids saturate.
        xs = tf.cast(tf.linspace(-50.0, 50.0, 201), dtype)
        r = tf.broadcast_to(raw[5], [201, p])
        ys = sg.sigmoidal_forward(xs, r, k, num_layers, dense)[0].numpy()
        assert np.all(np.diff(ys) >= 0), dtype.name
        assert np.all(np.isfinite(ys))


def test_log_softplus_has_no_underflow():
    raw = tf.constant([-200.0, -30.0, 0.0, 30.0])
    with tf.GradientTape() as tape:
        tape.watch(raw)
        out = sg._log_softplus(raw)
    assert np.all(np.isfinite(out.numpy()))
    np.testing.assert_allclose(out.numpy()[:2], [-200.0, -30.0], rtol=1e-6)
    assert np.all(np.isfinite(tape.gradient(out, raw).numpy()))


def _round_trip_case(dense, k, num_layers):
    p = sg.num_sigmoidal_params(k, num_layers, dense)
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(size=16) * 3.0, [-50.0, 50.0, -1e3, 1e3]])
    raw = tf.constant(rng.normal(size=(20, p)) * 1.5)
    y, log_det = sg.sigmoidal_forward(tf.constant(x), raw, k, num_layers, dense)
    return x, raw, y, log_det


@pytest.mark.parametrize("dense,k,num_layers", CONFIGS, ids=IDS)
def test_inverse_round_trip_in_the_tails(dense, k, num_layers):
    x, raw, y, log_det = _round_trip_case(dense, k, num_layers)
    x_back, log_det_back = sg.sigmoidal_inverse(y, raw, k, num_layers, dense)
    np.testing.assert_allclose(x_back.numpy(), x, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(log_det_back.numpy(), log_det.numpy(), atol=1e-8)


def test_inverse_under_xla_equals_eager():
    dense, k, num_layers = True, 3, 2
    x, raw, y, _ = _round_trip_case(dense, k, num_layers)
    xla = tf.function(
        lambda y, r: sg.sigmoidal_inverse(y, r, k, num_layers, dense),
        jit_compile=True,
    )
    np.testing.assert_allclose(xla(y, raw)[0].numpy(), x, rtol=1e-9, atol=1e-9)


def test_bracket_holds_the_root():
    rng = np.random.default_rng(4)
    for dense, k, num_layers in CONFIGS:
        p = sg.num_sigmoidal_params(k, num_layers, dense)
        x = tf.constant(rng.normal(size=64) * 10.0)
        raw = tf.constant(rng.normal(size=(64, p)) * 3.0)
        layers = sg._unpack(raw, k, num_layers, dense)
        # The network g alone, and f = g + LEAK * x.
        for fn, bracket in [
            (sg._network, sg._bracket),
            (sg._transformer, sg._root_bracket),
        ]:
            y, _ = fn(x, layers)
            lo, hi = bracket(y, layers)
            assert np.all(lo.numpy() <= x.numpy() + 1e-9), (dense, k, num_layers)
            assert np.all(x.numpy() <= hi.numpy() + 1e-9), (dense, k, num_layers)


@pytest.mark.parametrize("dense,k,num_layers", CONFIGS, ids=IDS)
@pytest.mark.parametrize("dtype", [tf.float32, tf.float64], ids=lambda d: d.name)
def test_far_out_pseudo_parameters_keep_the_inverse_finite_and_exact(
    dense, k, num_layers, dtype
):
    # Far in the tails MADE outputs scale with its inputs: pseudo-parameters
    # of +-1000. Before the bounds, raw a = -1000 gave a = 0 (the root
    # overflowed: NaN), and spread-out b's left plateaus of slope ~e^-1000.
    p = sg.num_sigmoidal_params(k, num_layers, dense)
    rng = np.random.default_rng(6)
    n = 48
    raw = tf.constant(rng.choice([-1000.0, 1000.0], size=(n, p)), dtype)
    x = tf.constant(rng.normal(size=n) * np.repeat([1.0, 10.0, 100.0, 1000.0], 12))
    x = tf.cast(x, dtype)
    y, log_det = sg.sigmoidal_forward(x, raw, k, num_layers, dense)
    x_back, log_det_back = sg.sigmoidal_inverse(y, raw, k, num_layers, dense)
    for name, t in [("y", y), ("log_det", log_det), ("x_back", x_back)]:
        assert np.all(np.isfinite(t.numpy())), (dtype.name, name, t.numpy())
    # The slope is at least the linear term's everywhere.
    assert np.all(log_det.numpy() >= np.log(sg.LEAK) - 1e-6)
    # The solve is exact to the dtype: f(f^{-1}(y)) = y (what MAF sampling
    # needs). x itself comes back to rtol 1e-9 in float64; in float32 its
    # error is ulp(y) / f'(x) (up to 1e-3 relative at these slopes), the
    # conditioning of any inverse, so it is not asserted there.
    y_back, _ = sg.sigmoidal_forward(x_back, raw, k, num_layers, dense)
    rtol = 1e-5 if dtype == tf.float32 else 1e-12
    np.testing.assert_allclose(y_back.numpy(), y.numpy(), rtol=rtol, atol=rtol)
    if dtype == tf.float64:
        np.testing.assert_allclose(x_back.numpy(), x.numpy(), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(
            log_det_back.numpy(), log_det.numpy(), rtol=1e-9, atol=1e-9
        )


@pytest.mark.parametrize(
    "transform,k,num_layers", [("sigmoidal", 4, 1), ("dense_sigmoidal", 3, 2)]
)
def test_maf_sampling_far_out_is_finite_and_does_not_grow_along_the_dims(
    transform, k, num_layers
):
    # MAF sampling solves D dimensions in turn, each from MADE outputs of the
    # ones before. Before the fix a tiny slope a in one dimension made its
    # root huge, the next dimension's MADE outputs huger: NaN from input
    # scale 10 (DSF) and 3 (DDSF). Now each root is bounded by its own input:
    # |x| <= (|y| + B_b + 1) e^{B_a} per layer (module docstring).
    dense = transform == "dense_sigmoidal"
    made = MADE(
        4,
        num_params=sg.num_sigmoidal_params(k, num_layers, dense),
        hidden_units=[8],
        output_initializer="glorot_uniform",
        seed=2,
    )
    bij = MAF(
        made, transform=transform, num_hidden_sigmoids=k, sigmoid_layers=num_layers
    )
    for v in bij.trainable_variables:
        v.assign(v + tf.random.stateless_normal(v.shape, [3, 4], 0.3))
    x = tf.random.stateless_normal([64, 4], [5, 6]) * 1000.0
    y = bij.forward(x)
    assert np.all(np.isfinite(y.numpy()))
    bound = np.abs(x.numpy())
    for _ in range(num_layers):
        bound = (bound + sg._SHIFT_BOUND + sg._B_SPREAD) * np.exp(sg._LOG_SLOPE_BOUND)
    assert np.all(np.abs(y.numpy()) <= bound * (1 + 1e-5))
    np.testing.assert_allclose(
        bij.inverse(tf.identity(y)).numpy(), x.numpy(), rtol=1e-4, atol=1e-4
    )
    fldj = bij.forward_log_det_jacobian(tf.identity(x), event_ndims=1).numpy()
    assert np.all(np.isfinite(fldj))


def test_inverse_gradients_are_the_implicit_function_theorem():
    # x = f^{-1}(y; theta): dx/dy = 1 / f'(x), dx/dtheta = -(df/dtheta) / f'(x).
    k, num_layers, dense = 3, 2, True
    p = sg.num_sigmoidal_params(k, num_layers, dense)
    rng = np.random.default_rng(5)
    y = tf.constant(rng.normal(size=6) * 2.0)
    raw = tf.constant(rng.normal(size=(6, p)))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([y, raw])
        x, _ = sg.sigmoidal_inverse(y, raw, k, num_layers, dense)
    dx_dy, dx_draw = tape.gradient(x, [y, raw])
    x_c = tf.constant(x.numpy())
    with tf.GradientTape() as tape2:
        tape2.watch(raw)
        fx, log_det = sg.sigmoidal_forward(x_c, raw, k, num_layers, dense)
    df_draw = tape2.gradient(fx, raw)
    slope = np.exp(log_det.numpy())
    np.testing.assert_allclose(dx_dy.numpy(), 1.0 / slope, rtol=1e-8)
    np.testing.assert_allclose(
        dx_draw.numpy(), -df_draw.numpy() / slope[:, None], rtol=1e-7, atol=1e-10
    )


@pytest.mark.parametrize("transform", ["sigmoidal", "dense_sigmoidal"])
def test_one_dimensional_flow_density_integrates_to_one(transform):
    flow = flows.maf(
        1,
        num_layers=2,
        hidden_units=[4],
        transform=transform,
        num_hidden_sigmoids=3,
        sigmoid_layers=2,
        dtype="float64",
        seed=3,
    )
    for v in flow.trainable_variables:  # away from the initial near-identity
        v.assign(v + tf.random.stateless_normal(v.shape, [1, 2], 0.5, dtype=v.dtype))
    grid = np.linspace(-30.0, 30.0, 60001)[:, None]
    density = np.exp(flow.log_prob(tf.constant(grid)).numpy())
    total = np.trapezoid(density, grid[:, 0])
    assert abs(total - 1.0) < 1e-4, total


@pytest.mark.slow  # XLA compiles of the nested solve loops
@pytest.mark.parametrize("builder", [flows.maf, flows.iaf], ids=["maf", "iaf"])
def test_flows_log_prob_under_xla_and_round_trip(builder):
    flow = builder(
        3,
        num_layers=2,
        hidden_units=[12],
        transform="sigmoidal",
        num_hidden_sigmoids=4,
        sigmoid_layers=2,
        seed=1,
    )
    x = tf.random.stateless_normal([5, 3], [0, 1])
    lp = flow.log_prob(x)
    lp_xla = tf.function(lambda t: flow.log_prob(t), jit_compile=True)(tf.identity(x))
    np.testing.assert_allclose(lp_xla.numpy(), lp.numpy(), rtol=1e-4, atol=1e-4)
    back = flow.bijector.forward(flow.bijector.inverse(tf.identity(x)))
    np.testing.assert_allclose(back.numpy(), x.numpy(), rtol=1e-4, atol=1e-4)
    assert len(flow.trainable_variables) == 8


@pytest.mark.parametrize("builder", [flows.maf, flows.iaf], ids=["maf", "iaf"])
def test_conditional_sigmoidal_flow_routes_the_context(builder):
    cond = builder(
        3,
        num_layers=2,
        hidden_units=[12],
        transform="dense_sigmoidal",
        num_hidden_sigmoids=2,
        sigmoid_layers=2,
        context_size=2,
        seed=1,
    )
    c = tf.constant([[1.0, 0.0], [0.0, 1.0]])
    x2 = tf.random.stateless_normal([2, 3], [0, 2])
    lp_c = cond.log_prob(x2, context=c).numpy()
    lp_swapped = cond.log_prob(x2, context=c[::-1]).numpy()
    assert np.all(np.isfinite(lp_c)) and not np.allclose(lp_c, lp_swapped)
    s = cond.sample(2, context=c, seed=3)
    assert s.shape == (2, 3) and np.all(np.isfinite(s.numpy()))
    layer = cond.condition(c).bijector.bijectors[-1]
    assert layer.transform == "dense_sigmoidal" and layer.sigmoid_layers == 2


@pytest.mark.slow
def test_sigmoidal_maf_trains():
    flow = flows.maf(2, num_layers=2, hidden_units=[16], transform="sigmoidal", seed=0)
    rng = np.random.default_rng(0)
    centers = rng.choice([-2.0, 2.0], size=(256, 2))
    data = tf.constant(centers + 0.3 * rng.normal(size=(256, 2)), tf.float32)
    weights = [w for layer in keras_layers_of(flow) for w in layer.trainable_weights]
    opt = keras.optimizers.Adam(1e-2)

    @tf.function(jit_compile=True)
    def step(x):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(flow.log_prob(x))
        opt.apply_gradients(zip(tape.gradient(loss, weights), weights, strict=True))
        return loss

    first = float(step(data))
    for _ in range(80):
        last = float(step(tf.identity(data)))
    assert np.isfinite(last) and last < first - 0.5, (first, last)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (
            dict(num_hidden_sigmoids=0),
            r"`num_hidden_sigmoids` must be an integer >= 1; got 0",
        ),
        (dict(num_hidden_sigmoids=2.5), r"`num_hidden_sigmoids` must be an integer"),
        (dict(sigmoid_layers=0), r"`sigmoid_layers` must be an integer >= 1; got 0"),
        (dict(sigmoid_layers=True), r"`sigmoid_layers` must be an integer"),
    ],
)
def test_bad_sigmoidal_arguments(kwargs, match):
    for cls in (MAF, IAF):
        with pytest.raises(ValueError, match=match):
            cls(MADE(3, num_params=24), transform="sigmoidal", **kwargs)
    with pytest.raises(ValueError, match=match):
        flows.maf(3, transform="dense_sigmoidal", **kwargs)


def test_made_size_mismatch_names_the_expected_count():
    with pytest.raises(
        ValueError,
        match=r"num_params=33 \(for the 'dense_sigmoidal' transform with "
        r"num_hidden_sigmoids=3, sigmoid_layers=2\); got num_params=12",
    ):
        MAF(
            MADE(3, num_params=12),
            transform="dense_sigmoidal",
            num_hidden_sigmoids=3,
            sigmoid_layers=2,
        )
    with pytest.raises(ValueError, match=r"`transform` must be one of"):
        flows.iaf(3, transform="naf")
