"""MAF / IAF bijectors and the maf/iaf builders: TFP equality, XLA, conditioning,
Keras 3 weights, mask ensembles and bad input."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from tensorflow_probability.python.distributions.transformed_distribution import (
    _TransformedDistribution,
)

from tfp_flows.bijectors.maf import IAF
from tfp_flows.bijectors.maf import MAF
from tfp_flows.flows.autoregressive import ConditionalFlow
from tfp_flows.flows.autoregressive import iaf
from tfp_flows.flows.autoregressive import maf
from tfp_flows.flows.autoregressive import mask_ensemble_log_prob
from tfp_flows.internal.keras import as_tf_variable
from tfp_flows.internal.keras import keras
from tfp_flows.internal.keras import keras_layers_of
from tfp_flows.nn.made import MADE

tfb = tfp.bijectors
tfd = tfp.distributions
D = 4


def _made(**kwargs):
    kwargs.setdefault("hidden_units", [8, 8])
    kwargs.setdefault("output_initializer", "glorot_uniform")
    return MADE(D, **kwargs)


def _x(n=5, seed=0, d=D):
    return tf.constant(np.random.RandomState(seed).normal(size=(n, d)), tf.float32)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_maf_equals_tfp_masked_autoregressive_flow(dtype):
    made = _made(input_order="random", direct_connections=True, dtype=dtype)
    ours = MAF(made, log_scale_bound=None)
    theirs = tfb.MaskedAutoregressiveFlow(
        shift_and_log_scale_fn=lambda y: tuple(made.params(y))
    )
    x = tf.cast(_x(), dtype)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == "float32" else dict(rtol=1e-10)
    y = ours.forward(tf.identity(x))
    np.testing.assert_allclose(y, theirs.forward(tf.identity(x)), **tol)
    np.testing.assert_allclose(
        ours.inverse(tf.identity(y)), theirs.inverse(tf.identity(y)), **tol
    )
    for fn in ("forward_log_det_jacobian", "inverse_log_det_jacobian"):
        arg = x if fn.startswith("forward") else y
        np.testing.assert_allclose(
            getattr(ours, fn)(tf.identity(arg), event_ndims=1),
            getattr(theirs, fn)(tf.identity(arg), event_ndims=1),
            **tol,
        )
    # With the bound, TFP given the same (clamped) function agrees too.
    bounded = MAF(made, log_scale_bound=2.0)
    theirs_b = tfb.MaskedAutoregressiveFlow(
        shift_and_log_scale_fn=lambda y: (
            made.params(y)[0],
            2.0 * tf.tanh(made.params(y)[1] / 2.0),
        )
    )
    np.testing.assert_allclose(
        bounded.forward(tf.identity(x)), theirs_b.forward(tf.identity(x)), **tol
    )


def _rqs_of(raw, bound):
    """TFP's RationalQuadraticSpline from our raw spline parameters."""
    from tfp_flows.bijectors import _spline

    _, _, widths, _, heights, slopes = _spline._knots(raw, bound)
    return tfb.RationalQuadraticSpline(
        bin_widths=widths,
        bin_heights=heights,
        knot_slopes=slopes[..., 1:-1],
        range_min=-bound,
    )


@pytest.mark.parametrize("kind", ["maf", "iaf"])
def test_spline_transform_equals_tfp_with_its_rational_quadratic_spline(kind):
    """Spline MAF/IAF equal TFP's MaskedAutoregressiveFlow whose bijector_fn is
    tfb.RationalQuadraticSpline of the same MADE outputs (IAF: its inverse)."""
    bins, bound = 5, 1.5  # a small range, so that some inputs are in the tails
    made = _made(num_params=3 * bins - 1, dtype="float64", input_order="random")
    ours = (MAF if kind == "maf" else IAF)(
        made, transform="spline", num_bins=bins, spline_bound=bound
    )

    def bijector_fn(w, **_):
        rqs = _rqs_of(made(w), bound)
        # IAF: y = g(x; theta(x)) is the inverse of a MAF whose g is inverted.
        return rqs if kind == "maf" else tfb.Invert(rqs)

    theirs = tfb.MaskedAutoregressiveFlow(bijector_fn=bijector_fn)
    if kind == "iaf":
        theirs = tfb.Invert(theirs)
    x = tf.cast(_x(n=64) * 1.2, tf.float64)
    assert np.any(np.abs(x) > bound) and np.any(np.abs(x) < bound)
    y = ours.forward(tf.identity(x))
    np.testing.assert_allclose(y, theirs.forward(tf.identity(x)), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.inverse(tf.identity(y)), x, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        ours.forward_log_det_jacobian(tf.identity(x), event_ndims=1),
        theirs.forward_log_det_jacobian(tf.identity(x), event_ndims=1),
        rtol=1e-9,
        atol=1e-12,
    )
    np.testing.assert_allclose(
        ours.inverse_log_det_jacobian(tf.identity(y), event_ndims=1),
        theirs.inverse_log_det_jacobian(tf.identity(y), event_ndims=1),
        rtol=1e-9,
        atol=1e-12,
    )


