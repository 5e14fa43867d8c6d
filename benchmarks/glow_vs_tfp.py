"""Our multi-scale Glow against TFP's `tfb.Glow`, same size, side by side.

Both models: 16x16x3 images, 2 levels x 4 steps, coupling width W (default 64),
float32, batch 64 of uniform [-0.5, 0.5) data. Each model is measured in its
own subprocess (`--worker ours|tfp`, printing JSON) so that peak RSS is its
own; the parent prints one table with ratio = ours/TFP speed-up (TFP time /
our time; for the parameter count and RSS simply ours / TFP).

Measured: trainable parameters; `log_prob` throughput (images/s) eager,
`tf.function` and `tf.function(jit_compile=True)`; first call of the XLA
`log_prob` (trace + compile); one XLA training step (gradient of
-mean(log_prob) wrt every trainable variable + plain SGD) after warm-up; peak
RSS. Timings are medians of several repetitions after warm-up, the same
protocol and number of repetitions for both models; every timed call gets a
fresh `tf.identity(x)` (TFP caches bijector results by tensor).

The reference gets its best documented configuration (see
/work/shared/TFP_NOTES.md): `coupling_bijector_fn=GlowDefaultNetwork` (width W)
and `exit_bijector_fn=GlowDefaultExitNetwork` passed explicitly (their defaults
are None in TFP 0.25); ActNorm initialized data-first (a `log_prob` of the data
batch before any other call); `tf.function` and XLA rows (XLA compiles it), with
a fixed batch shape (TFP's Glow fails under `tf.function` with an unknown batch
dimension).

Verdicts (`_common.verdict`): the interleaved rows (both models in one
process, alternating blocks of back-to-back calls of >= BLOCK_S seconds) give
one paired ratio per round, and the verdict
is "faster"/"slower" only when every round agrees, else "on par". The
per-subprocess rows are not paired; their spread is the widest one, lowest TFP
time / highest ours to highest / lowest. First-call rows are single
measurements: no spread, no verdict.

    python benchmarks/glow_vs_tfp.py [--width 64] [--quick]
"""

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

SHAPE = (16, 16, 3)
BLOCK_S = 0.2  # interleaved rows: seconds of back-to-back calls per round
LEVELS, STEPS = 2, 4


def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _times(fn, x, reps):
    """Per-call seconds of `reps` calls, each on a fresh `tf.identity(x)`."""
    import numpy as np
    import tensorflow as tf

    times = []
    for _ in range(reps):
        arg = tf.identity(x)
        t0 = time.perf_counter()
        out = fn(arg)
        np.asarray(out)
        times.append(time.perf_counter() - t0)
    return times


def _first_call(fn, x):
    import numpy as np
    import tensorflow as tf

    arg = tf.identity(x)
    t0 = time.perf_counter()
    out = fn(arg)
    np.asarray(out)
    return time.perf_counter() - t0, out


def build(which, width):
    import tensorflow as tf
    import tensorflow_probability as tfp

    tfb, tfd = tfp.bijectors, tfp.distributions
    if which == "ours":
        from tfp_flows.flows import glow

        return glow(
            event_shape=SHAPE,
            num_levels=LEVELS,
            num_steps=STEPS,
            hidden_units=width,
            seed=0,
        )
    # TFP 0.25, bijectors/glow.py: the forward maps a flat vector of
    # H*W*C latents to the image; the base is Sample(Normal, that shape).
    bij = tfb.Glow(
        output_shape=SHAPE,
        num_glow_blocks=LEVELS,
        num_steps_per_block=STEPS,
        coupling_bijector_fn=lambda input_shape: tfb.GlowDefaultNetwork(
            input_shape, num_hidden=width
        ),
        exit_bijector_fn=tfb.GlowDefaultExitNetwork,
        seed=0,
    )
    z_shape = bij.inverse_event_shape(SHAPE)
    base = tfd.Sample(tfd.Normal(tf.constant(0.0), tf.constant(1.0)), z_shape)
    return tfd.TransformedDistribution(base, bij)


