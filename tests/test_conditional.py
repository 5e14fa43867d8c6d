"""Issue #14: one conditioning protocol; conditional couplings, Glow, RealNVP.

The protocol (`tfp_flows.internal.conditioning`): a family has
`context_shape`, `context_dtype`, `condition(c)` (an ordinary distribution)
and `log_prob(x, context=c)` / `sample(n, context=c, seed=s)` equal to
conditioning first. The registry (`tests/registry_conditional.py`) and the
Keras zoo (`tests/flow_zoo_conditional.py`) check the conditional parts like
every other; here: the protocol itself, broadcasting, ActNorm initialization
with contexts, the Keras glue with image contexts from upstream layers, and
bad input.
"""

import pathlib
import re

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows import bijectors as fb
from tfp_flows import data as fdata
from tfp_flows import flows
from tfp_flows.bijectors import ActNorm
from tfp_flows.internal.keras import keras
from tfp_flows.layers import FlowLogProb
from tfp_flows.layers import FlowModel
from tfp_flows.layers import FlowSample
from tfp_flows.layers import negative_log_likelihood


@pytest.fixture(scope="module")
def digits():
    x, y = fdata.load_digits("train", with_labels=True)
    x = fdata.dequantize(x[:64], seed=[0, 0])
    return x, tf.one_hot(y[:64], 10), tf.nn.avg_pool2d(x, 2, 2, "VALID")


def _perturbed(family, scale=0.05):
    rng = np.random.RandomState(0)
    for v in family.trainable_variables:
        v.assign_add(tf.constant(rng.normal(scale=scale, size=v.shape), v.dtype))
    return family


@pytest.fixture(scope="module")
def families():
    return {
        "glow": _perturbed(
            flows.glow(
                (8, 8, 1), num_levels=2, num_steps=1, hidden_units=8, context_size=10
            )
        ),
        "glow_image": _perturbed(
            flows.glow(
                (8, 8, 1),
                num_levels=2,
                num_steps=1,
                hidden_units=8,
                context_shape=(4, 4, 1),
            )
        ),
        "realnvp": _perturbed(
            flows.realnvp(
                (8, 8, 1),
                num_levels=2,
                num_couplings=1,
                hidden_units=8,
                context_size=10,
            )
        ),
        "coupling_flow": _perturbed(
            flows.coupling_flow(4, num_layers=2, hidden_units=8, context_size=3)
        ),
    }


def _data(name, digits):
    x, onehot, low = digits
    if name == "glow_image":
        return x[:6], low[:6]
    if name == "coupling_flow":
        return tf.reshape(x[:6], [6, 64])[:, :4], tf.reshape(low[:6], [6, 16])[:, :3]
    return x[:6], onehot[:6]


NAMES = ["glow", "glow_image", "realnvp", "coupling_flow"]


@pytest.mark.parametrize("name", NAMES)
def test_log_prob_and_sample_equal_conditioning_first(name, families, digits):
    family = families[name]
    x, ctx = _data(name, digits)
    dist = family.condition(ctx)
    assert dist.event_shape == family.event_shape
    np.testing.assert_allclose(
        family.log_prob(x, context=ctx), dist.log_prob(tf.identity(x)), rtol=1e-6
    )
    s1 = family.sample(6, context=ctx, seed=[1, 2])
    s2 = family.condition(ctx).sample(6, seed=[1, 2])
    np.testing.assert_array_equal(s1, s2)
    # The context matters: another context, another density.
    other = family.log_prob(x, context=tf.reverse(ctx, [0]) + 0.5)
    assert np.max(np.abs(other - family.log_prob(x, context=ctx))) > 1e-3


@pytest.mark.parametrize("name", ["glow", "glow_image", "coupling_flow"])
def test_one_context_broadcasts_over_the_batch(name, families, digits):
    family = families[name]
    x, ctx = _data(name, digits)
    one = ctx[2]
    tiled = tf.broadcast_to(one, ctx.shape)
    np.testing.assert_allclose(
        family.log_prob(x, context=one), family.log_prob(x, context=tiled), rtol=1e-5
    )
    # And a batch of contexts against extra leading dims of x.
    xx = tf.stack([x, x])
    lp = family.log_prob(xx, context=ctx)
    assert lp.shape == (2, 6)
    np.testing.assert_allclose(lp[1], family.log_prob(x, context=ctx), rtol=1e-5)


def test_sampling_round_trips_through_the_conditioned_bijector(families, digits):
    family = families["glow_image"]
    _, ctx = _data("glow_image", digits)
    dist = family.condition(ctx)
    z = dist.distribution.sample(6, seed=[3, 3])
    x = dist.bijector.forward(z)
    z_back = dist.bijector.inverse(tf.identity(x))
    np.testing.assert_allclose(z_back, z, atol=1e-4)


