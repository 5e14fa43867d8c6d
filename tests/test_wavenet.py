"""WaveNet: layers, distribution (normalization, autoregressive property, XLA
parity, cached == naive generation), bad input, builder, signals and the
shipped speech clip."""

import itertools
import json

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows import data as fdata
from tfp_flows.distributions import WaveNetDistribution
from tfp_flows.distributions import discretized_logistic_mixture_log_prob
from tfp_flows.distributions import wavenet
from tfp_flows.internal import specs
from tfp_flows.internal.keras import keras
from tfp_flows.nn import CausalConv1D
from tfp_flows.nn import WaveNet
from tfp_flows.nn import WaveNetResidualBlock

tfd = tfp.distributions

LEVELS = 8
LENGTH = 12


@pytest.fixture(scope="module")
def cat_dist():
    """Categorical output, unconditional; receptive field 8 < LENGTH."""
    return wavenet(
        LENGTH,
        num_levels=LEVELS,
        residual_channels=4,
        skip_channels=6,
        dilations=[1, 2, 4],
        seed=1,
    )


@pytest.fixture(scope="module")
def mix_dist():
    """Logistic mixture with a global (G=3) and a local (Cl=2, r=3) condition."""
    return wavenet(
        LENGTH,
        num_levels=LEVELS,
        likelihood="logistic_mixture",
        num_mixtures=2,
        residual_channels=4,
        skip_channels=6,
        kernel_size=3,
        dilations=[1, 2],
        context_size=3,
        local_channels=2,
        local_upsample_factor=3,
        seed=2,
    )


def _seqs(n=3, length=LENGTH, seed=0):
    return np.random.RandomState(seed).randint(0, LEVELS, (n, length)).astype("int32")


def _conditions(n=3, seed=0):
    rng = np.random.RandomState(seed)
    h = rng.normal(size=(n, 3)).astype("float32")
    y = rng.normal(size=(n, LENGTH // 3, 2)).astype("float32")
    return h, y


# -- layers ---------------------------------------------------------------------
def test_causal_conv_is_causal_and_its_step_equals_the_full_pass():
    conv = CausalConv1D(3, 3, dilation_rate=2, seed=0)
    x = np.random.RandomState(0).normal(size=(2, 9, 4)).astype("float32")
    y = conv(x).numpy()
    for t in range(9):
        taps = np.stack(
            [
                x[:, s] if s >= 0 else np.zeros((2, 4), "float32")
                for s in (t - 4, t - 2, t)
            ],
            1,
        )
        np.testing.assert_allclose(conv.step(taps), y[:, t], atol=1e-6)
    x2 = x.copy()
    x2[:, 5:] += 1.0  # the future changes: outputs before 5 do not
    np.testing.assert_array_equal(conv(x2).numpy()[:, :5], y[:, :5])
    assert conv.receptive_field == 5


@pytest.mark.parametrize(
    "factory, call",
    [
        (lambda: CausalConv1D(3, 3, dilation_rate=2, use_bias=False, seed=4), None),
        (
            lambda: WaveNetResidualBlock(
                4,
                dilation_channels=5,
                skip_channels=6,
                kernel_size=3,
                dilation_rate=2,
                context_size=3,
                local_channels=2,
                seed=3,
            ),
            "block",
        ),
        (
            lambda: WaveNet(
                num_levels=LEVELS,
                likelihood="logistic_mixture",
                num_mixtures=2,
                residual_channels=4,
                dilations=[1, 2],
                context_size=3,
                local_channels=2,
                local_upsample_factor=3,
                upsampling="repeat",
                seed=5,
            ),
            "net",
        ),
    ],
    ids=["CausalConv1D", "WaveNetResidualBlock", "WaveNet"],
)
def test_layer_config_round_trip(factory, call):
    rng = np.random.RandomState(0)
    h, y = _conditions(2)
    if call is None:
        inputs, kwargs = (rng.normal(size=(2, 6, 4)).astype("float32"),), {}
    elif call == "block":
        inputs = (rng.normal(size=(2, 6, 4)).astype("float32"),)
        kwargs = {"context": h, "local": rng.normal(size=(2, 6, 2)).astype("float32")}
    else:
        inputs, kwargs = (_seqs(2),), {"context": h, "local_context": y}
    layer = factory()
    expected = tf.nest.flatten(layer(*inputs, **kwargs))
    config = layer.get_config()
    json.dumps(config)
    rebuilt = type(layer).from_config(config)
    rebuilt(*inputs, **kwargs)
    assert rebuilt.get_config() == config
    rebuilt.set_weights(layer.get_weights())
    for got, want in zip(
        tf.nest.flatten(rebuilt(*inputs, **kwargs)), expected, strict=True
    ):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))
    assert serialized["registered_name"].startswith("tfp_flows>")
    restored = keras.saving.deserialize_keras_object(serialized, safe_mode=True)
    assert type(restored) is type(layer) and restored.get_config() == config