def test_spline_identity_at_zero_identity_tails_and_extreme_parameters():
    from tfp_flows.bijectors._spline import rq_spline
    from tfp_flows.bijectors._spline import rq_spline_inverse

    x = tf.constant(np.linspace(-5.0, 5.0, 101), tf.float64)
    raw = tf.zeros([101, 3 * 4 - 1], tf.float64)
    for fn in (rq_spline, rq_spline_inverse):
        y, ld = fn(x, raw, 2.0)
        np.testing.assert_allclose(y, x, atol=1e-12)
        np.testing.assert_allclose(ld, 0.0, atol=1e-12)
    # Random parameters: outside [-B, B] the map is the identity (log-det 0),
    # inside it maps [-B, B] onto itself, increasing.
    raw = tf.constant(np.random.RandomState(0).normal(size=(101, 11)) * 3.0)
    y, ld = rq_spline(x, raw, 2.0)
    tails = np.abs(x.numpy()) >= 2.0
    np.testing.assert_array_equal(y.numpy()[tails], x.numpy()[tails])
    np.testing.assert_array_equal(ld.numpy()[tails], 0.0)
    assert np.all(np.abs(y.numpy()[~tails]) < 2.0)
    assert np.all(np.isfinite(ld.numpy()))
    # Extreme parameters (tiny bins, near-zero and huge knot derivatives)
    # stay finite and invertible: bins and derivatives are bounded below.
    raw = tf.constant(np.random.RandomState(1).normal(size=(101, 11)) * 40.0)
    y, ld = rq_spline(x, raw, 2.0)
    back, ld_back = rq_spline_inverse(y, raw, 2.0)
    assert np.all(np.isfinite(y.numpy())) and np.all(np.isfinite(ld.numpy()))
    np.testing.assert_allclose(back, x, atol=1e-6)
    np.testing.assert_allclose(ld_back, ld, atol=1e-6)


def test_spline_maf_trains_and_samples_under_xla():
    flow = maf(2, num_layers=2, hidden_units=[16], transform="spline", num_bins=4)
    layers = keras_layers_of(flow)
    weights = [w for layer in layers for w in layer.trainable_weights]
    assert all(int(layer.num_params) == 11 for layer in layers)
    lp = tf.function(flow.log_prob, jit_compile=True)
    x = _x(n=32, d=2)
    with tf.GradientTape() as tape:
        loss = -tf.reduce_mean(lp(x))
    grads = tape.gradient(loss, weights)
    assert all(g is not None and np.all(np.isfinite(g)) for g in grads)
    s = tf.function(lambda: flow.sample(7, seed=3), jit_compile=True)()
    assert s.shape == [7, 2] and np.all(np.isfinite(s))


def test_iaf_gated_update_is_kingmas_formula():
    made = _made(input_order="right-to-left")
    bij = IAF(made, gate_bias=1.0)
    x = _x()
    m, s = (t.numpy() for t in made.params(x))
    sigma = 1.0 / (1.0 + np.exp(-(s + 1.0)))
    expected = sigma * x.numpy() + (1.0 - sigma) * m
    np.testing.assert_allclose(
        bij.forward(tf.identity(x)), expected, rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        bij.forward_log_det_jacobian(tf.identity(x), event_ndims=1),
        np.log(sigma).sum(-1),
        rtol=1e-5,
        atol=1e-5,
    )
    # IAF(made) and MAF(made) are mutual inverses' mirror images: IAF.forward
    # reads parameters from its input, MAF.inverse from its input.
    maf_bij = MAF(made, transform="gated", gate_bias=1.0)
    np.testing.assert_allclose(
        maf_bij.forward(bij.forward(tf.identity(x))),
        maf_bij.forward(expected),
        rtol=1e-5,
    )


@pytest.fixture(scope="module")
def flows():
    return {
        "maf": maf(D, num_layers=3, hidden_units=[8, 8], seed=1),
        "iaf": iaf(D, num_layers=3, hidden_units=[8, 8], seed=2, permutation="random"),
    }