def test_act_norm_init_sees_data_and_contexts_as_in_training(digits):
    x, onehot, _ = digits

    def initialized(context):
        keras.utils.set_random_seed(0)
        family = _perturbed(
            flows.glow(
                (8, 8, 1), num_levels=1, num_steps=2, hidden_units=8, context_size=10
            ),
            scale=0.3,
        )
        model = FlowModel(family)
        z = model.initialize_act_norms((x, context))
        acts = [m for m in family.submodules if isinstance(m, ActNorm)]
        assert acts and all(bool(a.is_initialized) for a in acts)
        return family, z, acts

    family, z, acts = initialized(onehot)
    # The latent returned is the conditioned flow's.
    np.testing.assert_allclose(
        z, family.condition(onehot).bijector.inverse(tf.identity(x)), atol=1e-4
    )
    # The second ActNorm comes after a conditional coupling: its statistics
    # depend on the contexts the data came with.
    _, _, acts_other = initialized(tf.roll(onehot, 7, axis=0))
    np.testing.assert_allclose(acts[0].shift, acts_other[0].shift, atol=1e-6)
    assert np.max(np.abs(acts[1].shift.numpy() - acts_other[1].shift.numpy())) > 1e-4
    # Also as a function of the package.
    fresh = flows.glow(
        (8, 8, 1), num_levels=1, num_steps=1, hidden_units=8, context_size=10
    )
    flows.initialize_act_norms(fresh, x, context=onehot)
    assert all(
        bool(a.is_initialized) for a in fresh.submodules if isinstance(a, ActNorm)
    )


@pytest.mark.slow  # traces a conditional Glow in Keras (or twice to export)
def test_functional_model_with_image_context_from_upstream_layers(digits):
    """Super-resolution: the context is a Conv2D of the 4x4 image, trained too."""
    x, _, low = digits
    family = flows.glow(
        (8, 8, 1), num_levels=2, num_steps=1, hidden_units=8, context_shape=(4, 4, 2)
    )
    x_in = keras.Input((8, 8, 1), name="x")
    low_in = keras.Input((4, 4, 1), name="low")
    context = keras.layers.Conv2D(2, 1, name="context_net")(low_in)
    log_prob = FlowLogProb(family)([x_in, context])
    model = keras.Model([x_in, low_in], log_prob)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=negative_log_likelihood)
    assert len(model.trainable_weights) == len(family.trainable_variables) + 2
    before = model.get_layer("context_net").kernel.numpy().copy()
    hist = model.fit([x, low], tf.zeros([64]), batch_size=32, epochs=3, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    after = model.get_layer("context_net").kernel.numpy()
    assert np.max(np.abs(after - before)) > 0  # gradients reach the upstream net
    sampler = keras.Sequential(
        [keras.Input((4, 4, 1)), model.get_layer("context_net"), FlowSample(family)]
    )
    assert sampler.predict(low[:3], verbose=0).shape == (3, 8, 8, 1)


@pytest.mark.slow  # traces a conditional Glow in Keras (or twice to export)
def test_keras_file_and_saved_model_of_an_image_conditional_glow(digits, tmp_path):
    from tfp_flows.saving import export_saved_model
    from tfp_flows.saving import load_flow_model

    x, _, low = digits
    family = _perturbed(
        flows.glow(
            (8, 8, 1),
            num_levels=2,
            num_steps=1,
            hidden_units=8,
            context_shape=(4, 4, 1),
            seed=2,
        )
    )
    model = FlowModel(family)
    model.save(tmp_path / "sr.keras")
    loaded = load_flow_model(tmp_path / "sr.keras", expected_builder="glow")
    np.testing.assert_array_equal(
        loaded.flow.log_prob(x[:4], context=low[:4]),
        family.log_prob(x[:4], context=low[:4]),
    )
    export_saved_model(model, tmp_path / "sr")
    served = tf.saved_model.load(str(tmp_path / "sr"))
    lp = served.signatures["log_prob"](x=x[:4], context=low[:4])["log_prob"]
    np.testing.assert_allclose(lp, family.log_prob(x[:4], context=low[:4]), atol=1e-4)
    s = served.signatures["sample"](context=low[:3], seed=tf.constant([1, 2]))
    assert s["samples"].shape == (3, 8, 8, 1)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"`context` must have"):
        served.signatures["log_prob"](x=x[:2], context=tf.zeros([2, 2, 2, 1]))


