"""The `tfp-flows` command: the default job, parsing, errors, help, logging."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from tfp_flows import cli
from tfp_flows.jobs.options import EvalOptions
from tfp_flows.jobs.options import JobOptions
from tfp_flows.jobs.options import SampleOptions

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """`tfp-flows --fast --epochs 2` (no subcommand: train the digits Glow)."""
    out = tmp_path_factory.mktemp("default") / "out"
    argv = ["--fast", "--epochs", "2", "--no-progress", "--output-dir", str(out)]
    assert cli.main(argv) == 0
    return out


def test_default_job_writes_the_outputs_the_readme_names(default_run):
    out = default_run
    for name in (
        "samples.png",
        "training_curve.png",
        "metrics.json",
        "glow.weights.h5",
        "glow.keras",
        "glow.job.json",
        "history.csv",
        "run.json",
    ):
        assert (out / name).stat().st_size > 0, name
    assert not (out / "backup").exists()  # deleted once the run finished
    metrics = json.loads((out / "metrics.json").read_text())
    assert np.isfinite(metrics["test_bits_per_dim"]) and metrics["finite_samples"]
    assert metrics["epochs"] == 2
    rows = (out / "history.csv").read_text().splitlines()
    assert rows[0].split(",") == [
        "epoch",
        "bits_per_dim",
        "loss",
        "val_bits_per_dim",
        "val_loss",
    ]
    assert [r.split(",")[0] for r in rows[1:]] == ["0", "1"]


def test_saved_keras_file_reloads_and_eval_reproduces_test_bits_per_dim(
    default_run, capsys
):
    from tfp_flows.layers import load_flow_model

    model = load_flow_model(default_run / "glow.keras", expected_builder="glow")
    assert model.flow.event_shape == (8, 8, 1)
    metrics = json.loads((default_run / "metrics.json").read_text())
    capsys.readouterr()
    # The job evaluates the test split with dequantization seed [seed, 1] = [0, 1],
    # the same noise `eval --seed 0` uses: the reloaded model gives the same number.
    assert cli.main(["eval", str(default_run / "glow.keras")]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("test bits/dim: ")
    bpd = float(line.split()[2])
    np.testing.assert_allclose(bpd, metrics["test_bits_per_dim"], rtol=0, atol=2e-4)


def test_sample_writes_a_png_grid_and_npy_levels(default_run, tmp_path):
    png, npy = tmp_path / "grid.png", tmp_path / "s.npy"
    model = str(default_run / "glow.keras")
    assert (
        cli.main(
            ["sample", model, "-n", "12", "--temperature", "0.7", "--out", str(png)]
        )
        == 0
    )
    import matplotlib.image

    assert matplotlib.image.imread(png).ndim == 3
    assert cli.main(["sample", model, "-n", "5", "--out", str(npy)]) == 0
    levels = np.load(npy)
    assert levels.shape == (5, 8, 8, 1) and levels.dtype == np.uint8
    assert levels.max() <= 16  # the digits' 17 levels


def test_no_subcommand_means_train_with_the_old_options():
    opts = cli.parse_args(["--model", "maf", "--epochs", "3", "--fast"])
    assert isinstance(opts, JobOptions)
    assert (opts.model, opts.epochs, opts.fast) == ("maf", 3, True)
    assert cli.parse_args([]) == cli.parse_args(["train"])
    assert cli.parse_args([]).model == "glow"


def test_train_options_are_parsed():
    opts = cli.parse_args(
        "train --data rgb_patches --image-size 16x24 --n-bits 5 --lr 3e-4 "
        "--validation-split 0.2 --levels 3 --steps 2 --width 16 --patience 4 "
        "--seed 7 --conditional --batch-size 8 --verbose".split()
    )
    assert opts.image_size == (16, 24) and opts.n_bits == 5 and opts.lr == 3e-4
    assert (opts.levels, opts.steps, opts.width) == (3, 2, 16)
    assert opts.validation_split == 0.2 and opts.patience == 4 and opts.seed == 7
    assert opts.conditional and opts.verbose and not opts.tensorboard
    assert opts.dtype_policy is None
    mixed = cli.parse_args(["--dtype-policy", "mixed_bfloat16"])
    assert mixed.dtype_policy == "mixed_bfloat16"
    maf = cli.parse_args("--model maf --layers 3 --hidden 32,16".split())
    assert maf.layers == 3 and maf.hidden == (32, 16)
    assert cli.parse_args(["--image-size", "32"]).image_size == (32, 32)
    assert not cli.parse_args([]).keep_hidden
    assert cli.parse_args("--steps 16 --keep-hidden".split()).keep_hidden


def test_keep_hidden_builds_a_reversible_glow_that_keeps_activations():
    from tfp_flows.flows.glow import STACKED_FROM_STEPS
    from tfp_flows.jobs.glow import _config
    from tfp_flows.jobs.glow import build_flow

    assert cli._STACKED_FROM_STEPS == STACKED_FROM_STEPS
    opts = cli.parse_args("--steps 8 --width 4 --keep-hidden --fast".split())
    config = _config(opts, None)  # the data are read only with --conditional
    assert config["stacked_steps"] and config["reversible"] and config["keep_hidden"]
    steps = build_flow("glow", config, 0).bijector.levels[0].steps[0]
    assert steps.reversible and steps.keep_hidden


def test_sample_and_eval_options_are_parsed(default_run):
    model = str(default_run / "glow.keras")
    s = cli.parse_args(["sample", model, "-n", "9", "--temperature", "0.5"])
    assert isinstance(s, SampleOptions) and (s.n, s.temperature) == (9, 0.5)
    e = cli.parse_args(["eval", model, "--split", "validation"])
    assert isinstance(e, EvalOptions) and e.split == "validation" and e.data is None


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--epochs", "0"], "--epochs: must be >= 1; got 0"),
        (["--model", "nope"], "invalid choice: 'nope'"),
        (["--image-size", "0x4"], "--image-size: expected SIZE or HxW"),
        (["--n-bits", "9", "--data", "rgb_patches"], "--n-bits: must be in 1..8"),
        (["--n-bits", "5"], "--n-bits reduces 8-bit images; the digits have 17"),
        (["--model", "maf", "--levels", "2"], "--levels applies to --model glow"),
        (["--model", "glow", "--hidden", "8"], "--hidden applies to --model maf"),
        (
            ["--model", "maf", "--dtype-policy", "mixed_float16"],
            "--dtype-policy applies to --model glow",
        ),
        (["--dtype-policy", "bfloat16"], "invalid choice: 'bfloat16'"),
        (["--keep-hidden"], "--keep-hidden needs stacked steps: --steps 8"),
        (["--steps", "4", "--keep-hidden"], "got --steps 4"),
        (["--model", "maf", "--keep-hidden"], "--keep-hidden applies to --model glow"),
        (["--validation-split", "0.95"], "--validation-split: must be in [0, 0.9)"),
        (["--patience", "2", "--validation-split", "0"], "--patience needs"),
        (["--data", "no_such_set"], "--data 'no_such_set': no such data set name"),
        (["--data", "missing/imgs"], "no such file or folder"),
        (["--model", "vae", "--data", "rgb_patches"], "binarized digits only"),
        (["sample", "missing.keras"], "'missing.keras': no such file"),
        (["eval", "missing.keras"], "'missing.keras': no such file"),
        (["sample", __file__], "must be a .keras file"),
    ],
)
def test_bad_options_exit_2_with_one_line(argv, expected, capsys):
    with pytest.raises(SystemExit) as e:
        cli.parse_args(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tfp-flows"), err
    assert expected in err, err


def test_a_table_for_an_image_model_is_an_error(tmp_path, capsys):
    table = tmp_path / "t.csv"
    table.write_text("1,2\n3,4\n")
    with pytest.raises(SystemExit) as e:
        cli.parse_args(["--data", str(table)])
    assert e.value.code == 2
    assert "is a table; --model glow needs images" in capsys.readouterr().err


def test_errors_found_while_running_exit_2_with_one_line(tmp_path, capsys):
    empty = tmp_path / "no_images"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an image")
    assert cli.main(["--data", str(empty), "--output-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tfp-flows: error: ") and err.count("\n") == 1, err
    assert str(empty) in err
    fake = tmp_path / "fake.keras"
    fake.write_text("not a model")
    assert cli.main(["sample", str(fake)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fake.job.json" in err, err
    (tmp_path / "fake.job.json").write_text(json.dumps({"job": "glow"}))
    assert cli.main(["eval", str(fake)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a .keras archive" in err, err


def test_resume_without_an_interrupted_run_is_an_error(tmp_path, capsys):
    assert cli.main(["train", "--resume", "--output-dir", str(tmp_path)]) == 2
    assert "--resume: no interrupted run in" in capsys.readouterr().err


def _command(*args, timeout=60):
    """`python -X importtime -m tfp_flows ARGS` (the command) in a fresh process."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tfp_flows", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
    )


