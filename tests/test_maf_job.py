"""The `tfp-flows --model maf/iaf` job in its fast mode."""

import json

import pytest

from tfp_flows import cli


@pytest.mark.parametrize("model", ["maf", pytest.param("iaf", marks=pytest.mark.slow)])
def test_job_writes_metrics_weights_and_pngs(model, tmp_path):
    out = tmp_path / model
    assert (
        cli.main(
            ["--model", model, "--fast", "--no-progress", "--output-dir", str(out)]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == model
    assert 0.0 < metrics["test_bits_per_dim"] < 10.0
    for name in ("samples.png", "curve.png", f"{model}.weights.h5"):
        assert (out / name).stat().st_size > 0