def test_every_weight_is_a_keras_weight_listed_by_the_distribution(mix_dist):
    net = mix_dist.network
    keras_ids = sorted(id(w.value) for w in net.trainable_weights)
    tfp_ids = sorted(id(v) for v in mix_dist.trainable_variables)
    assert keras_ids == tfp_ids and len(keras_ids) > 10
    from tfp_flows.layers import FlowModel

    model = FlowModel(mix_dist)
    assert model.flow_variables_match()


# -- density --------------------------------------------------------------------
def test_log_prob_is_a_sum_of_per_step_categoricals(cat_dist):
    x = _seqs()
    logits = cat_dist.network(x)
    expected = tf.reduce_sum(tfd.Categorical(logits=logits).log_prob(x), -1)
    np.testing.assert_allclose(cat_dist.log_prob(x), expected, rtol=1e-5)
    x2 = np.stack([x, x[::-1]])  # extra batch dims are kept
    assert cat_dist.log_prob(x2).shape == (2, 3)
    np.testing.assert_allclose(cat_dist.log_prob(x2)[0], expected, rtol=1e-5)


@pytest.mark.parametrize("likelihood", ["categorical", "logistic_mixture"])
def test_probabilities_of_all_sequences_sum_to_one(likelihood):
    levels, length = 3, 3
    dist = wavenet(
        length,
        num_levels=levels,
        likelihood=likelihood,
        num_mixtures=2,
        residual_channels=3,
        skip_channels=4,
        dilations=[1],
        context_size=2,
        local_channels=1,
        local_upsample_factor=3,
        seed=7,
    )
    every = np.array(list(itertools.product(range(levels), repeat=length)), "int32")
    h = tf.fill([len(every), 2], 0.7)
    y = tf.fill([len(every), 1, 1], -0.3)
    lp = dist.log_prob(every, context=h, local_context=y)
    np.testing.assert_allclose(tf.reduce_sum(tf.exp(lp)), 1.0, rtol=1e-5)


def test_discretized_logistic_is_normalized_and_finite_at_extremes():
    levels = 256
    x = tf.range(levels)
    cases = [(0.0, 0.0), (0.3, -7.0), (-0.9, 7.0), (50.0, -7.0), (-50.0, -3.0)]
    for mean, log_scale in cases:
        lp = discretized_logistic_mixture_log_prob(
            x,
            tf.zeros([levels, 1]),
            tf.fill([levels, 1], mean),
            tf.fill([levels, 1], log_scale),
            levels,
        )
        assert np.all(np.isfinite(lp)), (mean, log_scale)
        np.testing.assert_allclose(
            tf.reduce_sum(tf.exp(tf.cast(lp, tf.float64))), 1.0, rtol=1e-5
        )
    # Middle bins equal sigmoid(a) - sigmoid(b) in float64 where that is exact.
    mean, log_scale = 0.1, -2.0
    centre = 2.0 * np.arange(levels) / 255.0 - 1.0
    s = np.exp(log_scale)
    a, b = (centre + 1 / 255 - mean) / s, (centre - 1 / 255 - mean) / s
    ref = 1 / (1 + np.exp(-a)) - 1 / (1 + np.exp(-b))
    ref[0], ref[-1] = 1 / (1 + np.exp(-a[0])), 1 - 1 / (1 + np.exp(-b[-1]))
    lp = discretized_logistic_mixture_log_prob(
        np.arange(levels),
        np.zeros((levels, 1)),
        np.full((levels, 1), mean),
        np.full((levels, 1), log_scale),
        levels,
    )
    mask = ref > 1e-12
    np.testing.assert_allclose(np.exp(lp)[mask], ref[mask], rtol=1e-4)


