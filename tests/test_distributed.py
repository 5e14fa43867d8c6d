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
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
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
    shifts = [m.shift.numpy().tolist() for m in flow.submodules if isinstance(m, ActNorm)]
    hist = model.fit(x, batch_size=32, epochs=2, shuffle=False, verbose=0)
    weights = [w.numpy().ravel() for w in model.trainable_weights]
    return {"loss": hist.history["loss"], "shifts": shifts,
            "weights": np.concatenate(weights).tolist(),
            "replicas": strategy.num_replicas_in_sync}

one = train(tf.distribute.OneDeviceStrategy("/cpu:0"))
two = train(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
print(json.dumps({"one": one, "two": two}))
"""


@pytest.mark.slow
def test_mirrored_strategy_matches_single_device():
    run = subprocess.run([sys.executable, "-c", _MIRRORED], capture_output=True,
                         text=True, timeout=900, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    one, two = out["one"], out["two"]
    assert one["replicas"] == 1 and two["replicas"] == 2
    for a, b in zip(one["shifts"], two["shifts"]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(two["weights"], one["weights"], rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_multi_worker_example_runs_with_two_local_workers(tmp_path):
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "multi_worker_train.py"),
         "--launch-local", "2", "--epochs", "1", "--num-images", "128",
         "--output-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=900, cwd=ROOT,
    )
    assert run.returncode == 0, (run.stdout[-2000:], run.stderr[-3000:])
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["num_workers"] == 2 and np.isfinite(history["loss"]).all()
    assert (tmp_path / "glow.weights.h5").stat().st_size > 0
