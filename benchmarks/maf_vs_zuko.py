"""Our MAF (XLA) against zuko's MAF (PyTorch, `torch.compile`), equal models.

Both: 5 masked autoregressive affine transforms, MADE hidden [64, 64] with
ReLU, reversed order between transforms (zuko's default for `randperm=False`;
ours `permutation='reverse'`), standard normal base, float32. Parameter counts
of both are printed. zuko 1.6 gets its best configuration: the flow's
`log_prob` and `sample` wrapped in `torch.compile` (one compiled function per
shape, `dynamic=False`, so no recompilation is timed), run under
`torch.no_grad()`. Compiling the whole sampler unrolls D sequential passes
per transform into one graph (196 s to compile at D=8 under load), so beside
it (and alone above `--whole-compile-max-d`, default 8) sampling has a row
with each transform's MADE compiled instead ("compiled MADEs"); eager zuko
rows are printed for reference. On a GPU both libraries run there. Ours: `log_prob`
and `sample` in `tf.function(jit_compile=True)`.

Shapes: D = 8 and 64, batch 256 and 4096 (`--quick`: D=8/256 only). Measured:
`log_prob` and sampling throughput (rows/s) and the first call of each
compiled function (trace + compile).

Protocol (`_common.time_group`, as `maf_speed.py`): the calls of ours and of
zuko rotate in one process, so load from other jobs hits both alike; one
repetition is a block of back-to-back calls lasting at least `--rep-ms` ms,
the same block size for all; the ratio is ours / zuko-compiled throughput
(median of the per-repetition paired ratios) with the lowest and highest of
those ratios, and `_common.verdict` says "faster"/"slower" only when every
repetition agrees, "on par" otherwise.

    python benchmarks/maf_vs_zuko.py [--quick] [--rep-ms 200]
"""

import argparse
import math
import os
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# PyTorch's OpenMP threads spin-wait between parallel regions by default. On
# an idle machine that is its fast configuration, and the reference keeps it:
# passive waiting costs a thread wake-up per operator (measured 2026-12-03,
# idle, 2 threads: zuko MAF D=8/256 log_prob compiled 606k rows/s spinning,
# 79k with OMP_WAIT_POLICY=PASSIVE). On a machine shared with other jobs
# spinning is 10-100x slower instead (zuko 1.0-2.1k rows/s spinning vs
# 111-130k passive, load 11): pass `--omp-passive` there (or set
# OMP_WAIT_POLICY yourself; the printed reference line says which ran).
if "--omp-passive" in sys.argv:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

LAYERS, HIDDEN = 5, (64, 64)


def _block(out):
    import numpy as np

    for t in out if isinstance(out, list) else [out]:
        np.asarray(t)


def first_call(fn):
    t0 = time.perf_counter()
    _block(fn())
    return time.perf_counter() - t0


def zuko_fns(d, n, x_np, whole_sample):
    """No-argument callables of zuko's MAF, by row name, and its parameter count.

    Rows: `log_prob` compiled as one function; `sample` compiled as one
    function (only when `whole_sample`: the D sequential passes of every
    transform unroll into one graph, and its compile time grows with D) and
    with each transform's MADE compiled (`hyper`, one small graph reused by
    every pass); both eager. Every flow is built from the same seed.
    """
    import torch
    import zuko

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def new_flow():
        torch.manual_seed(0)
        return (
            zuko.flows.MAF(d, transforms=LAYERS, hidden_features=HIDDEN).to(dev).eval()
        )

    flow = new_flow()
    x = torch.from_numpy(x_np).to(dev)
    params = sum(p.numel() for p in flow.parameters() if p.requires_grad)

    def log_prob(t, flow=flow):
        return flow().log_prob(t)

    def sample(flow=flow):
        return flow().sample((n,))

    mlp_flow = new_flow()
    for t in mlp_flow.transform.transforms:
        t.hyper = torch.compile(t.hyper, dynamic=False)

    def run(f, *a):
        def g():
            with torch.no_grad():
                return f(*a).cpu().numpy()

        return g

    lp = {
        "zuko compiled": run(torch.compile(log_prob, dynamic=False), x),
        "zuko eager": run(log_prob, x),
    }
    sa = {}
    if whole_sample:
        sa["zuko compiled"] = run(torch.compile(sample, dynamic=False))
    sa["zuko compiled MADEs"] = run(lambda: sample(mlp_flow))
    sa["zuko eager"] = run(sample)
    return lp, sa, params