def _step_jacobian(dist, x, context=None, local=None):
    """d log p(x_t | x_<t) / d input features at s, `[T, T]` (norms)."""
    net = dist.network
    feats = tf.Variable(net.embed(x))
    with tf.GradientTape() as tape:
        shifted = tf.pad(feats, [[0, 0], [1, 0], [0, 0]])[:, :-1]
        params = net.forward_features(shifted, context, net.upsample_local(local))
        if net.likelihood == "categorical":
            lp = -tf.nn.sparse_softmax_cross_entropy_with_logits(x, params)
        else:
            lp = discretized_logistic_mixture_log_prob(
                x, *net.mixture_parameters(params), net.num_levels
            )
        lp = lp[0]
    jac = tape.jacobian(lp, feats)  # [T, 1, T, F]
    return tf.norm(jac[:, 0], axis=-1).numpy()


@pytest.mark.parametrize("which", ["cat", pytest.param("mix", marks=pytest.mark.slow)])
def test_autoregressive_by_gradients(which, cat_dist, mix_dist):
    dist = cat_dist if which == "cat" else mix_dist
    x = _seqs(1, seed=4)
    h, y = _conditions(1)
    kw = {} if which == "cat" else {"context": h, "local": y}
    jac = _step_jacobian(dist, x, **kw)
    rf = dist.network.receptive_field
    t_idx, s_idx = np.meshgrid(np.arange(LENGTH), np.arange(LENGTH), indexing="ij")
    # d log p_t / d x_s == 0 for s >= t and for s < t - receptive_field ...
    future = s_idx >= t_idx
    too_old = s_idx < t_idx - rf
    assert np.all(jac[future] == 0.0)
    assert np.all(jac[too_old] == 0.0)
    # ... and every lag 1..rf of the window is really read (at some step: a
    # dead ReLU of the tiny head can zero one step's gradient).
    for lag in range(1, rf + 1):
        assert np.any(jac[t_idx - s_idx == lag] > 0.0), lag