def _perturb(dist, scale=0.2, seed=0):
    rng = np.random.RandomState(seed)
    for v in dist.trainable_variables:
        v.assign_add(rng.normal(scale=scale, size=v.shape).astype(v.dtype.name))


def _maf_layers(dist):
    return [b for b in dist.bijector.bijectors[::-1] if isinstance(b, (MAF, IAF))]


@pytest.mark.parametrize("kind", ["maf", "iaf"])
@pytest.mark.parametrize("permutation", ["reverse", "random"])
def test_folded_permutations_equal_the_explicit_permute_stack(kind, permutation):
    """The builders fold the permutations between layers into the MADE
    orderings; the density must equal the stack with explicit `tfb.Permute`s
    whose MADEs (left-to-right) hold the relabelled weights."""
    d, k, seed = 5, 3, 3
    build = maf if kind == "maf" else iaf
    flow = build(d, num_layers=k, hidden_units=[12], permutation=permutation, seed=seed)
    _perturb(flow, scale=0.3, seed=4)
    assert not any(isinstance(b, tfb.Permute) for b in flow.bijector.bijectors)
    rng = np.random.default_rng(seed)
    perms = (
        [np.arange(d)[::-1]] * (k - 1)
        if permutation == "reverse"
        else [rng.permutation(d) for _ in range(k - 1)]
    )
    cls = MAF if kind == "maf" else IAF
    forward = []  # base -> data, with the permutations as bijectors
    assert len(_maf_layers(flow)) == k
    for i, layer in enumerate(_maf_layers(flow)):
        folded = layer.made
        # The folded MADE orders data coordinates; its coordinate pos[m] is
        # coordinate m of the layer's own (left-to-right) frame.
        pos = np.argsort(folded.input_order)
        own = MADE(d, num_params=2, hidden_units=[12], dtype="float32")
        own.kernels[0].assign(tf.gather(folded.kernels[0], pos))
        own.biases[0].assign(folded.biases[0])
        out = tf.reshape(folded.output_kernel, [12, 2, d])
        own.output_kernel.assign(tf.reshape(tf.gather(out, pos, axis=2), [12, 2 * d]))
        bias = tf.reshape(folded.output_bias, [2, d])
        own.output_bias.assign(tf.reshape(tf.gather(bias, pos, axis=1), [2 * d]))
        forward.append(
            cls(
                own,
                transform=layer._transform,
                log_scale_bound=layer._log_scale_bound,
                gate_bias=layer._gate_bias,
                name=f"ref_{i}",
            )
        )
        if i < k - 1:
            forward.append(tfb.Permute(perms[i].astype(np.int32)))
    ref = tfd.TransformedDistribution(flow.distribution, tfb.Chain(forward[::-1]))
    x = ref.sample(7, seed=5)
    np.testing.assert_allclose(
        flow.log_prob(tf.identity(x)),
        ref.log_prob(tf.identity(x)),
        rtol=1e-5,
        atol=1e-5,
    )


def test_permutations_stay_explicit_for_a_non_iid_base_or_random_orders():
    base = tfd.MultivariateNormalDiag(loc=tf.range(3.0), scale_diag=tf.ones(3))
    flow = maf(
        3, num_layers=2, hidden_units=[6], permutation="reverse", base_distribution=base
    )
    names = [b.name for b in flow.bijector.bijectors]
    assert "permute_base" in names  # one permutation of the base remains
    agnostic = maf(3, num_layers=2, hidden_units=[6], input_order="random", num_masks=2)
    assert any(isinstance(b, tfb.Permute) for b in agnostic.bijector.bijectors)


@pytest.mark.parametrize("kind", ["maf", "iaf"])
def test_log_prob_and_sample_under_xla_with_unknown_batch(flows, kind):
    flow = flows[kind]
    _perturb(flow, seed=1)
    x = _x(6)
    spec = tf.TensorSpec([None, D], tf.float32)
    eager_lp = flow.log_prob(tf.identity(x))
    xla_lp = tf.function(flow.log_prob, input_signature=[spec], jit_compile=True)(x)
    np.testing.assert_allclose(xla_lp, eager_lp, rtol=1e-4, atol=1e-4)

    @tf.function(input_signature=[tf.TensorSpec([], tf.int32)], jit_compile=True)
    def sample(n):
        z = flow.distribution.sample(n, seed=(1, 2))
        y = flow.bijector.forward(z)
        return z, y, flow.log_prob(tf.identity(y) + 0.0)

    z, y, lp = sample(tf.constant(7))
    assert y.shape == (7, D)
    np.testing.assert_allclose(flow.bijector.inverse(tf.identity(y)), z, atol=1e-4)
    base_lp = flow.distribution.log_prob(z) - flow.bijector.forward_log_det_jacobian(
        tf.identity(z), event_ndims=1
    )
    np.testing.assert_allclose(lp, base_lp, rtol=1e-4, atol=1e-4)


