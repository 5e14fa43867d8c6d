"""The Glow-at-scale benchmark script runs, and its models are the same size.

CI does not install torch, so the ours-only path (`--no-reference`) is what CI
exercises; the normflows comparison runs where torch and normflows are
importable. Nothing here asserts a time.
"""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "glow_at_scale.py")
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))


def _run(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
        [sys.executable, SCRIPT, "--configs", "tiny-b8", "--reps", "2", *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def _row(out, name):
    rows = [ln for ln in out.splitlines() if ln.startswith(f"| {name} ")]
    assert len(rows) == 1, out
    return [c.strip() for c in rows[0].strip("|").split("|")]


@pytest.mark.slow
def test_ours_only_path_prints_a_row_with_every_column():
    out = _run("--no-reference", "--jit", "0", "--default-only")
    assert "machine:" in out and "tiny-b8" in out
    cells = _row(out, "ours jit=False")
    assert "failed" not in cells[1], cells
    params, first, step, gflops, lp, rss = cells[1:7]
    assert int(params.replace(",", "")) > 0
    assert float(first) > 0 and float(lp.replace(",", "")) > 0
    assert step.endswith("]") and float(rss.replace(",", "")) > 100
    assert float(gflops) >= 0
    overhead, init, step_memory = cells[-3:]
    assert float(overhead) <= float(first) and float(init) > 0
    assert float(step_memory.replace(",", "")) >= 0  # peak >= RSS at its start
    assert "| normflows" not in out and "ratio [spread]" in out


@pytest.mark.slow
def test_with_normflows_prints_ratios():
    pytest.importorskip("torch")
    pytest.importorskip("normflows")
    out = _run("--jit", "0", "--default-only")
    ref = _row(out, "normflows (eager)")
    assert "failed" not in ref[1], ref
    ours = _row(out, "ours jit=False")
    assert "x [" in ours[7] and ours[7].split()[-1] in ("faster", "slower", "par")
    assert "params ours jit=False / normflows effective" in out


@pytest.mark.parametrize(
    "config", ["small-b64", pytest.param("3x8x256-b16", marks=pytest.mark.slow)]
)
def test_parameter_counts_match_normflows_within_one_percent(config):
    pytest.importorskip("torch")
    nf = pytest.importorskip("normflows")
    import glow_at_scale as bench
    import numpy as np

    from tfp_flows.flows import glow

    cfg = bench.CONFIGS[config]
    ours = glow(
        cfg["shape"],
        num_levels=cfg["levels"],
        num_steps=cfg["steps"],
        hidden_units=cfg["width"],
    )
    n_ours = sum(int(np.prod(v.shape)) for v in ours.trainable_variables)
    ref = bench.normflows_glow(cfg)
    raw = sum(p.numel() for p in ref.parameters() if p.requires_grad)
    convs = [m for m in ref.modules() if isinstance(m, nf.flows.Invertible1x1Conv)]
    assert len(convs) == cfg["levels"] * cfg["steps"]
    unused = sum(m.num_channels * (m.num_channels + 1) for m in convs)
    assert abs(n_ours / (raw - unused) - 1) <= 0.01, (n_ours, raw, unused)


def test_flop_count_matches_the_issue_figure_and_scales_with_depth():
    import glow_at_scale as bench

    big = bench.CONFIGS["3x32x512-b16"]
    # issue #16: "about 24 GFLOP per image per training step at 3 x 32 x 512"
    assert 23e9 < bench.train_flop_per_image(big) < 25e9
    eight = dict(big, steps=8)
    assert bench.forward_flop_per_image(big) == 4 * bench.forward_flop_per_image(eight)


def test_default_build_follows_glows_rules_and_is_named():
    import glow_at_scale as bench

    from tfp_flows.flows.glow import REVERSIBLE_FROM_STEPS
    from tfp_flows.flows.glow import STACKED_FROM_STEPS

    def cfg(steps):
        return dict(bench.CONFIGS["small-b64"], steps=steps)

    unstacked = {"stacked_steps": False, "reversible": False}
    stored = {"stacked_steps": True, "reversible": False}
    both = {"stacked_steps": True, "reversible": True}
    assert bench.default_build(cfg(STACKED_FROM_STEPS - 1)) == unstacked
    assert bench.default_build(cfg(STACKED_FROM_STEPS)) == stored
    assert bench.default_build(cfg(REVERSIBLE_FROM_STEPS)) == both
    # The rows' builds: `{"stacked_steps": False}` is the unstacked default.
    assert bench.build_of({"stacked_steps": False}, unstacked) == unstacked
    assert bench.build_of({"stacked_steps": False}, stored) == unstacked
    assert bench.build_of(both, stored) == both
    assert bench.build_of({}, stored) == stored


def test_rounds_are_paired_and_merged():
    """`--rounds`: ratios pair round i with round i; rows pool their rounds."""
    import glow_at_scale as g

    def res(steps, rss, state=100.0):
        return {
            "step_s": steps,
            "lp_s": [s / 2 for s in steps],
            "first_step_s": steps[0] * 10,
            "rss_peak_mb": rss,
            "state_rss_mb": state,
        }

    # normflows drifts 2x between rounds; ours is 1.5x faster in each round.
    ref = g.merge_rounds([res([3.0, 3.0, 3.3], 500), res([6.0, 6.6, 6.0], 520)])
    ours = g.merge_rounds([res([2.0, 2.0, 2.2], 300, 90), res([4.0, 4.4, 4.0], 280)])
    assert len(ours["step_s"]) == 6 and ours["rss_peak_mb"] == 300
    assert ours["state_rss_mb"] == 90  # the step memory of the highest round
    ratio, lo, hi, word = g._ratio(ref, ours, "step_s")
    assert abs(ratio - 1.5) < 1e-9 and abs(lo - 1.5) < 1e-9 and word == "faster"
    # Unpaired, the same steps only say "on par" (2.2..6.6 against 3.0..4.4).
    assert "rounds" not in g.merge_rounds([res([3.0], 500)])
    assert g._spread(ref["step_s"], ours["step_s"])[3] == "on par"
    # A failed round fails the row.
    assert "error" in g.merge_rounds([res([1.0], 1), {"error": "rc 1", "wall_s": 1}])