def test_log_prob_eager_function_and_xla_agree(mix_dist):
    x = _seqs(seed=5)
    h, y = _conditions()
    eager = mix_dist.log_prob(x, context=h, local_context=y)

    def fn(x, h, y):
        return mix_dist.log_prob(x, context=h, local_context=y)

    graph = tf.function(fn)(x, h, y)
    xla = tf.function(fn, jit_compile=True)(x, h, y)
    np.testing.assert_allclose(graph, eager, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(xla, eager, rtol=1e-5, atol=1e-4)
    assert np.all(np.isfinite(eager))


@pytest.mark.slow
def test_training_lowers_the_nll(cat_dist):
    dist = wavenet(
        LENGTH,
        num_levels=LEVELS,
        residual_channels=4,
        skip_channels=6,
        dilations=[1, 2],
        seed=3,
    )
    x = np.tile(np.arange(LENGTH) % LEVELS, (16, 1)).astype("int32")  # a ramp
    opt = keras.optimizers.Adam(0.05)

    @tf.function(jit_compile=True)
    def step(x):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(dist.log_prob(x))
        grads = tape.gradient(loss, dist.trainable_variables)
        opt.apply_gradients(zip(grads, dist.trainable_variables, strict=True))
        return loss

    losses = [float(step(x)) for _ in range(30)]
    assert losses[-1] < 0.3 * losses[0], losses


# -- generation -----------------------------------------------------------------
# XLA compiles each loop once per model and shape (seconds on 2 cores): the
# default run covers the categorical model, CI's slow run the conditioned
# logistic-mixture one.
WHICH = ["cat", pytest.param("mix", marks=pytest.mark.slow)]


@pytest.mark.parametrize("which", WHICH)
def test_generators_reproduce_the_parallel_pass(which, cat_dist, mix_dist):
    dist = cat_dist if which == "cat" else mix_dist
    x = _seqs(seed=6)
    h, y = _conditions()
    kw = {} if which == "cat" else {"context": h, "local_context": y}
    parallel = dist.network(x, **kw)
    for cached in (True, False):
        np.testing.assert_allclose(
            dist.teacher_forced_outputs(x, cached=cached, **kw), parallel, atol=1e-5
        )


@pytest.mark.parametrize("which", WHICH)
def test_cached_generation_equals_naive_sample_for_sample(which, cat_dist, mix_dist):
    dist = cat_dist if which == "cat" else mix_dist
    h, y = _conditions(2)
    kw = {} if which == "cat" else {"context": h, "local_context": y}
    cached = dist.sample(3, seed=11, **kw)
    naive = dist.sample(3, seed=11, cached=False, **kw)
    expected = (3, LENGTH) if which == "cat" else (3, 2, LENGTH)
    assert cached.shape == expected and cached.dtype == tf.int32
    np.testing.assert_array_equal(cached, naive)
    assert np.all((cached.numpy() >= 0) & (cached.numpy() < LEVELS))
    np.testing.assert_array_equal(dist.sample(3, seed=11, **kw), cached)  # same seed
    assert not np.array_equal(dist.sample(3, seed=12, **kw), cached)
    assert np.all(np.isfinite(dist.log_prob(cached, **kw)))


@pytest.mark.slow
def test_longer_samples_and_completion_keep_the_prompt(cat_dist):
    long = cat_dist.sample(2, seed=3, length=30)  # longer than the event
    assert long.shape == (2, 30)
    prompt = _seqs(2, length=5, seed=8)
    done = cat_dist.complete(prompt, seed=4)
    assert done.shape == (2, LENGTH)
    np.testing.assert_array_equal(done[:, :5], prompt)
    np.testing.assert_array_equal(done, cat_dist.complete(prompt, seed=4, cached=False))


@pytest.mark.slow
def test_empirical_first_step_matches_the_model():
    """The sampler draws from the model: step-0 frequencies vs its softmax."""
    dist = wavenet(
        1, num_levels=4, residual_channels=2, skip_channels=2, dilations=[1], seed=9
    )
    samples = dist.sample(4000, seed=5).numpy()[:, 0]
    probs = tf.nn.softmax(dist.network(np.zeros((1, 1), "int32"))[0, 0]).numpy()
    freq = np.bincount(samples, minlength=4) / 4000.0
    np.testing.assert_allclose(freq, probs, atol=0.03)


# -- bad input ------------------------------------------------------------------
def test_bad_values_and_shapes_raise_naming_the_argument(cat_dist, mix_dist):
    with pytest.raises(ValueError, match=r"`value` must have shape \[\.\.\., 12\]"):
        cat_dist.log_prob(np.zeros((2, LENGTH, 1), "int32"))  # a channel dim
    with pytest.raises(
        ValueError, match=r"`value` must have shape.*rank|got shape \[\]"
    ):
        cat_dist.log_prob(np.int32(3))
    with pytest.raises(ValueError, match=r"`value` must hold levels in 0\.\.7"):
        cat_dist.log_prob(np.full((1, LENGTH), 8, "int32"))
    with pytest.raises(ValueError, match=r"`value` must hold integer levels"):
        cat_dist.log_prob(np.full((1, LENGTH), 0.5, "float32"))
    x = _seqs(2)
    h, y = _conditions(2)
    with pytest.raises(ValueError, match=r"`context` is required"):
        mix_dist.log_prob(x, local_context=y)
    with pytest.raises(ValueError, match=r"`context` must have shape \[\.\.\., 3\]"):
        mix_dist.log_prob(x, context=h[:, :2], local_context=y)
    with pytest.raises(
        ValueError, match=r"`local_context` must have shape \[\.\.\., 4, 2\]"
    ):
        mix_dist.log_prob(x, context=h, local_context=y[:, :3])
    with pytest.raises(ValueError, match=r"`context` was given.*no global condition"):
        cat_dist.log_prob(x, context=h)
    with pytest.raises(ValueError, match=r"`local_context` was given"):
        cat_dist.sample(2, local_context=y, seed=1)
    with pytest.raises(ValueError, match=r"already has a bound context"):
        mix_dist.condition(h, local_context=y).log_prob(x, context=h)
    with pytest.raises(ValueError, match=r"`prompt` must have shape \[N, P\]"):
        cat_dist.complete(np.zeros(4, "int32"))
    with pytest.raises(ValueError, match=r"`length` must be >= the prompt"):
        cat_dist.complete(np.zeros((1, 5), "int32"), 3)
    with pytest.raises(ValueError, match=r"`sample_shape`"):
        cat_dist.sample(-1, seed=1)


def test_out_of_range_levels_in_graph_and_xla(cat_dist):
    bad = tf.constant(np.full((1, LENGTH), 9, "int32"))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"`value` must hold"):
        tf.function(lambda v: cat_dist.log_prob(v))(bad)
    lp = tf.function(lambda v: cat_dist.log_prob(v), jit_compile=True)(bad)
    assert np.isnan(lp.numpy()).all()  # never a finite number