def _imported(stderr):
    """Module names from `-X importtime` lines ("import time: us | us | name")."""
    return {
        ln.split("|")[-1].strip()
        for ln in stderr.splitlines()
        if ln.startswith("import time:") and "|" in ln
    }


@pytest.mark.parametrize(
    "argv, code",
    [
        (["--help"], 0),
        (["train", "--help"], 0),
        (["sample", "--help"], 0),
        (["eval", "--help"], 0),
        (["--model", "nope"], 2),
        (["sample", "missing.keras"], 2),
    ],
)
def test_help_and_argument_errors_do_not_import_tensorflow(argv, code):
    r = _command(*argv)
    assert r.returncode == code, r.stderr
    modules = _imported(r.stderr)
    assert "tfp_flows.cli" in modules
    assert not {"tensorflow", "numpy", "keras"} & modules
    assert "Traceback" not in r.stderr
    if code == 0:
        assert "usage: tfp-flows" in r.stdout
    else:
        errors = [ln for ln in r.stderr.splitlines() if not ln.startswith("import ")]
        assert len(errors) == 1 and "error:" in errors[0], errors


def test_tensorboard_without_the_package_is_an_argument_error(capsys, monkeypatch):
    # CI installs tensorboard (the `test` extra); hide it as a user without it
    # would see it.
    import importlib.util

    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        if name == "tensorboard":
            return None
        return real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(SystemExit) as e:
        cli.parse_args(["--tensorboard"])
    assert e.value.code == 2
    assert "--tensorboard needs the tensorboard package" in capsys.readouterr().err


