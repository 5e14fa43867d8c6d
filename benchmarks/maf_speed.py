"""MAF/IAF speed against TFP's MaskedAutoregressiveFlow + AutoregressiveNetwork.

Equal sizes: 5 layers, hidden [64, 64], ReLU on both sides (TFP's network
defaults to no activation), reverse permutation between layers (ours folds it
into the MADE orderings: the same model, no gathers), float32. Parameter counts
of both are printed.

Prints throughput (thousand rows/s) of `log_prob` and `sample` in eager,
`tf.function` and XLA. TFP's sampling runs in two configurations, each its own
row: the default (`tf.while_loop` over the D dimensions) and
`unroll_loop=True` (a static Python loop, which needs the event size known when
the graph is built; ours unrolls its small-D loop too). `log_prob` is one pass
in both libraries and `unroll_loop` does not touch it, so it has the default
TFP row only.

Protocol (`_common.time_group`): in every comparison the calls of ours and of
each TFP configuration rotate in one process, so load from other jobs hits all
alike; one repetition is a block of back-to-back calls lasting at least
`--rep-ms` ms, the same block size for all; the ratio is ours / TFP throughput
(median of the per-repetition paired ratios), printed with the lowest and
highest of those ratios, and `_common.verdict` says "faster"/"slower" only when
every repetition agrees, "on par" otherwise. Also printed: the first XLA call
(trace + compile) of each sampler, the bare limit (a chain of dense matmuls of
the same shapes, XLA) and our fraction of it, then MAF vs IAF sampling as D
grows.

    python benchmarks/maf_speed.py [--quick]
"""

import argparse
import math
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_probability as tfp  # noqa: E402
from _common import _block  # noqa: E402
from _common import machine_line  # noqa: E402
from _common import param_count  # noqa: E402
from _common import ratio_spread  # noqa: E402
from _common import time_calls  # noqa: E402
from _common import time_group  # noqa: E402
from _common import verdict  # noqa: E402

from tfp_flows.flows.autoregressive import iaf  # noqa: E402
from tfp_flows.flows.autoregressive import maf  # noqa: E402

tfb, tfd = tfp.bijectors, tfp.distributions
LAYERS, HIDDEN = 5, [64, 64]


def tfp_maf(d, unroll_loop=False):
    bijectors = []
    for i in range(LAYERS):
        # activation: TFP's default is None (a linear MADE); ours uses ReLU,
        # so TFP gets ReLU too for equal models.
        net = tfb.AutoregressiveNetwork(
            params=2, hidden_units=HIDDEN, event_shape=[d], activation="relu"
        )
        bijectors.append(
            tfb.MaskedAutoregressiveFlow(
                net, unroll_loop=unroll_loop, name=f"tfp_maf_{i}"
            )
        )
        if i < LAYERS - 1:
            bijectors.append(tfb.Permute(np.arange(d)[::-1].astype(np.int32)))
    base = tfd.Sample(tfd.Normal(0.0, 1.0), [d])
    return tfd.TransformedDistribution(base, tfb.Chain(bijectors[::-1]))


def dense_limit(d):
    """The same matmuls (one MADE pass per layer), no masks, no flow logic."""
    rng = np.random.RandomState(0)
    shapes = [(d, HIDDEN[0]), (HIDDEN[0], HIDDEN[1]), (HIDDEN[1], 2 * d)]
    ws = [
        [tf.constant(rng.normal(size=s) * 0.05, tf.float32) for s in shapes]
        for _ in range(LAYERS)
    ]

    def fn(x):
        for w in ws:
            h = tf.nn.relu(tf.matmul(x, w[0]))
            h = tf.nn.relu(tf.matmul(h, w[1]))
            x = tf.matmul(h, w[2])[:, :d]
        return x

    return fn


def modes(fn, spec):
    return {
        "eager": fn,
        "function": tf.function(fn, input_signature=[spec]),
        "xla": tf.function(fn, input_signature=[spec], jit_compile=True),
    }


def first_call(fn, arg):
    """Seconds of the first call (for XLA: trace + compile + run)."""
    t0 = time.perf_counter()
    _block(fn(arg))
    return time.perf_counter() - t0


def blocks(fns, arg, rep_s):
    """No-argument callables running each fn `m` times back to back.

    `m` (the same for all) makes the fastest fn's block last about `rep_s`, so
    one timed repetition is long enough for the scheduler's noise to average.
    """
    for f in fns:  # second warm-up call, timed for the block size
        _block(f(arg))
    fastest = min(min(time_calls(lambda f=f: f(arg), repeats=2, warmup=0)) for f in fns)
    m = max(1, math.ceil(rep_s / max(fastest, 1e-6)))
    return [lambda f=f: [f(arg) for _ in range(m)] for f in fns], m