def test_bad_constructor_arguments_raise():
    with pytest.raises(ValueError, match=r"`likelihood` must be one of"):
        WaveNet(likelihood="gaussian")
    with pytest.raises(ValueError, match=r"`dilations\[1\]` must be an integer >= 1"):
        WaveNet(dilations=[1, 0])
    with pytest.raises(
        ValueError, match=r"`local_channels` and `local_upsample_factor`"
    ):
        WaveNet(local_channels=3)
    with pytest.raises(ValueError, match=r"`upsampling` must be one of"):
        WaveNet(local_channels=3, local_upsample_factor=2, upsampling="linear")
    with pytest.raises(ValueError, match=r"`network` must be a tfp_flows.nn.WaveNet"):
        WaveNetDistribution("not a network")
    with pytest.raises(ValueError, match=r"`length` must be an integer >= 1"):
        wavenet(0)
    with pytest.raises(ValueError, match=r"`seed` must be a non-negative integer"):
        wavenet(4, seed=-1)


# -- builder --------------------------------------------------------------------
def test_builder_same_seed_same_weights_and_rebuilds_from_spec():
    kw = dict(num_levels=4, residual_channels=2, skip_channels=2, dilations=[1, 2])
    d1, d2 = wavenet(6, seed=3, **kw), wavenet(6, seed=3, **kw)
    for a, b in zip(d1.trainable_variables, d2.trainable_variables, strict=True):
        np.testing.assert_array_equal(a, b)
    d3 = wavenet(6, seed=4, **kw)
    assert not all(
        np.array_equal(a, b)
        for a, b in zip(d1.trainable_variables, d3.trainable_variables, strict=True)
    )
    rebuilt = specs.build_from_spec(specs.spec_of(d1))
    assert isinstance(rebuilt, WaveNetDistribution) and rebuilt.length == 6
    assert rebuilt.network.get_config() == d1.network.get_config()


def test_unfixed_length_takes_any_length_and_sample_needs_one():
    dist = wavenet(
        None, num_levels=4, residual_channels=2, skip_channels=2, dilations=[1], seed=0
    )
    assert dist.event_shape.as_list() == [None]
    assert dist.log_prob(np.zeros((2, 7), "int32")).shape == (2,)
    with pytest.raises(ValueError, match=r"`length` is required"):
        dist.sample(1, seed=1)
    assert dist.sample(1, seed=1, length=5).shape == (1, 5)


# -- signals --------------------------------------------------------------------
def test_mu_law_matches_the_formula_and_round_trips():
    x = np.linspace(-1, 1, 1001)
    q = fdata.mu_law_encode(x)
    assert q.dtype == np.int32 and q.min() == 0 and q.max() == 255
    y = np.sign(x) * np.log1p(255 * np.abs(x)) / np.log(256.0)
    np.testing.assert_array_equal(q, np.round((y + 1) * 127.5).astype(int))
    back = fdata.mu_law_decode(q)
    # Decoding inverts the compander at the level centres: error is at most
    # half a level in the companded domain.
    np.testing.assert_array_equal(fdata.mu_law_encode(back), q)
    # Half a level in the companded domain is 1 / mu there, i.e.
    # ln(1 + mu) (1 + mu |x|) / mu^2 in the signal: fine near 0, coarse at 1.
    bound = np.log(256.0) * (1 + 255 * np.maximum(np.abs(x), np.abs(back))) / 255**2
    assert np.all(np.abs(back - x) <= 1.01 * bound + 1e-7)
    assert np.max(np.abs(back - x)[np.abs(x) < 0.01]) < 2e-4
    with pytest.raises(ValueError, match=r"`x` must hold values in \[-1, 1\]"):
        fdata.mu_law_encode([1.5])
    with pytest.raises(ValueError, match=r"`levels` must hold levels in 0\.\.255"):
        fdata.mu_law_decode([256])


def test_ar_exact_likelihood_equals_the_dense_gaussian():
    phi, sigma, n = [0.6, -0.3], 0.7, 9
    x = fdata.ar_process(4, n, phi, noise_std=sigma, seed=2)
    gamma = fdata.ar_autocovariance(phi, sigma, n)
    cov = gamma[np.abs(np.arange(n)[:, None] - np.arange(n)[None, :])]
    dense = tfd.MultivariateNormalTriL(np.zeros(n), tf.linalg.cholesky(cov)).log_prob(x)
    np.testing.assert_allclose(
        fdata.ar_log_likelihood(x, phi, sigma), dense, rtol=1e-10
    )


