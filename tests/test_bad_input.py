"""Bad input a new user hits: every error names the argument and what was wrong.

Issue #12. Each case raises a `ValueError`/`TypeError` (eagerly) or an
`InvalidArgumentError` from a `tf.debugging` assertion (in graphs) whose
message names the user's argument and the expected and received value or
shape, instead of a raw TF op error or silently accepting the input.
Tiny shapes, eager unless the graph behaviour is the point.
"""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows import bijectors
from tfp_flows import data
from tfp_flows import distributions
from tfp_flows import flows
from tfp_flows import layers
from tfp_flows import nn
from tfp_flows import vae
from tfp_flows.internal.keras import keras

tfd = tfp.distributions

# -- shared tiny flows ------------------------------------------------------------

_BUILDERS = {
    "glow": lambda: flows.glow((4, 4, 1), num_levels=1, num_steps=1, hidden_units=4),
    "realnvp": lambda: flows.realnvp(
        (4, 4, 1), num_levels=1, num_couplings=1, hidden_units=4
    ),
    "maf": lambda: flows.maf(2, num_layers=1, hidden_units=[4]),
    "iaf": lambda: flows.iaf(2, num_layers=1, hidden_units=[4]),
    "coupling_flow": lambda: flows.coupling_flow(2, num_layers=2, hidden_units=4),
    "planar_flow": lambda: flows.planar_flow(2, num_layers=1),
    "radial_flow": lambda: flows.radial_flow(2, num_layers=1),
    "sylvester_flow": lambda: flows.sylvester_flow(2, num_layers=1),
}


@pytest.fixture(scope="module")
def zoo():
    return {name: make() for name, make in _BUILDERS.items()}


def _x(flow, dtype=tf.float32):
    return tf.zeros([2] + flow.event_shape.as_list(), dtype)


# -- ActNorm.initialize: NaN / inf / empty data --------------------------------------

_BAD_DATA = {
    "nan": (np.array([[np.nan, 1.0], [2.0, 3.0]], np.float32), r"1 NaN"),
    "inf": (np.array([[np.inf, 1.0], [2.0, 3.0]], np.float32), r"1 inf"),
    "empty": (np.zeros([0, 2], np.float32), r"empty batch \(shape \[0, 2\]\)"),
}


def _untouched(act):
    assert not bool(act.is_initialized)
    np.testing.assert_array_equal(act.shift.numpy(), [0.0, 0.0])
    np.testing.assert_array_equal(act.log_scale.numpy(), [0.0, 0.0])


@pytest.mark.parametrize("case", sorted(_BAD_DATA))
def test_act_norm_initialize_rejects_bad_data_eagerly(case):
    x, match = _BAD_DATA[case]
    act = bijectors.ActNorm(2, event_ndims=1)
    with pytest.raises(
        ValueError, match=r"ActNorm.*initialize: argument `data`.*" + match
    ):
        act.initialize(x)
    _untouched(act)


@pytest.mark.parametrize("case", sorted(_BAD_DATA))
def test_act_norm_initialize_rejects_bad_data_in_tf_function(case):
    x, _ = _BAD_DATA[case]
    act = bijectors.ActNorm(2, event_ndims=1)
    init = tf.function(act.initialize)
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"argument `data` (is an empty|contains NaN)",
    ):
        init(tf.constant(x))
    _untouched(act)  # the assertions run before any weight is written


def test_act_norm_initialize_under_xla_writes_nothing_for_bad_data():
    act = bijectors.ActNorm(2, event_ndims=1)
    init = tf.function(act.initialize, jit_compile=True)
    init(tf.constant(_BAD_DATA["nan"][0]))  # XLA drops assertions ...
    _untouched(act)  # ... but the non-finite statistics are not written
    init(tf.constant([[1.0, 1.0], [3.0, 2.0]]))
    assert bool(act.is_initialized)
    np.testing.assert_allclose(act.shift.numpy(), [2.0, 1.5])


