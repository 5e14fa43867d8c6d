"""`tfp-flows train --model maf --data table.csv`, then `tfp-flows eval`.

The table is drawn from a 3-D Gaussian with a known covariance, so the best
possible test NLL is its differential entropy
`H = 0.5 * log det(2 pi e Sigma)` (in the data's units: the job standardizes
the columns and `eval` adds back `sum(-log std)`). A MAF with affine layers
represents any Gaussian exactly, so the trained model's test NLL must come
close to `H`.

Tolerance 0.2 nats: the test mean of `-log p` over 500 rows has a sampling
standard error of `sqrt(D / 2) / sqrt(500) = 0.055` nats (for a Gaussian,
`-log p` has variance `D / 2`), so 0.2 is 3.6 standard errors; fitting error
is below that (measured: 3.328 against H = 3.341). Dropping the
standardizer's `log_det` would be off by `|sum(log std)|` = 0.42 nats, more
than the tolerance.
"""

import json
import os

import numpy as np
import pytest

from tfp_flows import cli

_COV_CHOLESKY = np.array([[1.0, 0.0, 0.0], [0.5, 0.8, 0.0], [-0.3, 0.4, 0.5]])
_MEAN = np.array([1.0, -2.0, 3.0])
_TOLERANCE = 0.2


def _entropy():
    cov = _COV_CHOLESKY @ _COV_CHOLESKY.T
    return 0.5 * np.log(np.linalg.det(2 * np.pi * np.e * cov))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("tabular")
    rng = np.random.RandomState(0)
    x = rng.randn(5000, 3) @ _COV_CHOLESKY.T + _MEAN
    table = root / "table.csv"
    np.savetxt(table, x, delimiter=",", header="a,b,c", comments="")
    out = root / "out"
    argv = ["train", "--model", "maf", "--data", str(table), "--epochs", "15"]
    argv += ["--layers", "2", "--hidden", "32", "--no-progress"]
    # The whole training split (4000 rows): tests/conftest.py sets
    # TFP_FLOWS_FAST=1, whose smoke runs train on 256 rows only.
    saved = os.environ.get("TFP_FLOWS_FAST")
    os.environ["TFP_FLOWS_FAST"] = "0"
    try:
        assert cli.main(argv + ["--output-dir", str(out)]) == 0
    finally:
        if saved is None:
            del os.environ["TFP_FLOWS_FAST"]
        else:
            os.environ["TFP_FLOWS_FAST"] = saved
    return table, out


def test_eval_reports_test_nats_near_the_known_entropy(trained, capsys):
    table, out = trained
    capsys.readouterr()
    argv = ["eval", str(out / "maf.keras"), "--data", str(table), "--split", "test"]
    assert cli.main(argv) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("test NLL: ") and "nats per row" in line, line
    nats = float(line.split()[2])
    assert abs(nats - _entropy()) < _TOLERANCE, (nats, _entropy())
    metrics = json.loads((out / "metrics.json").read_text())
    np.testing.assert_allclose(metrics["test_nll_nats"], nats, atol=1e-4)


def test_standardizer_is_saved_beside_the_model(trained):
    from tfp_flows.data.tabular import Standardizer

    _, out = trained
    std = Standardizer.load(out / "maf.standardizer.json")
    # Statistics of the training split: close to the generating mean and scale.
    np.testing.assert_allclose(std.mean, _MEAN, atol=0.1)
    sd = np.sqrt(np.diag(_COV_CHOLESKY @ _COV_CHOLESKY.T))
    np.testing.assert_allclose(std.std, sd, rtol=0.1)
    meta = json.loads((out / "maf.job.json").read_text())
    assert meta["kind"] == "table" and meta["standardizer"] == "maf.standardizer.json"


def test_samples_come_back_in_data_units(trained, tmp_path):
    _, out = trained
    path = tmp_path / "s.npy"
    argv = ["sample", str(out / "maf.keras"), "-n", "2000", "--out", str(path)]
    assert cli.main(argv) == 0
    s = np.load(path)
    assert s.shape == (2000, 3)
    # Mean within ~5 standard errors of the generating mean (sd <= 1, n = 2000).
    np.testing.assert_allclose(s.mean(0), _MEAN, atol=0.12)


def test_a_png_of_table_samples_is_refused(trained, tmp_path, capsys):
    _, out = trained
    argv = ["sample", str(out / "maf.keras"), "--out", str(tmp_path / "s.png")]
    assert cli.main(argv) == 2
    assert "use --out samples.npy" in capsys.readouterr().err
