"""MAF/IAF speed against TFP's MaskedAutoregressiveFlow + AutoregressiveNetwork.

Equal sizes: 5 layers, hidden [64, 64], reverse permutation between layers
(ours folds it into the MADE orderings: the same model, no gathers),
float32. Prints throughput (thousand rows/s) of `log_prob` and `sample` in
eager, `tf.function` and XLA, the ratio ours/TFP, the bare limit (a chain of
dense matmuls of the same shapes, XLA) and our fraction of it; then MAF vs IAF
sampling as D grows. All in one process, and the calls of ours and TFP's
alternate, so load from other jobs hits both alike and the ratios are
comparable.

    python benchmarks/maf_speed.py [--quick]
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_probability as tfp  # noqa: E402

from tfp_flows.flows.autoregressive import iaf, maf  # noqa: E402

tfb, tfd = tfp.bijectors, tfp.distributions
LAYERS, HIDDEN = 5, [64, 64]


def tfp_maf(d):
    bijectors = []
    for i in range(LAYERS):
        # activation: TFP's default is None (a linear MADE); ours uses ReLU,
        # so TFP gets ReLU too for equal models.
        net = tfb.AutoregressiveNetwork(
            params=2, hidden_units=HIDDEN, event_shape=[d], activation="relu"
        )
        bijectors.append(tfb.MaskedAutoregressiveFlow(net, name=f"tfp_maf_{i}"))
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


def bench(fn, arg, min_time):
    fn(arg)  # compile / warm up
    fn(arg)
    times, start = [], time.perf_counter()
    while len(times) < 3 or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        out = fn(arg)
        np.asarray(tf.nest.flatten(out)[0])
        times.append(time.perf_counter() - t0)
        if len(times) >= 50:
            break
    return float(np.median(times))


def bench_pair(fa, fb, arg, min_time):
    """Median seconds of two functions whose calls alternate, so that load
    from other processes hits both alike (the ratio is what we report)."""
    for f in (fa, fb):
        f(arg)  # compile / warm up
        f(arg)
    times, start = ([], []), time.perf_counter()
    while len(times[0]) < 5 or time.perf_counter() - start < 2 * min_time:
        for f, ts in zip((fa, fb), times, strict=True):
            t0 = time.perf_counter()
            np.asarray(tf.nest.flatten(f(arg))[0])
            ts.append(time.perf_counter() - t0)
        if len(times[0]) >= 60:
            break
    return float(np.median(times[0])), float(np.median(times[1]))


def modes(fn, spec):
    return {
        "eager": fn,
        "function": tf.function(fn, input_signature=[spec]),
        "xla": tf.function(fn, input_signature=[spec], jit_compile=True),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="D=8 only, shorter runs")
    args = parser.parse_args()
    min_time = 0.3 if args.quick else 1.0
    dims = [8] if args.quick else [8, 64]
    batches = [256] if args.quick else [256, 4096]
    rows = []
    for d in dims:
        ours, theirs = maf(d, num_layers=LAYERS, hidden_units=HIDDEN), tfp_maf(d)
        ours_iaf = iaf(d, num_layers=LAYERS, hidden_units=HIDDEN)
        for n in batches:
            x = tf.random.stateless_normal([n, d], seed=[1, 2])
            nspec = tf.TensorSpec([], tf.int32)
            xspec = tf.TensorSpec([None, d], tf.float32)
            for what in ("log_prob", "sample"):
                for mode in ("eager", "function", "xla"):
                    if what == "sample" and mode == "eager" and d == 64 and n == 4096:
                        continue  # minutes in eager for TFP; not informative
                    fs = {}
                    for name, flow in (("ours", ours), ("tfp", theirs)):
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
                    t_ours, t_tfp = bench_pair(fs["ours"], fs["tfp"], arg, min_time)
                    rows.append(
                        (f"MAF {what}", d, n, mode, n / t_ours / 1e3, n / t_tfp / 1e3)
                    )
            f = tf.function(
                lambda k, f=ours_iaf: f.sample(k, seed=(3, 4)),
                input_signature=[nspec],
                jit_compile=True,
            )
            rows.append(
                (
                    "IAF sample",
                    d,
                    n,
                    "xla",
                    n / bench(f, tf.constant(n), min_time) / 1e3,
                    None,
                )
            )
            lim = tf.function(dense_limit(d), input_signature=[xspec], jit_compile=True)
            rows.append(
                ("dense limit", d, n, "xla", n / bench(lim, x, min_time) / 1e3, None)
            )

    print(
        f"\nThroughput, thousand rows/s (5 layers, hidden {HIDDEN}, float32, "
        f"{os.cpu_count()} CPU cores); ratio = ours / TFP\n"
    )
    print(
        f"| {'what':<12} | {'D':>3} | {'batch':>5} | {'mode':<8} "
        f"| {'ours':>9} | {'TFP':>9} | {'ratio':>6} |"
    )
    print("|" + "|".join("-" * w for w in (14, 5, 7, 10, 11, 11, 8)) + "|")
    for what, d, n, mode, a, b in rows:
        tb = f"{b:9.1f}" if b else " " * 9
        r = f"{a / b:6.2f}" if b else " " * 6
        print(f"| {what:<12} | {d:>3} | {n:>5} | {mode:<8} | {a:9.1f} | {tb} | {r} |")
    print("\nOur XLA log_prob as a fraction of the dense-matmul limit:")
    lim = {(d, n): a for what, d, n, _, a, _ in rows if what == "dense limit"}
    for what, d, n, mode, a, _ in rows:
        if what == "MAF log_prob" and mode == "xla":
            print(f"  D={d:>2} batch={n:>4}: {a / lim[(d, n)]:.2f}")

    print(
        "\nSampling cost as D grows (batch 256, XLA, ms per batch): MAF needs D "
        "passes per layer, IAF one"
    )
    print(
        f"| {'D':>3} | {'MAF sample':>10} | {'IAF sample':>10} "
        f"| {'MAF/IAF':>7} | {'MAF log_prob':>12} |"
    )
    print("|-----|------------|------------|---------|--------------|")
    for d in [4, 8, 16] if args.quick else [4, 8, 16, 32, 64]:
        fm, fi = (
            maf(d, num_layers=LAYERS, hidden_units=HIDDEN),
            iaf(d, num_layers=LAYERS, hidden_units=HIDDEN),
        )
        spec = tf.TensorSpec([], tf.int32)
        tm = bench(
            tf.function(
                lambda k, f=fm: f.sample(k, seed=(1, 1)),
                input_signature=[spec],
                jit_compile=True,
            ),
            tf.constant(256),
            min_time,
        )
        ti = bench(
            tf.function(
                lambda k, f=fi: f.sample(k, seed=(1, 1)),
                input_signature=[spec],
                jit_compile=True,
            ),
            tf.constant(256),
            min_time,
        )
        x = tf.random.stateless_normal([256, d], seed=[1, 2])
        tl = bench(
            tf.function(lambda x, f=fm: f.log_prob(tf.identity(x)), jit_compile=True),
            x,
            min_time,
        )
        print(
            f"| {d:>3} | {tm * 1e3:10.2f} | {ti * 1e3:10.2f} "
            f"| {tm / ti:7.1f} | {tl * 1e3:12.2f} |"
        )


if __name__ == "__main__":
    main()