def test_initialize_act_norms_of_a_flow_names_data(zoo):
    flow = flows.glow((4, 4, 1), num_levels=1, num_steps=1, hidden_units=4)
    bad = np.full([2, 4, 4, 1], np.nan, np.float32)
    with pytest.raises(ValueError, match=r"argument `data`.*NaN"):
        flows.initialize_act_norms(flow, bad)
    with pytest.raises(
        ValueError,
        match=r"initialize_act_norms: argument `data` must be a floating-point.*"
        r"got integer",
    ):
        flows.initialize_act_norms(flow, np.zeros([2, 4, 4, 1], np.int32))
    cond = flows.maf(2, num_layers=1, hidden_units=[4], context_size=1, actnorm=True)
    with pytest.raises(ValueError, match=r"`flow` is a conditional family.*condition"):
        flows.initialize_act_norms(cond, np.zeros([2, 2], np.float32))
    with pytest.raises(
        TypeError, match=r"`flow` must be a tfd.TransformedDistribution"
    ):
        flows.initialize_act_norms("glow", np.zeros([2, 4, 4, 1], np.float32))


# -- a user coupling network of the wrong output shape -------------------------------


class _CropTo4(keras.layers.Layer):
    """Passes the 4 x 4 probe, but shrinks larger maps to 4 x 4."""

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.conv = keras.layers.Conv2D(filters, 1)

    def call(self, x):
        return self.conv(x)[:, :4, :4, :]


@pytest.mark.parametrize(
    "network,event_ndims,match",
    [
        (  # strided: halves the spatial size
            keras.Sequential([keras.layers.Conv2D(4, 3, strides=2, padding="same")]),
            3,
            r"must output 4 channels.*inputs of shape \[2, 4, 4, 2\] must give "
            r"outputs of "
            r"shape \[2, 4, 4, 4\].*"
            r"got output shape \[2, 2, 2, 4\]",
        ),
        (  # 'valid' padding: shrinks the map
            keras.Sequential([keras.layers.Conv2D(4, 3, padding="valid")]),
            3,
            r"got output shape \[2, 2, 2, 4\]",
        ),
        (  # flattens the image
            keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(4)]),
            3,
            r"got output shape \[2, 4\]",
        ),
        (  # wrong channel count
            keras.Sequential([keras.layers.Conv2D(3, 1)]),
            3,
            r"outputs of shape \[2, 4, 4, 4\]; got output shape \[2, 4, 4, 3\]",
        ),
        (  # vectors: wrong width
            keras.Sequential([keras.layers.Dense(3)]),
            1,
            r"inputs of shape \[2, 2\] must give outputs of shape \[2, 4\]; got output "
            r"shape \[2, 3\]",
        ),
        (  # built for other input channels: cannot be called on the probe
            keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Conv2D(4, 1)]),
            3,
            r"could not be called on an input of shape \[2, 4, 4, 2\]",
        ),
    ],
)
def test_coupling_network_output_shape_is_checked_at_construction(
    network, event_ndims, match
):
    with pytest.raises(
        ValueError, match=r"AffineCoupling: argument `network`.*" + match
    ):
        bijectors.AffineCoupling(4, network=network, event_ndims=event_ndims)


def test_coupling_network_changing_the_shape_at_call_time_is_named():
    cpl = bijectors.AffineCoupling(4, network=_CropTo4(4))  # passes the probe
    assert cpl.inverse(tf.zeros([1, 4, 4, 4])).shape == (1, 4, 4, 4)
    with pytest.raises(
        ValueError,
        match=r"argument `network` must output 4 channels.*inputs of shape "
        r"\[1, 8, 8, 2\] must give outputs of shape \[1, 8, 8, 4\]; got output shape "
        r"\[1, 4, 4, 4\]",
    ):
        cpl.inverse(tf.zeros([1, 8, 8, 4]))


def test_spline_coupling_network_shape_is_checked():
    net = keras.Sequential([keras.layers.Dense(3)])
    with pytest.raises(
        ValueError, match=r"SplineCoupling: argument `network`.*\[2, 23\]"
    ):
        bijectors.SplineCoupling(2, network=net, event_ndims=1)


# -- context= for a flow that is not conditional ------------------------------------


@pytest.mark.parametrize("name", sorted(_BUILDERS))
@pytest.mark.parametrize(
    "method", ["log_prob", "prob", "sample", "experimental_sample_and_log_prob"]
)
def test_context_for_an_unconditional_flow_raises(zoo, name, method):
    flow = zoo[name]
    arg = 2 if "sample" in method else _x(flow)
    with pytest.raises(
        ValueError,
        match=rf"{name}.{method}: argument `context` was given, but this flow is "
        "unconditional",
    ):
        getattr(flow, method)(arg, context=tf.zeros([2, 1]))