def test_fit_evaluate_predict_on_a_dataset_of_x_context_pairs():
    rng = np.random.RandomState(0)
    c = rng.normal(size=(64, 3)).astype("float32")
    x = (c[:, :1] + 0.1 * rng.normal(size=(64, 4))).astype("float32")
    family = flows.coupling_flow(4, num_layers=2, hidden_units=8, context_size=3)
    model = FlowModel(family)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    ds = tf.data.Dataset.from_tensor_slices((x, c)).batch(16)
    hist = model.fit(ds, epochs=3, verbose=0, shuffle=False)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    nll = model.evaluate(ds, verbose=0)
    np.testing.assert_allclose(nll, -np.mean(family.log_prob(x, context=c)), rtol=1e-4)
    assert model.predict(ds, verbose=0).shape == (64,)


def test_keras_glue_has_no_per_type_special_cases():
    """FlowModel, FlowLogProb/FlowSample and the exporters use the protocol."""
    root = pathlib.Path(__file__).parent.parent / "tfp_flows"
    files = [
        root / "layers" / "flow_layers.py",
        root / "layers" / "flow_model.py",
        root / "saving" / "saved_model.py",
        root / "saving" / "keras_file.py",
        root / "internal" / "flow_inputs.py",
    ]
    pattern = re.compile(
        r"hasattr\(|PixelRNNDistribution|ConditionalFlow|FlowPosterior|"
        r"isinstance\([^)]*(MAF|IAF)\b"
    )
    found = [
        f"{f.name}:{i + 1}: {line.strip()}"
        for f in files
        for i, line in enumerate(f.read_text().splitlines())
        if pattern.search(line)
    ]
    assert not found, found


# -- bad input -------------------------------------------------------------------
def test_missing_context_raises(families, digits):
    family = families["glow"]
    x, _ = _data("glow", digits)
    with pytest.raises(ValueError, match=r"`context` is required.*\[\.\.\., 10\]"):
        family.log_prob(x)
    with pytest.raises(ValueError, match=r"`context` is required"):
        family.sample(2, seed=[1, 1])
    with pytest.raises(ValueError, match=r"pass inputs as \(x, context\)"):
        FlowModel(family)(x)
    with pytest.raises(ValueError, match=r"pass the batch's contexts"):
        flows.initialize_act_norms(family, x)
    coupling = fb.AffineCoupling(2, hidden_units=4, context_shape=(3,))
    with pytest.raises(ValueError, match=r"no `context` was bound.*with_context"):
        coupling.forward(tf.zeros([1, 4, 4, 2]))


def test_context_to_an_unconditional_flow_raises(digits):
    x, onehot, _ = digits
    glow = flows.glow((8, 8, 1), num_levels=1, num_steps=1, hidden_units=8)
    with pytest.raises(ValueError, match=r"`context` was given.*unconditional"):
        glow.log_prob(x[:2], context=onehot[:2])
    with pytest.raises(ValueError, match=r"`context` was given.*unconditional"):
        glow.sample(2, context=onehot[:2], seed=[1, 1])
    with pytest.raises(ValueError, match=r"`context` was given.*unconditional"):
        FlowModel(glow)((x[:2], onehot[:2]))
    with pytest.raises(ValueError, match=r"`context` was given.*unconditional"):
        flows.initialize_act_norms(glow, x[:8], context=onehot[:8])
    with pytest.raises(ValueError, match=r"`context` was given.*unconditional"):
        fb.AffineCoupling(2, hidden_units=4).with_context(tf.zeros([3]))


def test_context_of_wrong_size_dtype_or_batch_raises(families, digits):
    family = families["glow"]
    x, ctx = _data("glow", digits)
    with pytest.raises(ValueError, match=r"must have shape \[\.\.\., 10\]; got shape"):
        family.log_prob(x, context=ctx[:, :7])
    with pytest.raises(ValueError, match=r"dtype float64.*tf.cast\(context"):
        family.log_prob(x, context=tf.cast(ctx, tf.float64))
    with pytest.raises(ValueError, match=r"floating-point.*got dtype int32"):
        family.log_prob(x, context=tf.zeros([6, 10], tf.int32))
    with pytest.raises(
        ValueError, match=r"batch shape \[4\].*does not broadcast.*batch shape \[6\]"
    ):
        family.log_prob(x, context=ctx[:4])
    image = families["glow_image"]
    with pytest.raises(ValueError, match=r"must have shape \[\.\.\., 4, 4, 1\]"):
        image.log_prob(x, context=tf.zeros([6, 10]))
    with pytest.raises(ValueError, match=r"`context_size`.*`context_shape`.*not both"):
        flows.glow((8, 8, 1), context_size=3, context_shape=(4, 4, 1))
    with pytest.raises(ValueError, match=r"`context_shape` must be \(C,\) or"):
        flows.realnvp((8, 8, 1), context_shape=(4, 4))
    with pytest.raises(ValueError, match=r"vector coupling.*\(C,\)"):
        fb.AffineCoupling(4, event_ndims=1, context_shape=(2, 2, 1))