def ours_fns(d, n, x_np):
    import tensorflow as tf

    from tfp_flows.flows import maf

    flow = maf(d, num_layers=LAYERS, hidden_units=list(HIDDEN), seed=0)
    flow.log_prob(tf.zeros([2, d]))
    x = tf.constant(x_np)
    lp = tf.function(
        lambda t: flow.log_prob(tf.identity(t)),
        input_signature=[tf.TensorSpec([None, d], tf.float32)],
        jit_compile=True,
    )
    sample = tf.function(
        lambda k: flow.sample(k, seed=(3, 4)),
        input_signature=[tf.TensorSpec([], tf.int32)],
        jit_compile=True,
    )
    k = tf.constant(n)
    params = sum(int(v.shape.num_elements()) for v in flow.trainable_variables)
    return (lambda: lp(x)), (lambda: sample(k)), params


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="D=8/256 only, short")
    parser.add_argument("--rep-ms", type=float, default=None, help="ms per repetition")
    parser.add_argument("--no-eager", action="store_true", help="no eager zuko rows")
    parser.add_argument(
        "--omp-passive",
        action="store_true",
        help="OMP_WAIT_POLICY=PASSIVE for torch (machines shared with other jobs)",
    )
    parser.add_argument(
        "--whole-compile-max-d",
        type=int,
        default=8,
        help="compile zuko's whole sampler only up to this D (compile time grows)",
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    import numpy as np
    import torch
    import zuko
    from _common import machine_line
    from _common import ratio_spread
    from _common import time_group
    from _common import verdict

    try:
        load = "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:  # pragma: no cover
        load = ""
    print(machine_line(load), flush=True)
    dev = "CUDA" if torch.cuda.is_available() else "CPU"
    print(
        f"reference: zuko {zuko.__version__}, torch {torch.__version__} ({dev} "
        f"present, CPU tensors used; {torch.get_num_threads()} threads, "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset: spin')}), "
        "torch.compile(dynamic=False) under no_grad",
        flush=True,
    )
    repeats = 5 if args.quick else 10
    min_time = 0.3 if args.quick else 1.0
    rep_s = (args.rep_ms or (20.0 if args.quick else 200.0)) / 1e3
    shapes = [(8, 256)] if args.quick else [(8, 256), (8, 4096), (64, 256), (64, 4096)]
    rows, compiles, params = [], [], {}
    for d, n in shapes:
        x_np = np.random.RandomState(0).normal(size=(n, d)).astype("float32")
        o_lp, o_sample, o_params = ours_fns(d, n, x_np)
        z_lp, z_sample, z_params = zuko_fns(d, n, x_np, d <= args.whole_compile_max_d)
        params[d] = (o_params, z_params)
        for what, fs in (
            ("log_prob", {"ours XLA": o_lp, **z_lp}),
            ("sample", {"ours XLA": o_sample, **z_sample}),
        ):
            if args.no_eager:
                fs.pop("zuko eager")
            for name, f in fs.items():
                s = first_call(f)
                if name != "zuko eager":
                    compiles.append((d, n, what, name, s))
                _block(f())
            fastest = min(min(first_call(f) for _ in range(2)) for f in fs.values())
            m = max(1, math.ceil(rep_s / max(fastest, 1e-6)))
            fns = [lambda f=f, m=m: [f() for _ in range(m)] for f in fs.values()]
            times = dict(
                zip(
                    fs,
                    time_group(fns, repeats=repeats, warmup=0, min_time=min_time),
                    strict=True,
                )
            )
            ours_t = times["ours XLA"]
            for name, ts in times.items():
                speed = n * m / float(np.median(ts))
                if name == "ours XLA":
                    rows.append((d, n, what, name, speed, "", ""))
                    continue
                r, lo, hi = ratio_spread(ts, ours_t)
                rows.append(
                    (
                        d,
                        n,
                        what,
                        name,
                        speed,
                        f"{r:.2f}x [{lo:.2f}-{hi:.2f}]",
                        verdict(r, lo, hi),
                    )
                )
            print(
                f"  done D={d} batch={n} {what} ({len(ours_t)} reps x {m} calls)",
                flush=True,
            )
    for d, (o, z) in params.items():
        print(f"trainable parameters, D={d}: ours {o:,}, zuko {z:,} ({o / z - 1:+.2%})")
    head = ("D", "batch", "", "model", "rows/s", "ours / model [spread]", "verdict")
    out = [
        (str(d), str(n), w, name, f"{s:,.0f}", r, v) for d, n, w, name, s, r, v in rows
    ]
    widths = [max(len(r[i]) for r in out + [head]) for i in range(len(head))]
    fmt = "| " + " | ".join("{:<%d}" % k for k in widths) + " |"
    print()
    print(fmt.format(*head))
    print("|" + "|".join("-" * (k + 2) for k in widths) + "|")
    for r in out:
        print(fmt.format(*r))
    print()
    print("first call (trace + compile), s:")
    for d, n, what, name, s in compiles:
        print(f"  D={d} batch={n} {what} {name}: {s:.1f}")
    print(
        "\nratio: ours throughput / the row's (median of paired per-repetition "
        "ratios [lowest-highest]); verdict 'faster'/'slower' only outside 1 over "
        "the whole spread, else 'on par'"
    )


if __name__ == "__main__":
    main()