def test_keras_model_and_distribution_list_the_same_weights(flows):
    flow = flows["maf"]
    layers = keras_layers_of(flow)
    assert len(layers) == 3 and all(isinstance(layer, MADE) for layer in layers)

    class Wrapper(keras.Model):
        def __init__(self, layers):
            super().__init__()
            self.flow_layers = layers

    model = Wrapper(layers)
    keras_ids = {id(as_tf_variable(w)) for w in model.trainable_weights}
    dist_ids = {id(v) for v in flow.trainable_variables}
    assert keras_ids == dist_ids and len(dist_ids) == 3 * 6


def test_training_step_reduces_nll():
    flow = maf(2, num_layers=2, hidden_units=[16], seed=0)
    rng = np.random.RandomState(0)
    x1 = rng.normal(size=256)
    x = tf.constant(
        np.stack([x1, 0.5 * x1**2 + 0.1 * rng.normal(size=256)], 1), tf.float32
    )
    weights = [w for layer in keras_layers_of(flow) for w in layer.trainable_weights]
    opt = keras.optimizers.Adam(1e-2)

    @tf.function(jit_compile=True)
    def step(x):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(flow.log_prob(x))
        opt.apply_gradients(zip(tape.gradient(loss, weights), weights, strict=True))
        return loss

    first = float(step(x))
    for _ in range(60):
        last = float(step(tf.identity(x)))
    assert last < first - 0.5


def test_conditional_flow_routes_one_context_to_every_layer():
    flow = maf(D, num_layers=3, hidden_units=[8], context_size=2, seed=4)
    assert isinstance(flow, ConditionalFlow)
    _perturb(flow, seed=2)
    x = _x(5)
    c = tf.constant(np.random.RandomState(3).normal(size=(5, 2)), tf.float32)
    lp = flow.log_prob(tf.identity(x), context=c)
    cond = flow.condition(c)
    # TFP hands back its non-composite `_TransformedDistribution` base class.
    assert isinstance(cond, _TransformedDistribution)
    np.testing.assert_allclose(cond.log_prob(tf.identity(x)), lp, rtol=1e-6)
    # Every MAF layer of the conditioned chain is bound to the same context.
    bound = [b for b in cond.bijector.bijectors if isinstance(b, MAF)]
    assert len(bound) == 3 and all(b.context is bound[0].context for b in bound)
    # The context matters, row by row, and a single [C] context broadcasts.
    lp_other = flow.log_prob(tf.identity(x), context=c + 1.0)
    assert np.all(np.abs(lp_other - lp) > 1e-6)
    one = flow.log_prob(tf.identity(x), context=c[0])
    np.testing.assert_allclose(one[0], lp[0], rtol=1e-5)
    # Under XLA with unknown batch; samples invert back.
    spec = [tf.TensorSpec([None, D]), tf.TensorSpec([None, 2])]
    xla = tf.function(flow.log_prob, input_signature=spec, jit_compile=True)(x, c)
    np.testing.assert_allclose(xla, lp, rtol=1e-4, atol=1e-4)
    s = tf.function(
        lambda c: flow.sample(tf.shape(c)[0], context=c, seed=(3, 4)), jit_compile=True
    )(c)
    assert s.shape == (5, D)
    # Gradients reach the context kernels of every layer.
    with tf.GradientTape() as tape:
        loss = -tf.reduce_sum(flow.log_prob(tf.identity(x), context=c))
    grads = tape.gradient(loss, flow.trainable_variables)
    assert len(grads) == 3 * 5 and all(g is not None for g in grads)


def test_mask_ensemble_is_the_average_density():
    flow = maf(D, num_layers=2, hidden_units=[8], input_order="random", num_masks=3)
    _perturb(flow, seed=5)
    x = _x(4)
    mades = [m for m in keras_layers_of(flow) if isinstance(m, MADE)]
    per_mask = []
    for k in range(3):
        for m in mades:
            m.set_mask_index(k)
        per_mask.append(flow.log_prob(tf.identity(x)).numpy())
    for m in mades:
        m.set_mask_index(1)
    ens = mask_ensemble_log_prob(flow, x)
    expected = np.log(np.mean(np.exp(np.stack(per_mask)), axis=0))
    np.testing.assert_allclose(ens, expected, rtol=1e-5)
    assert all(int(m.mask_index.numpy()) == 1 for m in mades)  # restored
    assert np.ptp(np.stack(per_mask), axis=0).max() > 1e-4  # masks differ


