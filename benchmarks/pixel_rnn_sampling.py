"""Sampling speed: cached vs uncached PixelRNN vs tfd.PixelCNN, same protocol.

For each image size, every sampler (PixelRNN Row LSTM and Diagonal BiLSTM,
each with the cached and the uncached loop, and `tfd.PixelCNN`) is wrapped
the same way: `tf.function(jit_compile=True)` when XLA compiles it, else a
plain `tf.function` (the mode used is printed). All get the same warm-up
(the first, compiling call, timed apart) and the same number of timed calls,
made round-robin (`_common.time_group`) so load from other processes hits
them alike; ratios are medians of the per-round ratios with their
lowest-highest spread, and the verdict says "faster"/"slower" only when
the whole spread is on one side of 1 (`_common.verdict`).

`tfd.PixelCNN` gets a filter count whose parameter count is closest to the
mean of the two PixelRNNs' (printed, with every model's count), and its
weight norm is initialised, as TFP documents, by a first `log_prob` call on
real images: digits (`tfp_flows.data.load_digits('train')`) at 8x8, the same
digits resized (bilinear, rounded to 0..16) at other sizes. Weights are
otherwise untrained: this measures speed only.

    python benchmarks/pixel_rnn_sampling.py [--sizes 8 16 32] [--batch 4] \
        [--repeats 5] [--eager-reference]

`--eager-reference` also times `tfd.PixelCNN.sample` called eagerly at the
smallest size (the protocol of the old README figures), for comparison.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_probability as tfp  # noqa: E402
from _common import _block  # noqa: E402
from _common import machine_line  # noqa: E402
from _common import param_count  # noqa: E402
from _common import ratio_spread  # noqa: E402
from _common import time_group  # noqa: E402
from _common import verdict  # noqa: E402

from tfp_flows.data import load_digits  # noqa: E402
from tfp_flows.distributions import PixelRNNDistribution  # noqa: E402
from tfp_flows.layers import PixelRNN  # noqa: E402

tfd = tfp.distributions
tf.get_logger().setLevel("ERROR")  # one tf.function per sampler, by design

LEVELS = 17
LAYERS = ("row", "diagonal")
LAYER_NAMES = {"row": "Row LSTM", "diagonal": "Diagonal BiLSTM"}


def compile_sampler(fn):
    """`(compiled, mode, first-call s)`: XLA if it compiles, else tf.function."""
    for mode, jit in (("XLA", True), ("tf.function", False)):
        compiled = tf.function(fn, jit_compile=jit, autograph=False)
        start = time.perf_counter()
        try:
            _block(compiled())
        except Exception as e:  # noqa: BLE001 - any compile failure: fall back
            print(f"  XLA failed ({type(e).__name__}); using tf.function", flush=True)
            continue
        return compiled, mode, time.perf_counter() - start
    raise RuntimeError("sampler does not run under tf.function")


def digits_like(size, count=64):
    """`count` training digits as float images in 0..16, resized to `size`."""
    x = load_digits("train")[:count].astype("float32")
    if size != 8:
        x = tf.image.resize(x, (size, size), method="bilinear").numpy()
    return np.clip(np.round(x), 0, LEVELS - 1).astype("float32")


def make_pixelcnn(size, num_filters, data):
    dist = tfd.PixelCNN(
        image_shape=(size, size, 1),
        num_resnet=1,
        num_hierarchies=1,
        num_filters=num_filters,
        num_logistic_mix=2,
        high=LEVELS - 1,
        low=0,
    )
    dist.log_prob(data)  # weight norm's data-dependent init on real images
    return dist


def match_filters(target, data, low=2, high=64):
    """Filter count whose tfd.PixelCNN parameter count is closest to `target`.

    The count grows with the filters, so this bisects, building one 8x8
    network per probe (the count does not depend on the image size).
    """
    counts = {}

    def count(f):
        if f not in counts:
            counts[f] = param_count(
                make_pixelcnn(8, f, data).network.trainable_variables
            )
        return counts[f]

    while high - low > 1:
        mid = (low + high) // 2
        if count(mid) < target:
            low = mid
        else:
            high = mid
    return min((low, high), key=lambda f: abs(count(f) - target))


def fmt_ratio(times_ref, times_ours):
    r, lo, hi = ratio_spread(times_ref, times_ours)
    return f"{r:.1f}x [{lo:.1f}-{hi:.1f}]", verdict(r, lo, hi)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 32])
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument(
        "--warmup", type=int, default=1, help="untimed calls after the first"
    )
    p.add_argument("--hidden", type=int, default=16)
    p.add_argument("--output-units", type=int, default=32)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument(
        "--pixelcnn-filters", type=int, default=None, help="default: match params"
    )
    p.add_argument("--eager-reference", action="store_true")
    a = p.parse_args()
    wall = time.perf_counter()
    print(machine_line(), flush=True)
    digits8 = digits_like(8)

    def make_rnn(size, layer_type):
        net = PixelRNN(
            (size, size, 1),
            num_levels=LEVELS,
            layer_type=layer_type,
            num_layers=a.layers,
            hidden_units=a.hidden,
            output_units=a.output_units,
        )
        return PixelRNNDistribution(net)

    # Parameter counts do not depend on the image size (all convolutions).
    rnn_params = {}
    for lt in LAYERS:
        d = make_rnn(8, lt)
        d.log_prob(digits8.astype("int32")[:4])
        rnn_params[lt] = param_count(d.trainable_variables)
    target = float(np.mean(list(rnn_params.values())))
    filters = a.pixelcnn_filters or match_filters(target, digits8)
    pcnn_params = param_count(
        make_pixelcnn(8, filters, digits8).network.trainable_variables
    )
    print(
        f"params: PixelRNN Row LSTM {rnn_params['row']:,}, Diagonal BiLSTM "
        f"{rnn_params['diagonal']:,}; tfd.PixelCNN ({filters} filters) "
        f"{pcnn_params:,}",
        flush=True,
    )

    rows, modes, eager = [], {}, None
    for size in a.sizes:
        data = digits_like(size)
        names, fns = [], []
        for lt in LAYERS:
            dist = make_rnn(size, lt)
            for cached in (True, False):
                name = f"{lt} {'cached' if cached else 'uncached'}"

                def sample(dist=dist, cached=cached):
                    return dist.sample(a.batch, seed=1, cached=cached)

                names.append(name)
                fns.append(sample)
        pcnn = make_pixelcnn(size, filters, data)
        names.append("pixelcnn")
        fns.append(lambda pcnn=pcnn: pcnn.sample(a.batch, seed=1))
        compiled, first = [], {}
        for name, fn in zip(names, fns, strict=True):
            c, mode, seconds = compile_sampler(fn)
            compiled.append(c)
            modes[(size, name)] = mode
            first[name] = seconds
            print(
                f"{size}x{size} {name}: {mode}, first call {seconds:.1f} s", flush=True
            )
        times = time_group(compiled, repeats=a.repeats, warmup=a.warmup)
        t = dict(zip(names, times, strict=True))
        for name in names:
            ms = 1000 * np.median(t[name]) / a.batch
            calls = ", ".join(f"{s:.3f}" for s in t[name])
            print(f"{size}x{size} {name}: {ms:.1f} ms/img; calls {calls} s", flush=True)
        rows.append((size, t, first))
        if a.eager_reference and eager is None:
            _block(pcnn.sample(a.batch, seed=1))  # warm-up
            ts = []
            for _ in range(max(2, a.repeats // 2)):
                t0 = time.perf_counter()
                _block(pcnn.sample(a.batch, seed=1))
                ts.append(time.perf_counter() - t0)
            eager = (size, ts, t["pixelcnn"])

    print()
    print(machine_line())
    print(
        f"random weights (tfd.PixelCNN weight norm data-initialised on digits), "
        f"{LEVELS} levels, batch {a.batch}; PixelRNN {a.layers} layers, "
        f"h={a.hidden}, output {a.output_units}: Row LSTM {rnn_params['row']:,} "
        f"params, Diagonal BiLSTM {rnn_params['diagonal']:,}; tfd.PixelCNN 1 resnet, "
        f"1 hierarchy, {filters} filters, 2 logistic mixtures: {pcnn_params:,} "
        f"params; every sampler in tf.function, XLA where it compiles; 1 compiling "
        f"call + {a.warmup} warm-up, then {a.repeats} timed calls each, "
        f"round-robin; ms/img = median; ratio = median of per-round ratios "
        f"[lowest-highest]; total wall {time.perf_counter() - wall:.0f} s"
    )
    print()
    print(
        "| size | layer | cached ms/img | uncached ms/img | uncached / cached "
        "| tfd.PixelCNN ms/img | PixelCNN / cached | verdict (cached vs PixelCNN) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for size, t, _ in rows:
        for lt in LAYERS:
            c, u, pc = t[f"{lt} cached"], t[f"{lt} uncached"], t["pixelcnn"]
            uc, _ = fmt_ratio(u, c)
            pr, pv = fmt_ratio(pc, c)
            print(
                f"| {size}x{size} | {LAYER_NAMES[lt]} "
                f"| {1000 * np.median(c) / a.batch:.1f} "
                f"| {1000 * np.median(u) / a.batch:.1f} | {uc} "
                f"| {1000 * np.median(pc) / a.batch:.1f} | {pr} | {pv} |"
            )
    print()
    print("| size | sampler | mode | first call s |")
    print("|---|---|---|---|")
    for size, _, first in rows:
        for name, seconds in first.items():
            print(f"| {size}x{size} | {name} | {modes[(size, name)]} | {seconds:.1f} |")
    if eager is not None:
        size, ts, compiled_ts = eager
        print()
        print(
            f"tfd.PixelCNN {size}x{size} eager (no tf.function, the old protocol): "
            f"median {1000 * np.median(ts) / a.batch:.0f} ms/img over {len(ts)} calls "
            f"after 1 warm-up, vs {1000 * np.median(compiled_ts) / a.batch:.1f} "
            f"ms/img compiled ({np.median(ts) / np.median(compiled_ts):.0f}x)"
        )


if __name__ == "__main__":
    main()