def test_ar_process_has_the_stationary_autocovariance():
    phi, sigma = [0.5, 0.2], 1.0
    x = fdata.ar_process(20000, 6, phi, noise_std=sigma, seed=3)
    gamma = fdata.ar_autocovariance(phi, sigma, 6)
    for lag in range(6):
        emp = np.mean(x[:, 5 - lag] * x[:, 5])
        assert abs(emp - gamma[lag]) < 0.05 * gamma[0], (lag, emp, gamma[lag])
    emp0 = np.mean(x[:, 0] ** 2)  # stationary from the first step
    assert abs(emp0 - gamma[0]) < 0.05 * gamma[0]
    with pytest.raises(ValueError, match=r"non-stationary"):
        fdata.ar_process(1, 4, [1.1])


def test_synthetic_signals():
    x = fdata.sum_of_sines(160, [100.0, 300.0], sample_rate=1600.0)
    spectrum = np.abs(np.fft.rfft(x))
    assert sorted(np.argsort(spectrum)[-2:].tolist()) == [10, 30]
    c = fdata.chirp(16000, f0=100.0, f1=4000.0)
    zero_crossings = np.diff(np.sign(c[:8000])) != 0, np.diff(np.sign(c[8000:])) != 0
    assert zero_crossings[1].sum() > 2 * zero_crossings[0].sum()  # rising pitch


def test_the_shipped_speech_clip_loads_and_is_speech_like():
    x, rate = fdata.load_speech_clip()
    assert rate == 16000 and x.dtype == np.float32 and 2 * rate < x.size < 6 * rate
    assert np.abs(x).max() <= 1.0 and x.std() > 0.01
    q, _ = fdata.load_speech_clip(mu_law=True)
    assert q.dtype == np.int32 and q.min() >= 0 and q.max() <= 255
    assert len(np.unique(q)) > 100  # mu-law spreads the levels


# -- the known answer: NLL on AR data approaches the entropy rate ---------------
@pytest.mark.slow
def test_nll_on_ar_data_approaches_the_exact_likelihood():
    """A logistic-mixture WaveNet trained on uniformly quantized AR(2) data.

    With bins of width `delta` much smaller than the innovations' scale, the
    discrete NLL of the quantized data is `-log p(x) - T log(delta)` up to
    O(delta^2 / sigma^2); the gap to the exact Gaussian log-likelihood
    (averaged per step over fresh sequences) must fall below 0.08 nats,
    far below what ignoring the dependence costs (the marginal's excess
    entropy, 0.5 log(gamma_0 / sigma^2)).
    """
    phi, sigma, levels, length = [0.7, -0.2], 0.08, 256, 48
    gamma0 = fdata.ar_autocovariance(phi, sigma, 1)[0]
    lo, hi = -5 * np.sqrt(gamma0), 5 * np.sqrt(gamma0)
    delta = (hi - lo) / (levels - 1)

    def quantize(x):
        return np.clip(np.round((x - lo) / delta), 0, levels - 1).astype("int32")

    dist = wavenet(
        length,
        num_levels=levels,
        likelihood="logistic_mixture",
        num_mixtures=3,
        residual_channels=16,
        skip_channels=32,
        dilations=[1, 2],
        seed=0,
    )
    opt = keras.optimizers.Adam(3e-3)
    train = quantize(fdata.ar_process(4096, length, phi, noise_std=sigma, seed=0))

    @tf.function(jit_compile=True)
    def step(x):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(dist.log_prob(x)) / length
        grads = tape.gradient(loss, dist.trainable_variables)
        opt.apply_gradients(zip(grads, dist.trainable_variables, strict=True))
        return loss

    rng = np.random.RandomState(0)
    for _ in range(600):
        step(train[rng.randint(0, len(train), 64)])
    test_x = fdata.ar_process(1024, length, phi, noise_std=sigma, seed=1)
    model_nll = -np.mean(dist.log_prob(quantize(test_x))) / length
    exact_nll = -np.mean(fdata.ar_log_likelihood(test_x, phi, sigma)) / length - np.log(
        delta
    )
    gap = model_nll - exact_nll
    excess = 0.5 * np.log(gamma0 / sigma**2)
    assert -0.02 < gap < 0.08, (model_nll, exact_nll, gap)
    assert gap < 0.25 * excess
