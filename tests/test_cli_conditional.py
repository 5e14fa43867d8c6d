"""`tfp-flows train --conditional`: a class-conditional Glow on the digits."""

import json

import numpy as np
import pytest

from tfp_flows import cli


@pytest.mark.slow
def test_conditional_glow_trains_samples_per_class_and_evaluates(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["train", "--conditional", "--fast", "--epochs", "1", "--no-progress"]
    assert cli.main(argv + ["--output-dir", str(out)]) == 0
    meta = json.loads((out / "glow.job.json").read_text())
    assert meta["conditional"] and meta["num_classes"] == 10
    assert meta["config"]["context_size"] == 10
    from tfp_flows.layers import load_flow_model

    model = load_flow_model(out / "glow.keras", expected_builder="glow")
    ctx = np.eye(10, dtype=np.float32)[[3, 3]]
    assert model.sample(2, context=ctx, seed=1).shape == (2, 8, 8, 1)
    assert (out / "samples.png").stat().st_size > 0
    capsys.readouterr()
    assert cli.main(["eval", str(out / "glow.keras")]) == 0
    bpd = float(capsys.readouterr().out.split("bits/dim:")[1].split()[0])
    metrics = json.loads((out / "metrics.json").read_text())
    np.testing.assert_allclose(bpd, metrics["test_bits_per_dim"], atol=2e-4)
    npy = tmp_path / "s.npy"
    # One row per class: 20 samples = 10 classes x 2.
    assert (
        cli.main(["sample", str(out / "glow.keras"), "-n", "20", "--out", str(npy)])
        == 0
    )
    assert np.load(npy).shape == (20, 8, 8, 1)


def test_conditional_is_only_for_glow_and_realnvp(capsys):
    with pytest.raises(SystemExit) as e:
        cli.parse_args(["--model", "maf", "--conditional"])
    assert e.value.code == 2
    assert "--conditional applies to --model glow, realnvp" in capsys.readouterr().err