def initialize(which, dist, x):
    """ActNorm data-dependent initialization from the batch `x`."""
    import tensorflow as tf

    if which == "ours":
        from tfp_flows.flows import initialize_act_norms

        initialize_act_norms(dist, tf.identity(x))
    else:
        dist.log_prob(tf.identity(x))  # ActNorm data-dependent init on first call


def make_train_step(dist):
    """An XLA training step: plain SGD on -mean(log_prob)."""
    import tensorflow as tf

    tvars = dist.trainable_variables

    @tf.function(jit_compile=True)
    def train_step(t):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(dist.log_prob(t))
        grads = tape.gradient(loss, tvars)
        for v, g in zip(tvars, grads, strict=True):
            if g is not None:
                v.assign_sub(1e-4 * g)
        return loss

    return train_step


def worker(which, width, batch, quick):
    """Measures one model; prints one JSON line."""
    import numpy as np
    import tensorflow as tf

    rss_import = _rss_mb()
    tf.random.set_seed(0)
    x = tf.random.stateless_uniform([batch, *SHAPE], seed=[1, 2]) - 0.5
    dist = build(which, width)
    res = {"which": which}
    initialize(which, dist, x)
    tvars = dist.trainable_variables
    res["params"] = int(sum(int(np.prod(v.shape)) for v in tvars))
    res["n_vars"] = len(tvars)
    lp = dist.log_prob(tf.identity(x)).numpy()
    res["lp_per_dim"] = float(np.mean(lp) / np.prod(SHAPE))

    reps_eager = 1 if quick else 3
    reps = 3 if quick else 10

    def log_prob(t):
        return dist.log_prob(t)

    # eager
    _first_call(log_prob, x)
    res["eager_s"] = _times(log_prob, x, reps_eager)
    # tf.function (fixed batch shape: TFP Glow fails with an unknown batch dim)
    f = tf.function(log_prob)
    res["function_first_s"], _ = _first_call(f, x)
    _first_call(f, x)
    res["function_s"] = _times(f, x, reps)
    # XLA
    fx = tf.function(log_prob, jit_compile=True)
    res["xla_first_s"], out = _first_call(fx, x)
    res["xla_max_abs_diff"] = float(np.max(np.abs(np.asarray(out) - lp)))
    _first_call(fx, x)
    res["xla_s"] = _times(fx, x, reps)

    train_step = make_train_step(dist)
    with tf.GradientTape() as tape:
        loss = -tf.reduce_mean(dist.log_prob(tf.identity(x)))
    res["vars_without_grad"] = sum(g is None for g in tape.gradient(loss, tvars))
    res["train_first_s"], _ = _first_call(train_step, x)
    _first_call(train_step, x)
    res["train_s"] = _times(train_step, x, reps)
    res["rss_import_mb"] = rss_import
    res["rss_peak_mb"] = _rss_mb()
    print("RESULT " + json.dumps(res), flush=True)


def head_to_head(width, batch, quick):
    """Both models in one process, their calls interleaved: load drift from
    other jobs hits both alike, so these ratios are the robust ones."""
    import numpy as np
    import tensorflow as tf

    x = tf.random.stateless_uniform([batch, *SHAPE], seed=[1, 2]) - 0.5
    fns = {}
    for which in ("ours", "tfp"):
        dist = build(which, width)
        initialize(which, dist, x)

        def log_prob(t, dist=dist):
            return dist.log_prob(t)

        fns[which, "eager"] = log_prob
        fns[which, "xla"] = tf.function(log_prob, jit_compile=True)
        fns[which, "function"] = tf.function(log_prob)
        fns[which, "train"] = make_train_step(dist)
    one = {}
    for k, f in fns.items():  # compile and warm up; the second call is timed
        f(tf.identity(x)).numpy()
        t0 = time.perf_counter()
        f(tf.identity(x)).numpy()
        one[k] = time.perf_counter() - t0
    # One round runs each function `m` times back to back (m per mode, the same
    # for both models, so that the faster one's block lasts >= BLOCK_S): a
    # single 20 ms call is too short for a paired ratio on a loaded machine.
    block = {
        mode: max(1, math.ceil(BLOCK_S / min(one["ours", mode], one["tfp", mode])))
        for _, mode in fns
    }
    times = {k: [] for k in fns}
    rounds = 8 if quick else 30
    for i in range(rounds):
        for k, f in fns.items():
            if k[1] == "eager" and i >= rounds // 2:
                continue  # eager: half the rounds (0.2-0.6 s a call)
            args = [tf.identity(x) for _ in range(block[k[1]])]  # fresh tensors:
            t0 = time.perf_counter()  # TFP caches results by tensor
            for arg in args:
                out = f(arg)
            np.asarray(out)
            times[k].append((time.perf_counter() - t0) / block[k[1]])
    res = {f"{w}_{m}_s": v for (w, m), v in times.items()}
    res["block_calls"] = block
    print("RESULT " + json.dumps(res), flush=True)