def test_tensorflow_log_lines_are_recognized():
    tf_lines = [
        "WARNING: All log messages before absl::InitializeLog() is called are "
        "written to STDERR",
        "I0000 00:00:1796169806.274600    5845 port.cc:153] oneDNN custom operations",
        "E0000 00:00:1796171612.303483   27564 cuda_platform.cc:52] failed call",
        "I1202 01:02:03.456789 123 tensorflow/core/x/y.cc:10] Compiled cluster",
        "To enable the following instructions: AVX2 FMA, in other operations, ...",
    ]
    other = [
        "Traceback (most recent call last):",
        "UserWarning: something the user should see",
        "tfp-flows: error: --data 'x': no such file",
        "I0000 is not a log line",
    ]
    assert all(cli._TF_LOG_LINE.match(ln) for ln in tf_lines)
    assert not any(cli._TF_LOG_LINE.match(ln) for ln in other)


def test_filter_keeps_every_line_that_is_not_a_tensorflow_log_line():
    text = (
        "I0000 00:00:1796169806.274600    5845 port.cc:153] oneDNN custom\n"
        "a real error line\n"
        "WARNING: All log messages before absl::InitializeLog() is called are\n"
        "UserWarning: keep me\n"
    )
    kept = cli._drop_tf_log_lines(text)
    assert kept == "a real error line\nUserWarning: keep me\n"


@pytest.mark.slow
def test_tensorflow_start_up_lines_are_silenced_by_default(default_run):
    model = str(default_run / "glow.keras")
    quiet = subprocess.run(
        [sys.executable, "-m", "tfp_flows", "eval", model],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        cwd=ROOT,
        timeout=600,
    )
    assert quiet.returncode == 0, quiet.stderr
    assert "test bits/dim:" in quiet.stdout
    assert "I0000" not in quiet.stderr, quiet.stderr
    assert "absl::InitializeLog" not in quiet.stderr, quiet.stderr
