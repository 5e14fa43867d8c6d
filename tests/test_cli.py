"""The `tfp-flows` command in its fast mode, end to end."""

import json

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows import cli
from tfp_flows import data as fdata
from tfp_flows.jobs import glow as glow_job


def test_default_job_fast_mode_writes_outputs_and_reloads(tmp_path):
    out = tmp_path / "out"
    assert (
        cli.main(["--fast", "--epochs", "1", "--no-progress", "--output-dir", str(out)])
        == 0
    )
    for name in (
        "samples.png",
        "training_curve.png",
        "metrics.json",
        "glow.weights.h5",
    ):
        assert (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    assert np.isfinite(metrics["test_bits_per_dim"]) and metrics["finite_samples"]
    flow = glow_job.load_trained(out)
    x = fdata.dequantize(fdata.load_digits("test")[:64], seed=[0, 1])
    bpd = float(tf.reduce_mean(fdata.bits_per_dim(flow.log_prob(x), 64)))
    np.testing.assert_allclose(bpd, metrics["test_bits_per_dim"], rtol=1e-4)


def test_cli_rejects_bad_options(capsys):
    with pytest.raises(SystemExit):
        cli.parse_args(["--epochs", "0"])
    assert "--epochs must be >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.parse_args(["--model", "nope"])