def run_worker(which, args):
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        which,
        "--width",
        str(args.width),
        "--batch",
        str(args.batch),
    ] + (["--quick"] if args.quick else [])
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"worker {which} failed (rc {proc.returncode})")
    res = json.loads(lines[-1][len("RESULT ") :])
    res["wall_s"] = wall
    return res


def _fmt(v, digits):
    return f"{v:,.{digits}f}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=64, help="coupling width W")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument(
        "--worker", choices=["ours", "tfp", "both"], help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.worker == "both":
        head_to_head(args.width, args.batch, args.quick)
        return
    if args.worker:
        worker(args.worker, args.width, args.batch, args.quick)
        return

    import numpy as np
    from _common import machine_line
    from _common import ratio_spread
    from _common import verdict

    print(machine_line())
    print(
        f"config: event {SHAPE}, {LEVELS} levels x {STEPS} steps, coupling width "
        f"{args.width}, batch {args.batch}, float32, uniform[-0.5,0.5) data"
        f"{', --quick' if args.quick else ''}"
    )
    print("each model in its own subprocess; timings are medians after warm-up")
    ours = run_worker("ours", args)
    tfp_ = run_worker("tfp", args)
    both = run_worker("both", args)
    b = args.batch

    rows = []

    def med(v):
        return float(np.median(v))

    def unpaired(key):
        """Median ratio and the widest spread of two unpaired samples."""
        o, t = np.asarray(ours[key]), np.asarray(tfp_[key])
        r, lo, hi = med(t) / med(o), t.min() / o.max(), t.max() / o.min()
        return f"{r:.2f}x", f"{lo:.2f}-{hi:.2f}", verdict(r, lo, hi)

    def paired(mode):
        r, lo, hi = ratio_spread(both[f"tfp_{mode}_s"], both[f"ours_{mode}_s"])
        return f"{r:.2f}x", f"{lo:.2f}-{hi:.2f}", verdict(r, lo, hi)

    def speed(label, key):
        o, t = b / med(ours[key]), b / med(tfp_[key])
        rows.append((label, _fmt(o, 0), _fmt(t, 0), *unpaired(key)))

    def speed_paired(label, mode):
        o, t = b / med(both[f"ours_{mode}_s"]), b / med(both[f"tfp_{mode}_s"])
        rows.append((label, _fmt(o, 0), _fmt(t, 0), *paired(mode)))

    def time_row(label, key, scale, digits):
        o, t = ours[key], tfp_[key]
        if isinstance(o, list):
            o_, t_ = med(o), med(t)
            rows.append(
                (
                    label,
                    _fmt(o_ * scale, digits),
                    _fmt(t_ * scale, digits),
                    *unpaired(key),
                )
            )
        else:  # one measurement
            rows.append(
                (
                    label,
                    _fmt(o * scale, digits),
                    _fmt(t * scale, digits),
                    f"{t / o:.2f}x",
                    "single",
                    "",
                )
            )

    rows.append(
        (
            "trainable parameters",
            f"{ours['params']:,}",
            f"{tfp_['params']:,}",
            f"{ours['params'] / tfp_['params']:.2f} (size)",
            "",
            "",
        )
    )
    speed("log_prob eager, img/s", "eager_s")
    speed("log_prob tf.function, img/s", "function_s")
    speed("log_prob XLA, img/s", "xla_s")
    for mode, label in (
        ("xla", "XLA"),
        ("function", "tf.function"),
        ("eager", "eager"),
    ):
        speed_paired(f"log_prob {label}, interleaved, img/s", mode)
    time_row("XLA log_prob first call, s", "xla_first_s", 1, 2)
    time_row("XLA train step, ms", "train_s", 1e3, 1)
    o, t = med(both["ours_train_s"]), med(both["tfp_train_s"])
    rows.append(
        (
            "XLA train step, interleaved, ms",
            _fmt(o * 1e3, 1),
            _fmt(t * 1e3, 1),
            *paired("train"),
        )
    )
    time_row("XLA train step first call, s", "train_first_s", 1, 2)
    rows.append(
        (
            "peak RSS, MB",
            _fmt(ours["rss_peak_mb"], 0),
            _fmt(tfp_["rss_peak_mb"], 0),
            f"{ours['rss_peak_mb'] / tfp_['rss_peak_mb']:.2f} (size)",
            "",
            "",
        )
    )
    rows.append(
        (
            "  RSS after import tensorflow, MB",
            _fmt(ours["rss_import_mb"], 0),
            _fmt(tfp_["rss_import_mb"], 0),
            "",
            "",
            "",
        )
    )
    rows.append(
        (
            "mean log_prob / dim (init)",
            f"{ours['lp_per_dim']:.3f}",
            f"{tfp_['lp_per_dim']:.3f}",
            "",
            "",
            "",
        )
    )

    head = ("", "ours", "tfb.Glow", "ours/TFP", "spread", "verdict")
    nc = len(head)
    w = [max(len(r[i]) for r in rows + [head]) for i in range(nc)]
    line = (
        "| "
        + " | ".join(
            "{:<%d}" % w[i] if i in (0, nc - 1) else "{:>%d}" % w[i] for i in range(nc)
        )
        + " |"
    )
    print()
    print(line.format(*head))
    print("|" + "|".join("-" * (n + 2) for n in w) + "|")
    for r in rows:
        print(line.format(*r))
    print()
    print(
        "ratio: speed-up = TFP time / our time (>1: ours faster); size rows: ours / TFP"
    )
    print(
        "spread: interleaved rows: lowest-highest of the per-round paired ratios; "
        "subprocess rows (unpaired): lowest TFP / highest ours to highest / "
        "lowest; verdict 'faster'/'slower' only outside 1 over the whole spread"
    )
    reps = 3 if args.quick else 10
    print(
        f"subprocess rows: {reps} repetitions each ({1 if args.quick else 3} "
        "eager), the same for both models"
    )
    for r in (ours, tfp_):
        print(
            f"{r['which']}: {r['n_vars']} trainable variables, "
            f"{r['vars_without_grad']} without gradient; XLA vs eager log_prob "
            f"max |diff| {r['xla_max_abs_diff']:.2e}; worker wall {r['wall_s']:.0f} s"
        )
    rounds = len(both["ours_xla_s"])
    print(
        "interleaved rows: both models in one process, alternating blocks of "
        f"back-to-back calls (calls per block {both['block_calls']}; median of "
        f"{rounds} rounds, eager {len(both['ours_eager_s'])}), so load drift "
        "cancels"
    )
    ratio, low, high = ratio_spread(both["tfp_xla_s"], both["ours_xla_s"])
    word = verdict(ratio, low, high)
    print(
        f"\nOur XLA log_prob vs TFP's (interleaved, W={args.width}): {word}, "
        f"{ratio:.2f}x the speed (per-round ratios {low:.2f}-{high:.2f}; "
        f"{b / med(both['ours_xla_s']):,.0f} vs "
        f"{b / med(both['tfp_xla_s']):,.0f} img/s)."
    )


if __name__ == "__main__":
    main()