def test_unknown_keyword_argument_raises(zoo):
    with pytest.raises(
        ValueError, match=r"unexpected keyword argument\(s\) `temperature`"
    ):
        zoo["glow"].sample(2, temperature=0.5)
    # TFP's own pass-through keywords still work.
    assert zoo["maf"].log_prob(_x(zoo["maf"]), bijector_kwargs={}).shape == (2,)


def test_context_for_a_bound_conditional_flow_raises():
    cond = flows.maf(2, num_layers=1, hidden_units=[4], context_size=1)
    bound = cond.condition(tf.ones([1]))
    assert bound.log_prob(tf.zeros([2, 2])).shape == (2,)
    with pytest.raises(
        ValueError, match=r"`context` was given, but .*already has its context bound"
    ):
        bound.log_prob(tf.zeros([2, 2]), context=tf.ones([1]))


def test_flow_model_sample_with_context_for_unconditional_flow_raises(zoo):
    with pytest.raises(
        ValueError, match=r"FlowModel.sample: argument `context`.*unconditional"
    ):
        layers.FlowModel(zoo["maf"]).sample(2, context=tf.zeros([2, 1]))


def test_conditional_flow_still_routes_its_context():
    cond = flows.maf(2, num_layers=1, hidden_units=[4], context_size=1)
    lp = cond.log_prob(tf.zeros([3, 2]), context=tf.ones([3, 1]))
    assert lp.shape == (3,)
    assert cond.sample(2, context=tf.ones([1]), seed=1).shape == (2, 2)


# -- served SavedModel signatures: rank as well as size -----------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    out = {}
    for name, flow in [
        ("vector", flows.maf(2, num_layers=1, hidden_units=[4])),
        ("conditional", flows.maf(2, num_layers=1, hidden_units=[4], context_size=1)),
    ]:
        layers.export_saved_model(flow, root / name)
        out[name] = tf.saved_model.load(str(root / name))
    return out


@pytest.mark.parametrize("shape", [[2], [1, 2, 2], [2, 1, 2], [3, 3], []])
def test_served_log_prob_checks_rank_and_size(served, shape):
    fn = served["vector"].signatures["log_prob"]
    assert fn(x=tf.zeros([3, 2]))["log_prob"].shape == (3,)
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"served signature: argument `x` must have shape \[batch, 2\] \(rank 2\)",
    ):
        fn(x=tf.zeros(shape))


@pytest.mark.parametrize(
    "x_shape,context_shape,arg",
    [([2], [2, 1], "x"), ([2, 2], [2], "context"), ([2, 2], [2, 1, 1], "context")],
)
def test_served_conditional_log_prob_checks_rank(served, x_shape, context_shape, arg):
    fn = served["conditional"].signatures["log_prob"]
    assert fn(x=tf.zeros([2, 2]), context=tf.zeros([2, 1]))["log_prob"].shape == (2,)
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=rf"argument `{arg}` must have shape"
    ):
        fn(x=tf.zeros(x_shape), context=tf.zeros(context_shape))


def test_served_sample_rejects_a_negative_count(served):
    fn = served["vector"].signatures["sample"]
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=r"argument `n`.*must be >= 0"
    ):
        fn(n=tf.constant(-1), seed=tf.constant([1, 2]))


# -- integer data into a density over real values ----------------------------------

_INT_MESSAGE = (
    r"argument `{}`.* must be a floating-point tensor of dtype float32 \(this flow "
    r"is a density over real values\); got integer dtype int32\. Dequantize"
)


def test_flow_model_predict_and_call_reject_integers_like_log_prob(zoo):
    flow = zoo["glow"]
    images = np.zeros([2, 4, 4, 1], np.int32)
    with pytest.raises(ValueError, match=_INT_MESSAGE.format("value")):
        flow.log_prob(images)
    model = layers.FlowModel(flow)
    with pytest.raises(ValueError, match=_INT_MESSAGE.format("x")):
        model(images)
    with pytest.raises(ValueError, match=_INT_MESSAGE.format("x")):
        model.predict(images, verbose=0)
    # Floats (numpy's float64 included) are still fine.
    assert model.predict(images.astype("float64"), verbose=0).shape == (2,)


