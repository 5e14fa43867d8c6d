"""GlowSteps: K Glow steps as one loop over stacked weights, reversible gradients."""

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows import bijectors as fb
from tfp_flows import data as fdata
from tfp_flows import flows
from tfp_flows.internal.keras import keras
from tfp_flows.layers import FlowModel

C, K, WIDTH = 4, 3, 8


@pytest.fixture(scope="module")
def digits():
    return fdata.dequantize(fdata.load_digits("train")[:64], seed=[0, 0])


def _step_values(step, lu):
    """`{GlowSteps weight name: GlowStep weight}` for one `GlowStep`."""
    act, conv, cpl = step.parts
    out = {"shift": act.shift, "log_scale": act.log_scale}
    if lu:
        out.update(
            permutation=conv._permutation,
            sign_s=conv._sign_s,
            lower_upper=conv._lower_upper,
            log_s=conv._log_s,
        )
    else:
        out.update(kernel=conv._kernel)
    first, second, last = cpl.network.layers
    out.update(
        kernel_1=first.kernel,
        bias_1=first.bias,
        kernel_2=second.kernel,
        bias_2=second.bias,
        kernel_3=last.conv.kernel,
        bias_3=last.conv.bias,
        logs=last.logs,
    )
    return out


def _pair(lu=True, additive=False, dtype=tf.float32, reversible=True, seed=10):
    """K perturbed `GlowStep`s and a `GlowSteps` holding copies of their weights."""
    steps = [
        fb.GlowStep(
            C,
            hidden_units=WIDTH,
            lu_decomposition=lu,
            additive=additive,
            seed=seed + 2 * k,
            dtype=dtype,
            name=f"ref_{k}",
        )
        for k in range(K)
    ]
    stacked = fb.GlowSteps(
        C,
        K,
        hidden_units=WIDTH,
        lu_decomposition=lu,
        additive=additive,
        reversible=reversible,
        seed=seed,
        dtype=dtype,
    )
    rng = np.random.RandomState(0)
    weights = stacked.stacked_weights
    for k, step in enumerate(steps):
        for name, w in _step_values(step, lu).items():
            if w.trainable:  # move every trainable weight off its init
                w.assign(w.numpy() + 0.1 * rng.normal(size=w.shape))
            target = weights[name]
            target.assign(tf.tensor_scatter_nd_update(target, [[k]], [w.value]))
    return steps, stacked


def _chain_inverse(steps, x):
    ldj = 0.0
    for step in steps:
        y = step.inverse(x)
        ldj += step.inverse_log_det_jacobian(x, event_ndims=3)
        x = y
    return x, ldj


@pytest.mark.parametrize("lu", [True, False])
@pytest.mark.parametrize("additive", [False, True])
def test_glow_steps_match_k_glow_steps(lu, additive):
    fresh_steps = [
        fb.GlowStep(C, hidden_units=WIDTH, lu_decomposition=lu, seed=10 + 2 * k)
        for k in range(K)
    ]
    fresh = fb.GlowSteps(C, K, hidden_units=WIDTH, lu_decomposition=lu, seed=10)
    # Same initial weights as K GlowSteps seeded seed + 2k.
    for k, step in enumerate(fresh_steps):
        for name, w in _step_values(step, lu).items():
            np.testing.assert_array_equal(
                fresh.stacked_weights[name].numpy()[k], w.numpy(), err_msg=name
            )
    steps, stacked = _pair(lu=lu, additive=additive)
    x = tf.random.stateless_normal([3, 4, 4, C], seed=[1, 2])
    z_ref, ildj_ref = _chain_inverse(steps, x)
    z = stacked.inverse(tf.identity(x))
    ildj = stacked.inverse_log_det_jacobian(tf.identity(x), event_ndims=3)
    np.testing.assert_allclose(z, z_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ildj, ildj_ref, rtol=1e-5, atol=1e-4)
    assert float(tf.reduce_max(tf.abs(ildj))) > 0.1 or additive
    # Sampling direction: the reference runs the steps' forwards in reverse.
    u = tf.random.stateless_normal([3, 4, 4, C], seed=[3, 4])
    x_ref, fldj_ref = u, 0.0
    for step in reversed(steps):
        fldj_ref += step.forward_log_det_jacobian(x_ref, event_ndims=3)
        x_ref = step.forward(x_ref)
    np.testing.assert_allclose(stacked.forward(tf.identity(u)), x_ref, atol=1e-5)
    np.testing.assert_allclose(
        stacked.forward_log_det_jacobian(tf.identity(u), event_ndims=3),
        fldj_ref,
        rtol=1e-5,
        atol=1e-4,
    )