def throughput(n, t, m):
    return n * m / t / 1e3


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="D=8 only, shorter runs")
    parser.add_argument(
        "--rep-ms", type=float, default=None, help="ms per timed repetition"
    )
    args = parser.parse_args()
    min_time = 0.3 if args.quick else 1.0
    repeats = 5 if args.quick else 10
    rep_s = (args.rep_ms or (20.0 if args.quick else 200.0)) / 1e3
    dims = [8] if args.quick else [8, 64]
    batches = [256] if args.quick else [256, 4096]
    print(machine_line(), flush=True)
    rows, extra, compiles, params = [], [], [], {}
    t_start = time.perf_counter()
    for d in dims:
        ours = maf(d, num_layers=LAYERS, hidden_units=HIDDEN)
        theirs = {"TFP": tfp_maf(d), "TFP unroll_loop": tfp_maf(d, unroll_loop=True)}
        ours_iaf = iaf(d, num_layers=LAYERS, hidden_units=HIDDEN)
        x0 = tf.zeros([2, d])
        for flow in (ours, *theirs.values()):
            flow.log_prob(x0)  # builds the (lazily built) networks
        params[d] = (
            param_count(ours.trainable_variables),
            param_count(theirs["TFP"].trainable_variables),
            param_count(theirs["TFP unroll_loop"].trainable_variables),
        )
        for n in batches:
            x = tf.random.stateless_normal([n, d], seed=[1, 2])
            nspec = tf.TensorSpec([], tf.int32)
            xspec = tf.TensorSpec([None, d], tf.float32)
            for what in ("log_prob", "sample"):
                refs = ["TFP"] if what == "log_prob" else list(theirs)
                for mode in ("eager", "function", "xla"):
                    if what == "sample" and mode == "eager" and d == 64 and n == 4096:
                        continue  # minutes in eager for TFP; not informative
                    flows = {"ours": ours, **{r: theirs[r] for r in refs}}
                    fs = {}
                    for name, flow in flows.items():
                        if what == "log_prob":
                            fs[name] = modes(
                                lambda x, flow=flow: flow.log_prob(tf.identity(x)),
                                xspec,
                            )[mode]
                            arg = x
                        else:
                            fs[name] = modes(
                                lambda k, flow=flow: flow.sample(k, seed=(3, 4)), nspec
                            )[mode]
                            arg = tf.constant(n)
                    if mode == "xla":
                        # Ours-only XLA reference points join the same rotation
                        # (paired): the bare matmul chain beside log_prob, our
                        # IAF's one-pass sampling beside MAF sampling.
                        if what == "log_prob":
                            fs["dense limit"] = tf.function(
                                dense_limit(d),
                                input_signature=[xspec],
                                jit_compile=True,
                            )
                        else:
                            fs["IAF sample"] = tf.function(
                                lambda k, f=ours_iaf: f.sample(k, seed=(3, 4)),
                                input_signature=[nspec],
                                jit_compile=True,
                            )
                    for name, f in fs.items():
                        s = first_call(f, arg)
                        if mode == "xla" and what == "sample":
                            compiles.append((d, n, name, s))
                    fns, m = blocks(list(fs.values()), arg, rep_s)
                    times = time_group(
                        fns, repeats=repeats, warmup=0, min_time=min_time
                    )
                    t_ours = times[0]
                    for name, t in zip(fs, times, strict=True):
                        if name in ("dense limit", "IAF sample"):
                            # ours / this: our MAF's share of the bare limit
                            # (log_prob), MAF time / IAF time (sampling)
                            extra.append(
                                (
                                    name,
                                    d,
                                    n,
                                    throughput(n, np.median(t), m),
                                    *ratio_spread(t, t_ours),
                                )
                            )
                    for ref, t_ref in zip(refs, times[1 : len(refs) + 1], strict=True):
                        r, lo, hi = ratio_spread(t_ref, t_ours)
                        rows.append(
                            (
                                f"MAF {what}",
                                d,
                                n,
                                mode,
                                ref,
                                throughput(n, np.median(t_ours), m),
                                throughput(n, np.median(t_ref), m),
                                r,
                                lo,
                                hi,
                                len(t_ours),
                                m,
                            )
                        )
                    print(
                        f"  done MAF {what} D={d} batch={n} {mode} "
                        f"({time.perf_counter() - t_start:.0f} s)",
                        flush=True,
                    )

    print(
        f"\nThroughput, thousand rows/s (5 layers, hidden {HIDDEN}, ReLU, float32); "
        "ratio = ours / reference, median of per-repetition paired ratios, "
        f"[lowest, highest] over the repetitions (>= {repeats} repetitions of "
        f">= {rep_s * 1e3:.0f} ms each, calls rotating)\n"
    )
    for d, (po, pt, pu) in params.items():
        print(
            f"trainable parameters, D={d}: ours {po:,}; TFP {pt:,}; "
            f"TFP unroll_loop {pu:,}"
        )
    print()
    print(
        f"| {'what':<12} | {'D':>3} | {'batch':>5} | {'mode':<8} | {'reference':<15} "
        f"| {'ours':>8} | {'ref':>8} | {'ratio':>5} | {'spread':<11} | verdict |"
    )
    print("|" + "|".join("-" * w for w in (14, 5, 7, 10, 17, 10, 10, 7, 13, 9)) + "|")
    for what, d, n, mode, ref, a, b, r, lo, hi, _, _ in rows:
        spread = f"{lo:.2f}-{hi:.2f}"
        print(
            f"| {what:<12} | {d:>3} | {n:>5} | {mode:<8} | {ref:<15} | {a:8.2f} "
            f"| {b:8.2f} | {r:5.2f} | {spread:<11} | {verdict(r, lo, hi):<7} |"
        )
    print(
        "\nOurs only, XLA, timed in the same rotation as the XLA rows above "
        "(thousand rows/s); 'dense limit': our MAF log_prob as a fraction of "
        "it; 'IAF sample': our MAF sampling time / IAF sampling time; median "
        "[lowest, highest] of the paired per-repetition ratios"
    )
    for what, d, n, a, r, lo, hi in extra:
        if what == "dense limit":  # t_limit / t_ours: our share of the limit
            label = "MAF log_prob / limit"
        else:  # t_iaf / t_ours inverted: MAF time / IAF time
            r, lo, hi = 1 / r, 1 / hi, 1 / lo
            label = "MAF/IAF sample time"
        print(
            f"  {what:<11} D={d:>2} batch={n:>4}: {a:8.1f}; {label} "
            f"{r:.2f} [{lo:.2f}, {hi:.2f}]"
        )
    print("\nFirst XLA sample call (trace + compile + run), s:")
    for d, n, name, s in compiles:
        print(f"  D={d:>2} batch={n:>4} {name:<15}: {s:6.2f}")

    print(
        "\nSampling cost as D grows (batch 256, XLA, ms per batch): MAF needs D "
        "passes per layer, IAF one; MAF/IAF = median of paired per-repetition "
        "ratios [lowest, highest]"
    )
    print(
        f"| {'D':>3} | {'MAF sample':>10} | {'IAF sample':>10} "
        f"| {'MAF/IAF':>7} | {'spread':<9} | {'MAF log_prob':>12} |"
    )
    print("|-----|------------|------------|---------|-----------|--------------|")
    spec = tf.TensorSpec([], tf.int32)
    for d in [4, 8, 16] if args.quick else [4, 8, 16, 32, 64]:
        fm, fi = (
            maf(d, num_layers=LAYERS, hidden_units=HIDDEN),
            iaf(d, num_layers=LAYERS, hidden_units=HIDDEN),
        )
        samplers = [
            tf.function(
                lambda k, f=f: f.sample(k, seed=(1, 1)),
                input_signature=[spec],
                jit_compile=True,
            )
            for f in (fm, fi)
        ]
        k = tf.constant(256)
        for f in samplers:
            first_call(f, k)
        fns, m = blocks(samplers, k, rep_s)
        tm, ti = time_group(fns, repeats=repeats, warmup=0, min_time=min_time)
        r, lo, hi = ratio_spread(tm, ti)
        x = tf.random.stateless_normal([256, d], seed=[1, 2])
        lp = tf.function(lambda x, f=fm: f.log_prob(tf.identity(x)), jit_compile=True)
        first_call(lp, x)
        (fn,), ml = blocks([lp], x, rep_s)
        tl = time_calls(fn, repeats=repeats, warmup=0, min_time=min_time)
        print(
            f"| {d:>3} | {np.median(tm) / m * 1e3:10.2f} | "
            f"{np.median(ti) / m * 1e3:10.2f} | {r:7.1f} | {lo:.1f}-{hi:.1f}   "
            f"| {np.median(tl) / ml * 1e3:12.2f} |",
            flush=True,
        )
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