@pytest.mark.parametrize("name", sorted(_BUILDERS))
@pytest.mark.parametrize(
    "make_value,match",
    [
        (
            lambda f: np.zeros([2] + f.event_shape.as_list(), np.uint8),
            "integer dtype uint8",
        ),
        (lambda f: _x(f, tf.int32), "integer dtype int32"),
        (
            lambda f: _x(f, tf.float64),
            r"dtype float64, but this flow's dtype is float32",
        ),
        (
            lambda f: tf.zeros([2] + f.event_shape.as_list()[:-1] + [7]),
            r"event shape \[\.\.\.",
        ),
        (lambda f: 0.0, r"rank >= \d with event shape"),
    ],
)
def test_log_prob_value_is_checked(zoo, name, make_value, match):
    flow = zoo[name]
    with pytest.raises(
        ValueError, match=rf"{name}.log_prob: argument `value`.*{match}"
    ):
        flow.log_prob(make_value(flow))


def test_conditional_log_prob_names_x():
    cond = flows.maf(2, num_layers=1, hidden_units=[4], context_size=1)
    with pytest.raises(
        ValueError, match=r"maf.log_prob: argument `x`.* must have event shape"
    ):
        cond.log_prob(tf.zeros([2, 3]), context=tf.zeros([2, 1]))


# -- the number of samples ------------------------------------------------------------

_BAD_COUNTS = [-1, [2, -1], 2.5, True, np.array([-3])]


@pytest.mark.parametrize("name", sorted(_BUILDERS))
@pytest.mark.parametrize("n", _BAD_COUNTS, ids=repr)
def test_sample_count_is_checked(zoo, name, n):
    with pytest.raises(ValueError, match=rf"{name}.sample: argument `sample_shape`"):
        zoo[name].sample(n)


@pytest.mark.parametrize(
    "sample",
    [
        lambda: flows.maf(
            2, num_layers=1, hidden_units=[4]
        ).experimental_sample_and_log_prob(-1),
        lambda: flows.maf(2, num_layers=1, hidden_units=[4], context_size=1).sample(
            -1, context=tf.zeros([1])
        ),
        lambda: distributions.pixel_rnn(
            (2, 2, 1), num_levels=2, hidden_units=2, output_units=2
        ).sample(-1),
        lambda: distributions.pixel_rnn(
            (2, 2, 1), num_levels=2, hidden_units=2, output_units=2
        ).sample(2.5),
        lambda: layers.FlowModel(flows.planar_flow(2, num_layers=1)).sample(-2),
        lambda: flows.sample_with_temperature(flows.planar_flow(2, num_layers=1), -1),
        lambda: layers.DiagonalGaussianPosterior(2, feature_size=3)(
            tf.zeros([1, 3])
        ).sample(-1),
        lambda: vae.VAE(4, latent_size=2, hidden_units=[4]).generate(-1),
    ],
)
def test_sample_count_is_checked_everywhere(sample):
    with pytest.raises(ValueError, match=r"argument `(sample_shape|n)`.* >= 0"):
        sample()


def test_symbolic_negative_count_raises_a_named_assertion(zoo):
    f = tf.function(lambda n: zoo["maf"].sample(n, seed=(1, 2)), autograph=False)
    assert f(tf.constant(3)).shape == (3, 2)
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=r"maf.sample: argument `sample_shape`"
    ):
        f(tf.constant(-1))
    with pytest.raises(ValueError, match=r"`sample_shape` must be an integer tensor"):
        zoo["maf"].sample(tf.constant(2.0))


def test_zero_and_list_counts_still_work(zoo):
    assert zoo["maf"].sample(0, seed=1).shape == (0, 2)
    assert zoo["maf"].sample([2, 3], seed=1).shape == (2, 3, 2)


# -- PixelRNN pixel levels out of range --------------------------------------------


@pytest.fixture(scope="module")
def pixel():
    return distributions.pixel_rnn(
        (2, 2, 1), num_levels=3, hidden_units=2, output_units=2
    )


@pytest.mark.parametrize("level", [3, -1])
def test_pixel_rnn_levels_out_of_range_eager_and_tf_function(pixel, level):
    x = tf.fill([1, 2, 2, 1], level)
    with pytest.raises(
        ValueError, match=r"argument `value` must hold pixel levels in 0\.\.2"
    ):
        pixel.log_prob(x)
    f = tf.function(
        pixel.log_prob, input_signature=[tf.TensorSpec([None, 2, 2, 1], tf.int32)]
    )
    assert f(tf.zeros([1, 2, 2, 1], tf.int32)).shape == (1,)
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"argument `value` must hold integers in 0\.\.2 \(num_levels=3\)",
    ):
        f(x)