def test_extra_batch_dims_and_trainable_variables():
    _, stacked = _pair()
    x = tf.random.stateless_normal([2, 3, 4, 4, C], seed=[5, 6])
    z = stacked.inverse(x)
    assert z.shape == x.shape
    assert stacked.inverse_log_det_jacobian(x, event_ndims=3).shape == (2, 3)
    np.testing.assert_allclose(
        stacked.inverse(x[1]), z[1], atol=1e-5
    )  # rows are independent
    # As many trainable weights as one GlowStep (11), each with a K axis.
    assert len(stacked.trainable_variables) == 11
    assert all(v.shape[0] == K for v in stacked.trainable_variables)


def _grads(stacked, x, direction, weight):
    with tf.GradientTape() as tape:
        tape.watch(x)
        if direction == "inverse":
            out = stacked.inverse(x)
            ldj = stacked.inverse_log_det_jacobian(x, event_ndims=3)
        else:
            out = stacked.forward(x)
            ldj = stacked.forward_log_det_jacobian(x, event_ndims=3)
        loss = tf.reduce_sum(weight * out) + tf.reduce_sum(ldj * [1.0, -2.0, 0.5])
    return tape.gradient(loss, [x] + list(stacked.trainable_variables))


@pytest.mark.parametrize(
    "dtype, rtol", [(tf.float32, 1e-5), (tf.float64, 1e-11)], ids=["f32", "f64"]
)
@pytest.mark.parametrize("direction", ["inverse", "forward"])
@pytest.mark.parametrize("lu, additive", [(True, False), (False, True)])
def test_reversible_gradients_equal_plain_autodiff(
    dtype, rtol, direction, lu, additive
):
    _, stacked = _pair(lu=lu, additive=additive, dtype=dtype)
    x = tf.random.stateless_normal([3, 4, 4, C], seed=[7, 8], dtype=dtype)
    weight = tf.random.stateless_normal([3, 4, 4, C], seed=[9, 9], dtype=dtype)
    assert stacked.reversible
    rev = _grads(stacked, tf.identity(x), direction, tf.cast(weight, dtype))
    stacked._reversible = False  # the same weights, plain autodiff of the loop
    plain = _grads(stacked, tf.identity(x), direction, tf.cast(weight, dtype))
    assert len(rev) == len(plain) == 1 + len(stacked.trainable_variables)
    for i, (a, b) in enumerate(zip(rev, plain, strict=True)):
        scale = float(tf.reduce_max(tf.abs(b)))
        assert scale > 0.0, i  # every weight gets a gradient
        err = float(tf.reduce_max(tf.abs(a - b)))
        assert err <= rtol * scale, (i, err, scale)


def test_reversible_gradient_under_xla_with_unknown_batch():
    _, stacked = _pair()
    x = tf.random.stateless_normal([5, 4, 4, C], seed=[1, 1])
    variables = list(stacked.trainable_variables)

    def loss_grads(x):
        with tf.GradientTape() as tape:
            z = stacked.inverse(x)
            loss = tf.reduce_sum(z**2) - tf.reduce_sum(
                stacked.inverse_log_det_jacobian(x, event_ndims=3)
            )
        return [loss] + tape.gradient(loss, variables)

    spec = [tf.TensorSpec([None, 4, 4, C], tf.float32)]
    xla = tf.function(loss_grads, input_signature=spec, jit_compile=True)
    got = xla(tf.identity(x))
    want = loss_grads(tf.identity(x))
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_stacked_glow_equals_glow_after_act_norm_init(digits):
    kw = dict(num_levels=2, num_steps=2, hidden_units=8, seed=3)
    ref = flows.glow((8, 8, 1), **kw)
    new = flows.glow((8, 8, 1), stacked_steps=True, **kw)
    # 2 levels x 11 stacked weights (2 x 2 x 11 unstacked) + split prior 3 + top 2.
    assert len(new.trainable_variables) == 27 and len(ref.trainable_variables) == 49
    sizes = [
        sum(int(np.prod(v.shape)) for v in f.trainable_variables) for f in (new, ref)
    ]
    assert sizes[0] == sizes[1]
    x = digits[:8]
    np.testing.assert_allclose(
        new.log_prob(tf.identity(x)), ref.log_prob(tf.identity(x)), rtol=1e-5
    )
    # Data-dependent init: step k from the output of steps 0..k-1.
    flows.initialize_act_norms(ref, digits)
    flows.initialize_act_norms(new, digits)
    acts = [m for m in new.submodules if isinstance(m, fb.ActNorm)]
    assert len(acts) == 4 and all(bool(a.is_initialized) for a in acts)
    for level in new.bijector.levels:
        assert bool(tf.reduce_all(level.steps[0].is_initialized))
    for name in ("shift", "log_scale"):
        ref_value = getattr(ref.bijector.levels[1].steps[1].act_norm, name).numpy()
        new_value = getattr(new.bijector.levels[1].steps[0].act_norms[1], name)
        np.testing.assert_allclose(new_value, ref_value, rtol=1e-4, atol=1e-5)
    assert np.abs(ref_value).max() > 1e-2  # log_scale: not the identity
    np.testing.assert_allclose(
        new.log_prob(tf.identity(x)), ref.log_prob(tf.identity(x)), rtol=1e-5
    )


