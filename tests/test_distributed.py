"""Training under tf.distribute: MirroredStrategy on two logical CPUs matches
single-device training; the multi-worker example runs with two local workers."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).parent.parent

_MIRRORED = r"""
import json, sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
two = [tf.config.LogicalDeviceConfiguration()] * 2
tf.config.set_logical_device_configuration(cpu, two)
tf.config.experimental.enable_op_determinism()
import keras
from tfp_flows import data, flows, layers
from tfp_flows.bijectors import ActNorm

x = data.dequantize(data.load_digits("train")[:64], seed=[0, 0])

def train(strategy):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        flow = flows.glow((8, 8, 1), num_levels=2, num_steps=1, hidden_units=8, seed=1)
        model = layers.FlowModel(flow)
        model.compile(optimizer=keras.optimizers.SGD(1e-2))
    model.initialize_act_norms(x)  # statistics of the global batch
    acts = [m for m in flow.submodules if isinstance(m, ActNorm)]
    shifts = [m.shift.numpy().tolist() for m in acts]
    hist = model.fit(x, batch_size=32, epochs=2, shuffle=False, verbose=0)
    weights = [w.numpy().ravel() for w in model.trainable_weights]
    return {"loss": hist.history["loss"], "shifts": shifts,
            "weights": np.concatenate(weights).tolist(),
            "replicas": strategy.num_replicas_in_sync}

one = train(tf.distribute.OneDeviceStrategy("/cpu:0"))
two = train(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
print(json.dumps({"one": one, "two": two}))
"""


_SHARDED_INIT = r"""
import json
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
two = [tf.config.LogicalDeviceConfiguration()] * 2
tf.config.set_logical_device_configuration(cpu, two)
from tfp_flows import data, flows, layers
from tfp_flows.bijectors import ActNorm
from tfp_flows.internal.keras import as_tf_variable

x = data.dequantize(data.load_digits("train")[:64], seed=[0, 0])

def build():
    return flows.glow((8, 8, 1), num_levels=2, num_steps=1, hidden_units=8, seed=1)

def stats(flow):
    acts = [m for m in flow.submodules if isinstance(m, ActNorm)]
    return [
        np.concatenate([a.shift.numpy(), a.log_scale.numpy()]).tolist() for a in acts
    ]

ref = build()
flows.initialize_act_norms(ref, x)             # one device, the whole batch
half = build()
flows.initialize_act_norms(half, x[:32])       # one shard alone
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    flow = build()
    model = layers.FlowModel(flow)
z = model.initialize_act_norms(tf.data.Dataset.from_tensor_slices(x).batch(64))
replicas = []
for a in [m for m in flow.submodules if isinstance(m, ActNorm)]:
    per = [strategy.experimental_local_results(as_tf_variable(w))
           for w in (a.shift, a.log_scale, a._initialized)]
    replicas.append([[np.concatenate([s.numpy(), l.numpy()]).tolist(), bool(i.numpy())]
                     for s, l, i in zip(*per)])
print(json.dumps({"ref": stats(ref), "half": stats(half), "replicas": replicas,
                  "z_shape": list(z.shape),
                  "log_prob": [flow.log_prob(x).numpy().tolist(),
                               ref.log_prob(x).numpy().tolist()]}))
"""


@pytest.mark.slow
def test_act_norm_init_per_replica_shard_gives_the_global_statistics():
    """Under MirroredStrategy each replica initializes from its half of the
    batch; the all-reduce gives both the statistics of the whole batch."""
    run = subprocess.run(
        [sys.executable, "-c", _SHARDED_INIT],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["z_shape"] == [64, 8, 8, 1]
    assert len(out["replicas"]) == len(out["ref"]) > 0
    for ref, replicas in zip(out["ref"], out["replicas"], strict=True):
        assert len(replicas) == 2
        for values, initialized in replicas:
            assert initialized
            np.testing.assert_allclose(values, ref, rtol=1e-5, atol=1e-5)
    # One shard alone gives other statistics: the reduction is what matched.
    assert not np.allclose(out["half"][0], out["ref"][0], atol=1e-3)
    np.testing.assert_allclose(
        out["log_prob"][0], out["log_prob"][1], rtol=1e-4, atol=1e-3
    )


@pytest.mark.slow
def test_mirrored_strategy_matches_single_device():
    run = subprocess.run(
        [sys.executable, "-c", _MIRRORED],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    one, two = out["one"], out["two"]
    assert one["replicas"] == 1 and two["replicas"] == 2
    for a, b in zip(one["shifts"], two["shifts"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(two["weights"], one["weights"], rtol=1e-4, atol=1e-5)


def _run_example(out, *launch):
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "multi_worker_train.py"),
            *launch,
            "--epochs",
            "2",
            "--num-images",
            "128",
            "--deterministic",
            "--output-dir",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    assert run.returncode == 0, (run.stdout[-2000:], run.stderr[-3000:])
    history = json.loads((out / "history.json").read_text())
    return history, np.load(out / "final_weights.npy")


@pytest.mark.slow
def test_multi_worker_example_matches_one_device(tmp_path):
    """Two local workers (`--launch-local 2 --epochs 2`) train as one device does.

    The launcher hands the workers `--epochs 2` (it once dropped every argument
    equal to the worker count, leaving a bare `--epochs`): both runs must report
    two epochs, the same losses and the same final weights.
    """
    two, w_two = _run_example(tmp_path / "two", "--launch-local", "2")
    one, w_one = _run_example(tmp_path / "one")
    assert two["num_workers"] == 2 and one["num_workers"] == 1
    assert len(two["loss"]) == len(one["loss"]) == 2
    assert np.isfinite(two["loss"]).all()
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=1e-4, atol=1e-4)
    # The weights agree to 1e-4 but for a few elements: Adam's normalized
    # step moves a weight by about the learning rate whatever its gradient's
    # size, so a weight whose gradient is near Adam's epsilon (1e-7) turns
    # rounding differences of the all-reduce into differences of up to
    # 2 * lr per step (seen on an AVX2 CPU: 2 of 3,452 weights, 4e-4 apart).
    # A wrong distributed step would move most weights apart, not a few.
    lr, steps = 1e-3, 2 * (128 // 64)
    off = ~np.isclose(w_two, w_one, rtol=1e-4, atol=1e-4)
    assert off.mean() <= 0.005, (int(off.sum()), off.size)
    assert np.abs(w_two - w_one).max() <= 2 * lr * steps
    assert (tmp_path / "two" / "glow.weights.h5").stat().st_size > 0


_VAE_LOSS_SCALING = r"""
import json
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
two = [tf.config.LogicalDeviceConfiguration()] * 2
tf.config.set_logical_device_configuration(cpu, two)
from tfp_flows.vae import VAE

elbo = tf.constant([-3.0, -5.0])
out = {}
for name, strategy in [
    ("one", tf.distribute.OneDeviceStrategy("/cpu:0")),
    ("two", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])),
]:
    with strategy.scope():
        model = VAE(4, latent_size=2, hidden_units=[4])
    per_replica = strategy.run(lambda: model.compute_loss(y_pred=elbo))
    out[name] = [float(v) for v in strategy.experimental_local_results(per_replica)]
print(json.dumps(out))
"""


def test_vae_loss_is_scaled_per_replica():
    """`VAE.compute_loss` follows FlowModel's convention: each replica's loss is
    divided by the replica count, so summed gradients are the global mean's."""
    run = subprocess.run(
        [sys.executable, "-c", _VAE_LOSS_SCALING],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(out["one"], [4.0])
    np.testing.assert_allclose(out["two"], [2.0, 2.0])