def test_pixel_rnn_levels_out_of_range_under_xla_give_nan(pixel):
    f = tf.function(pixel.log_prob, jit_compile=True)
    assert np.isfinite(f(tf.zeros([1, 2, 2, 1], tf.int32)).numpy()).all()
    assert np.isnan(f(tf.fill([1, 2, 2, 1], 7)).numpy()).all()


# -- messages name the user's argument -----------------------------------------------


@pytest.mark.parametrize(
    "make,match",
    [
        (
            lambda: nn.MADE(3, hidden_units=[1]),
            r"MADE: argument `hidden_units\[0\]` = 1",
        ),
        (
            lambda: nn.MADE(3, hidden_units=None),
            r"MADE: argument `hidden_units` must be a list",
        ),
        (
            lambda: nn.MADE(3, hidden_units="64"),
            r"MADE: argument `hidden_units` must be a list",
        ),
        (
            lambda: flows.maf(3, hidden_units=[1]),
            r"maf: argument `hidden_units\[0\]` = 1",
        ),
        (
            lambda: flows.iaf(3, hidden_units=4.0),
            r"iaf: argument `hidden_units` must be a list",
        ),
        (
            lambda: vae.VAE(
                4,
                latent_size=4,
                posterior="iaf",
                num_flow_steps=1,
                made_hidden_units=[1],
            ),
            r"VAE: argument `made_hidden_units\[0\]` = 1",
        ),
        (
            lambda: vae.VAE(4, posterior="iaf", num_flow_steps=0),
            r"VAE: argument `num_flow_steps` must be an integer >= 1; got 0",
        ),
        (
            lambda: layers.PixelRNN((4, 4, 3), hidden_units=4, output_units=6),
            r"PixelRNN: argument `hidden_units` must be a positive multiple of "
            r"color_channels=3.*got 4",
        ),
        (
            lambda: layers.IAFPosterior(4, feature_size=3, hidden_units=[1]),
            r"IAFPosterior: argument `hidden_units\[0\]` = 1",
        ),
    ],
)
def test_messages_name_the_users_argument(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_context_dtype_errors_advise_a_cast_not_dequantize():
    cond = flows.maf(2, num_layers=1, hidden_units=[4], context_size=2)
    for dtype in (tf.int32, tf.float64):
        with pytest.raises(
            ValueError, match=r"`context`.*tf\.cast\(context, tf\.float32\)"
        ) as err:
            cond.log_prob(tf.zeros([2, 2]), context=tf.zeros([2, 2], dtype))
        assert "dequantize" not in str(err.value)
    # Integer *data* still points to dequantization.
    with pytest.raises(ValueError, match=r"`x` must be a floating-point.*dequantize"):
        bijectors.ActNorm(2, event_ndims=1).forward(tf.zeros([1, 2], tf.int32))


# -- MADE with event size 1 ------------------------------------------------------------


def test_made_event_size_one_output_depends_on_nothing_or_the_context_only():
    made = nn.MADE(1, hidden_units=[4], seed=0)
    for w in made.trainable_weights:  # move off the small output init
        w.assign(tf.random.stateless_normal(w.shape, seed=[0, 1]))
    x = tf.constant([[-2.0], [0.5], [3.0]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = made(x)
    assert out.shape == (3, 1, 2)
    np.testing.assert_allclose(out.numpy(), np.broadcast_to(out.numpy()[:1], out.shape))
    grad = tape.gradient(out, x)
    assert grad is None or np.all(grad.numpy() == 0.0)

    cmade = nn.MADE(1, hidden_units=[4], context_size=2, seed=0)
    for w in cmade.trainable_weights:
        w.assign(tf.random.stateless_normal(w.shape, seed=[2, 3]))
    c = tf.constant([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = cmade(x, context=c)
    grad = tape.gradient(out, x)
    assert grad is None or np.all(grad.numpy() == 0.0)  # never the input
    np.testing.assert_allclose(out[0], out[2])  # same context, same output
    assert not np.allclose(out[0], out[1])  # the context matters


def test_maf_of_event_size_one_is_a_proper_density():
    flow = flows.maf(1, num_layers=2, hidden_units=[4])
    x = tf.constant(np.linspace(-30, 30, 20001, dtype=np.float32)[:, None])
    density = tf.exp(flow.log_prob(x)).numpy()
    np.testing.assert_allclose(np.trapezoid(density, x.numpy()[:, 0]), 1.0, atol=1e-3)
    assert flow.sample(3, seed=1).shape == (3, 1)


# -- constructors and other entry points: a table ------------------------------------

_GLOW = dict(num_levels=1, num_steps=1, hidden_units=4)
_M = dict(num_layers=1, hidden_units=[4])

_CONSTRUCTOR_CASES = [
    # flows.*
    (
        lambda: flows.glow((8.0, 8, 1), **_GLOW),
        "glow: argument `event_shape`.*positive integers",
    ),
    (
        lambda: flows.glow((0, 4, 1), **_GLOW),
        "glow: argument `event_shape`.*got \\(0, 4, 1\\)",
    ),
    (
        lambda: flows.glow((4, 4, 1), dtype=tf.int32, **_GLOW),
        "glow: argument `dtype`.*int32",
    ),
    (
        lambda: flows.glow((4, 4, 1), dtype="flaot32", **_GLOW),
        "glow: argument `dtype`.*flaot32",
    ),
    (lambda: flows.glow((4, 4, 1), seed=None, **_GLOW), "glow: argument `seed`.*None"),
    (
        lambda: flows.realnvp((4, 4, 1), hidden_units=0),
        "realnvp: argument `hidden_units`.*got 0",
    ),
    (lambda: flows.realnvp((4, 4, 1), seed=-1), "realnvp: argument `seed`.*got -1"),
    (lambda: flows.maf(2, seed=None, **_M), "maf: argument `seed`.*None"),
    (lambda: flows.maf(2, seed=-1, **_M), "maf: argument `seed`.*-1"),
    (lambda: flows.maf(2, dtype=tf.int32, **_M), "maf: argument `dtype`.*int32"),
    (lambda: flows.maf(2, context_size=0, **_M), "maf: argument `context_size`.*got 0"),
    (
        lambda: flows.maf(2, activation="nope", **_M),
        "MADE: argument `activation`.*'nope'",
    ),
    (
        lambda: flows.maf(
            2,
            base_distribution=tfd.Sample(
                tfd.Normal(tf.constant(0.0, tf.float64), 1.0), [2]
            ),
            **_M,
        ),
        "maf: argument `base_distribution` has dtype float64.*float32",
    ),
    (lambda: flows.coupling_flow(2, dtype=tf.int32), "coupling_flow: argument `dtype`"),
    (lambda: flows.coupling_flow(2, seed=None), "coupling_flow: argument `seed`"),
    (lambda: flows.planar_flow(2, dtype=tf.int32), "planar_flow: argument `dtype`"),
    (lambda: flows.radial_flow(2, seed="a"), "radial_flow: argument `seed`.*'a'"),
    (
        lambda: flows.planar_flow(2, base_distribution=tfd.Normal(0.0, 1.0)),
        r"planar_flow: argument `base_distribution` must have event shape \[2\]",
    ),
    # bijectors.*
    (lambda: bijectors.ActNorm(2, epsilon="a"), "ActNorm: argument `epsilon`.*'a'"),
    (lambda: bijectors.ActNorm(2, dtype=tf.int32), "ActNorm: argument `dtype`.*int32"),
    (
        lambda: bijectors.AffineCoupling(4, hidden_units=0),
        "AffineCoupling: argument `hidden_units`.*got 0",
    ),
    (
        lambda: bijectors.AffineCoupling(4, hidden_units=[4]),
        "AffineCoupling: argument `hidden_units`.*got \\[4\\]",
    ),
    (
        lambda: bijectors.AffineCoupling(4, dtype=tf.int32),
        "AffineCoupling: argument `dtype`",
    ),
    (lambda: bijectors.AffineCoupling(4, seed="a"), "AffineCoupling: argument `seed`"),
    (lambda: bijectors.GlowStep(4, hidden_units=0), "argument `hidden_units`.*got 0"),
    (
        lambda: bijectors.Invertible1x1Conv(2, seed=-1),
        "Invertible1x1Conv: argument `seed`",
    ),
    (
        lambda: bijectors.Invertible1x1Conv(2, seed="a"),
        "Invertible1x1Conv: argument `seed`",
    ),
    (
        lambda: bijectors.MultiScale((8.0, 8, 1), [bijectors.Level()]),
        "MultiScale: argument `event_shape`",
    ),
    (
        lambda: bijectors.MultiScale((8, 8, 1), ["level"]),
        r"MultiScale: argument `levels\[0\]` must be a tfp_flows.bijectors.Level",
    ),
    (
        lambda: bijectors.MultiScale((8, 8, 1), bijectors.Level()),
        "MultiScale: argument `levels` must be a list",
    ),
    (
        lambda: bijectors.MultiScale(
            (8, 8, 1), [bijectors.Level(steps=bijectors.GlowStep(4, hidden_units=4))]
        ),
        r"MultiScale: argument `levels\[0\].steps` must be a list of bijectors",
    ),
    (
        lambda: bijectors.PlanarFlow(2, init_scale=-1.0),
        "PlanarFlow: argument `init_scale`",
    ),
    (lambda: bijectors.PlanarFlow(2, seed=None), "PlanarFlow: argument `seed`"),
    (lambda: bijectors.RadialFlow(2, seed="a"), "RadialFlow: argument `seed`"),
    (
        lambda: bijectors.SylvesterFlow(2, init_scale="big"),
        "SylvesterFlow: argument `init_scale`",
    ),
    (
        lambda: bijectors.SplineCoupling(2, bound="a", event_ndims=1),
        "SplineCoupling: argument `bound`.*'a'",
    ),
    # nn.*
    (lambda: nn.MADE(2, activation="nope"), "MADE: argument `activation`.*'nope'"),
    (
        lambda: nn.MADE(2, kernel_initializer="nope"),
        "MADE: argument `kernel_initializer`",
    ),
    (lambda: nn.MADE(2, seed=None), "MADE: argument `seed`.*None"),
    # layers.*
    (
        lambda: layers.DiagonalGaussianPosterior(2, feature_size=3, min_scale=-1.0),
        "DiagonalGaussianPosterior: argument `min_scale`",
    ),
    (
        lambda: layers.DiagonalGaussianPosterior(2, feature_size=3, context_size=-1),
        "DiagonalGaussianPosterior: argument `context_size`",
    ),
    (
        lambda: layers.FlowSample(flows.planar_flow(2, num_layers=1), temperature=-1.0),
        "FlowSample: argument `temperature`.*-1",
    ),
    (lambda: layers.FlowSample(None), "FlowSample: pass `flow`"),
    # data.*
    (
        lambda: data.dequantize(np.zeros([2], np.int32), num_levels=0),
        "dequantize: argument `num_levels`.*got 0",
    ),
    (
        lambda: data.dequantize(np.full([2], 17), num_levels=17),
        r"dequantize: argument `images` must hold levels in 0\.\.16.*17\.\.17",
    ),
    (
        lambda: data.dequantize(np.full([2], -1), num_levels=17),
        r"dequantize: argument `images` must hold levels in 0\.\.16.*-1\.\.-1",
    ),
    (
        lambda: data.dequantize(np.full([2], 0.3), num_levels=17),
        "dequantize: argument `images` must hold integer levels.*already dequantized",
    ),
    (
        lambda: data.dequantize(np.zeros([2], np.int32), seed="a"),
        "dequantize: argument `seed`",
    ),
    (lambda: data.bits_per_dim(-1.0, 0), "bits_per_dim: argument `num_dims`.*got 0"),
    (
        lambda: data.bits_per_dim(-1.0, 4, num_levels=0),
        "bits_per_dim: argument `num_levels`",
    ),
    (
        lambda: data.load_digits(binarize=True, threshold="a"),
        "load_digits: argument `threshold`",
    ),
    # vae.*
    (lambda: vae.VAE(4, posterior="foo"), "VAE: argument `posterior`.*'foo'"),
    (
        lambda: vae.VAE(4, posterior="gaussian", num_flow_steps=3),
        "VAE: argument `num_flow_steps` must be 0 for posterior='gaussian'",
    ),
    (lambda: vae.VAE(4, num_flow_steps=-1), "VAE: argument `num_flow_steps`.*got -1"),
    (
        lambda: vae.VAE(4, hidden_units=None),
        "VAE: argument `hidden_units` must be a list",
    ),
    (
        lambda: vae.VAE(4, latent_size=2, hidden_units=[4]).log_weights(
            tf.zeros([1, 4]), num_samples=0
        ),
        "VAE.log_weights: argument `num_samples`",
    ),
    (
        lambda: vae.VAE(4, latent_size=2, hidden_units=[4]).evaluate_bounds(
            np.zeros([2, 4]), num_samples=2, batch_size=0
        ),
        "VAE.evaluate_bounds: argument `batch_size`",
    ),
    (
        lambda: vae.VAE(4, latent_size=2, hidden_units=[4]).generate(2.5),
        "VAE.generate: argument `n`.*2.5",
    ),
    # flows.vi helpers
    (
        lambda: flows.sample_with_temperature(
            flows.planar_flow(2, num_layers=1), 2, temperature=-1.0
        ),
        "sample_with_temperature: argument `temperature`.*-1",
    ),
    (
        lambda: flows.sample_with_temperature(
            flows.planar_flow(2, num_layers=1), 2, temperature="hot"
        ),
        "sample_with_temperature: argument `temperature`.*'hot'",
    ),
    (
        lambda: flows.fit_reverse_kl(
            flows.planar_flow(2, num_layers=1), _energy, num_steps=1, learning_rate=-1.0
        ),
        "fit_reverse_kl: argument `learning_rate`",
    ),
    (
        lambda: flows.fit_reverse_kl(
            flows.planar_flow(2, num_layers=1), _energy, num_steps=1, anneal_steps=-5
        ),
        "fit_reverse_kl: argument `anneal_steps`",
    ),
    (
        lambda: flows.fit_reverse_kl(
            flows.planar_flow(2, num_layers=1), _energy, num_steps=1, decay_to="a"
        ),
        "fit_reverse_kl: argument `decay_to`",
    ),
    (
        lambda: flows.fit_reverse_kl(
            flows.planar_flow(2, num_layers=1),
            lambda z: z,
            num_steps=1,
            jit_compile=False,
        ),
        r"argument `energy` must map samples \[\.\.\., D\] to one value per sample.*"
        r"got output shape \[256, 2\]",
    ),
    (
        lambda: flows.fit_reverse_kl(
            flows.maf(2, num_layers=1, hidden_units=[4], context_size=1),
            _energy,
            num_steps=1,
        ),
        "fit_reverse_kl: argument `flow` is a conditional family",
    ),
]


def _energy(z):
    return 0.5 * tf.reduce_sum(tf.square(z), axis=-1)


@pytest.mark.parametrize(
    "make,match",
    _CONSTRUCTOR_CASES,
    ids=[
        m.split(":")[0] + ":" + m.split("`")[1] if "`" in m else m[:30]
        for _, m in _CONSTRUCTOR_CASES
    ],
)
def test_bad_arguments_name_the_argument(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    "make,match",
    [
        (
            lambda: layers.FlowLogProb("maf"),
            "FlowLogProb: argument `flow` must be a tfp distribution",
        ),
        (
            lambda: layers.FlowModel(bijectors.ActNorm(2)),
            "argument `flow`.*got ActNorm",
        ),
        (
            lambda: layers.FlowSample(bijectors.ActNorm(2)),
            "FlowSample: argument `flow`",
        ),
        (
            lambda: layers.export_saved_model("maf", "/tmp/unused"),
            "export_saved_model: argument `flow`.*got str",
        ),
        (
            lambda: flows.fit_reverse_kl(
                flows.planar_flow(2, num_layers=1), "U1", num_steps=1
            ),
            "fit_reverse_kl: argument `energy` must be callable",
        ),
        (
            lambda: flows.maf(2, base_distribution="normal", **_M),
            "maf: argument `base_distribution` must be a "
            "tfp.distributions.Distribution",
        ),
        (
            lambda: flows.fit_reverse_kl("flow", _energy, num_steps=1),
            "fit_reverse_kl: argument `flow` must be a tfp.distributions.Distribution",
        ),
    ],
)
def test_objects_of_the_wrong_kind_raise_type_error(make, match):
    with pytest.raises(TypeError, match=match):
        make()


def test_log_normalizer_and_kl_estimate_arguments():
    from tfp_flows.flows import vi

    with pytest.raises(ValueError, match=r"log_normalizer_on_grid: argument `limit`"):
        vi.log_normalizer_on_grid(vi.energy_u1, limit=0.0)
    with pytest.raises(
        ValueError, match=r"reverse_kl_estimate: argument `num_samples`"
    ):
        vi.reverse_kl_estimate(
            flows.planar_flow(2, num_layers=1), vi.energy_u1, 0.0, num_samples=0
        )


def test_dequantize_in_a_tf_function_asserts_the_levels():
    f = tf.function(lambda k: data.dequantize(k, num_levels=4, seed=[0, 0]))
    assert f(tf.constant([0, 3])).shape == (2,)
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"`images` must hold integer levels 0\.\.3",
    ):
        f(tf.constant([0, 4]))