def test_actnorm_between_layers():
    pytest.importorskip("tfp_flows.bijectors.act_norm")
    from tfp_flows.bijectors.act_norm import ActNorm

    flow = maf(D, num_layers=2, hidden_units=[8], actnorm=True)
    acts = [b for b in flow.bijector.bijectors if isinstance(b, ActNorm)]
    assert len(acts) == 2
    data = 3.0 + 2.0 * _x(64)
    z = data
    for b in flow.bijector.bijectors:  # chain list order is data -> base
        if isinstance(b, ActNorm):
            b.initialize(z)
        z = b.inverse(tf.identity(z))
    assert np.isfinite(flow.log_prob(tf.identity(data)).numpy()).all()
    assert len(flow.trainable_variables) == 2 * 4 + 2 * 2


# -- bad input -----------------------------------------------------------------
def test_event_size_mismatch(flows):
    with pytest.raises(
        ValueError,
        match=(
            r"maf.log_prob: argument `value`.* must have event shape "
            r"\[\.\.\., 4\].*\[3, 5\]"
        ),
    ):
        flows["maf"].log_prob(tf.zeros([3, 5]))
    with pytest.raises(
        ValueError, match=r"`x` must have event shape \[\.\.\., 4\].*\[2, 3\]"
    ):
        MAF(_made()).forward(tf.zeros([2, 3]))


def test_context_errors():
    flow = maf(D, num_layers=2, hidden_units=[8], context_size=2)
    with pytest.raises(ValueError, match="`context` is required"):
        flow.log_prob(tf.zeros([3, D]), context=None)
    with pytest.raises(
        ValueError, match=r"`context` must have shape \[\.\.\., 2\].*\[3, 3\]"
    ):
        flow.log_prob(tf.zeros([3, D]), context=tf.zeros([3, 3]))
    with pytest.raises(
        ValueError,
        match=r"`context` has batch shape \[4\] \(shape \[4, 2\]\).*"
        r"batch shape \[3\] of `x`",
    ):
        flow.log_prob(tf.zeros([3, D]), context=tf.zeros([4, 2]))
    with pytest.raises(ValueError, match="conditional.*no `context`"):
        MAF(_made(context_size=2)).inverse(tf.zeros([3, D]))
    with pytest.raises(ValueError, match="`context` was given.*unconditional"):
        MAF(_made(), context=tf.zeros([2]))
    with pytest.raises(ValueError, match="`context` was given for an unconditional"):
        mask_ensemble_log_prob(
            maf(D, num_layers=1, hidden_units=[8]),
            tf.zeros([1, D]),
            context=tf.zeros([2]),
        )


def test_nan_under_validate_args():
    flow = maf(D, num_layers=2, hidden_units=[8], validate_args=True)
    bad = tf.constant([[0.0, np.nan, 0.0, 0.0]])
    with pytest.raises(ValueError, match=r"`y` \(shape \[1, 4\]\) contains NaN"):
        flow.log_prob(bad)
    with pytest.raises(tf.errors.InvalidArgumentError, match="`y`.*NaN"):
        tf.function(flow.log_prob)(bad)
    bij = IAF(_made(), validate_args=True)
    with pytest.raises(ValueError, match=r"`x` \(shape \[1, 4\]\) contains NaN"):
        bij.forward(bad)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(transform="quadratic"), "transform"),
        (dict(log_scale_bound=0.0), "log_scale_bound"),
        (
            dict(transform="spline"),
            r"num_params=23 \(for the 'spline' transform with num_bins=8\); "
            "got num_params=2",
        ),
        (
            dict(transform="spline", num_bins=1),
            r"`num_bins` must be an int >= 2; got 1",
        ),
        (dict(transform="spline", spline_bound=-1.0), "`spline_bound` must be > 0"),
    ],
)
def test_bad_bijector_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MAF(_made(), **kwargs)
    with pytest.raises(ValueError, match="num_params=2"):
        MAF(_made(num_params=3))
    with pytest.raises(TypeError, match="MADE"):
        MAF(lambda x: x)


def test_bad_builder_arguments():
    with pytest.raises(ValueError, match="permutation"):
        maf(D, permutation="shuffle")
    with pytest.raises(ValueError, match="num_layers"):
        iaf(D, num_layers=0)
    with pytest.raises(ValueError, match=r"event shape \[4\].*\[3\]"):
        maf(D, base_distribution=tfd.MultivariateNormalDiag(tf.zeros(3)))