def test_stacked_glow_rejects_a_context():
    with pytest.raises(ValueError, match="stacked_steps=True.*context_size=10"):
        flows.glow((8, 8, 1), stacked_steps=True, context_size=10)


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="num_channels"):
        fb.GlowSteps(1, 2)
    with pytest.raises(ValueError, match="num_steps"):
        fb.GlowSteps(4, 0)
    _, stacked = _pair()
    with pytest.raises(ValueError, match=r"GlowSteps.*`y`"):
        stacked.inverse(tf.zeros([2, 4, 4, C + 1]))


@pytest.mark.slow  # fit, .keras round trip and a SavedModel export (~20 s)
def test_fit_keras_file_and_saved_model(digits, tmp_path):
    from tfp_flows.saving import export_saved_model

    flow = flows.glow(
        (8, 8, 1), num_levels=2, num_steps=2, hidden_units=8, seed=1, stacked_steps=True
    )
    model = FlowModel(flow)
    model.initialize_act_norms(digits)
    assert len(model.trainable_weights) == len(flow.trainable_variables)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=False)
    hist = model.fit(digits, batch_size=16, epochs=3, verbose=0, shuffle=False)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    model.save(tmp_path / "g.keras")
    loaded = keras.saving.load_model(tmp_path / "g.keras", safe_mode=True)
    x = digits[:4]
    np.testing.assert_allclose(
        loaded.flow.log_prob(tf.identity(x)), flow.log_prob(tf.identity(x)), rtol=1e-6
    )
    export_saved_model(model, tmp_path / "sm")
    served = tf.saved_model.load(str(tmp_path / "sm"))
    lp = served.signatures["log_prob"](x=x)["log_prob"]
    np.testing.assert_allclose(lp, flow.log_prob(tf.identity(x)), rtol=1e-5)


_SHARDED = r"""
import json
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from tfp_flows import data, flows, layers
from tfp_flows.internal.keras import as_tf_variable
x = data.dequantize(data.load_digits("train")[:64], seed=[0, 0])
def build():
    return flows.glow((8, 8, 1), num_levels=2, num_steps=2, hidden_units=8, seed=1,
                      stacked_steps=True)
def stats(flow):
    return [np.concatenate([lv.steps[0]._shift.numpy().ravel(),
                            lv.steps[0]._log_scale.numpy().ravel()]).tolist()
            for lv in flow.bijector.levels]
ref, half = build(), build()
flows.initialize_act_norms(ref, x)
flows.initialize_act_norms(half, x[:32])
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    flow = build()
    model = layers.FlowModel(flow)
model.initialize_act_norms(tf.data.Dataset.from_tensor_slices(x).batch(64))
replicas = [
    [np.concatenate([s.numpy().ravel(), l.numpy().ravel()]).tolist()
     for s, l in zip(*[strategy.experimental_local_results(as_tf_variable(w))
                       for w in (lv.steps[0]._shift, lv.steps[0]._log_scale)])]
    for lv in flow.bijector.levels]
print(json.dumps({"ref": stats(ref), "half": stats(half), "replicas": replicas}))
"""


@pytest.mark.slow  # a subprocess with two logical CPUs (~1 min)
def test_sharded_act_norm_init_under_mirrored_strategy():
    import json
    import pathlib
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-c", _SHARDED],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=pathlib.Path(__file__).parent.parent,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    for ref, replicas in zip(out["ref"], out["replicas"], strict=True):
        assert len(replicas) == 2  # every replica got the global statistics
        for values in replicas:
            np.testing.assert_allclose(values, ref, rtol=1e-5, atol=1e-5)
    assert not np.allclose(out["half"][0], out["ref"][0], atol=1e-3)


@pytest.mark.slow
def test_the_glow_job_stacks_levels_of_eight_steps_or_more(tmp_path, capsys):
    import json

    from tfp_flows import cli
    from tfp_flows.saving import load_flow_model

    out = tmp_path / "out"
    argv = ["--fast", "--no-progress", "--steps", "8", "--output-dir", str(out)]
    assert cli.main(argv) == 0
    assert "first training step took" in capsys.readouterr().out
    model = load_flow_model(out / "glow.keras")
    spec = json.loads(model.get_config()["flow_spec"])
    assert spec["arguments"]["stacked_steps"] is True
    assert spec["arguments"]["num_steps"] == 8
    assert not model.jit_compile  # XLA would unroll the loop
    levels = model.flow.bijector.levels
    assert len(levels) == 2  # the fast job's levels, one GlowSteps each
    assert all(
        len(lv.steps) == 1 and isinstance(lv.steps[0], fb.GlowSteps) for lv in levels
    )
