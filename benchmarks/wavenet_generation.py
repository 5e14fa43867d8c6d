"""WaveNet generation: cached (queues per layer, Paine et al. 2016) vs naive.

Both generators are the package's own, compiled the same way
(`tf.function(jit_compile=True)` around one `tf.while_loop` over the steps)
and draw from the same noise, so for one seed they return the same samples
(checked here for every length, and printed). The naive generator is the
reference in its best configuration: at every step it re-runs the whole
causal stack on the last `receptive_field` steps only (the shortest window
that gives the exact outputs), not on the whole sequence so far.

Calls alternate (`_common.time_pair`) after the same warm-up; the first,
compiling call of each is timed apart. Ratios are medians of per-repetition
ratios (naive / cached; > 1: cached is faster) with their lowest-highest
spread; the verdict says "faster"/"slower" only when the whole spread is on
one side of 1.

    python benchmarks/wavenet_generation.py [--steps 1000 4000] [--repeats 3]
        [--batch 1] [--quick]

The default network: categorical output over 256 mu-law levels, residual 32,
skip 64 channels, kernel 2, dilations 1, 2, ..., 256 (one stack: receptive
field 513 steps, 32 ms at 16 kHz). `--quick`: dilations up to 32, 200 and
400 steps, 2 repetitions.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _common import _block  # noqa: E402
from _common import machine_line  # noqa: E402
from _common import param_count  # noqa: E402
from _common import ratio_spread  # noqa: E402
from _common import time_pair  # noqa: E402
from _common import verdict  # noqa: E402

from tfp_flows.distributions import wavenet  # noqa: E402

tf.get_logger().setLevel("ERROR")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, nargs="+", default=None)
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--max-dilation", type=int, default=None)
    p.add_argument("--stacks", type=int, default=1)
    p.add_argument("--residual", type=int, default=32)
    p.add_argument("--skip", type=int, default=64)
    p.add_argument("--quick", action="store_true")
    a = p.parse_args()
    steps = a.steps or ([200, 400] if a.quick else [1000, 4000])
    repeats = a.repeats or (2 if a.quick else 3)
    max_dilation = a.max_dilation or (32 if a.quick else 256)
    dilations = [2**i for i in range(int(np.log2(max_dilation)) + 1)] * a.stacks
    wall = time.perf_counter()
    print(machine_line(), flush=True)
    dist = wavenet(
        None,
        num_levels=256,
        residual_channels=a.residual,
        skip_channels=a.skip,
        dilations=dilations,
        seed=0,
    )
    net = dist.network
    print(
        f"WaveNet: categorical over 256 levels, residual {a.residual}, skip "
        f"{a.skip}, dilations {dilations[0]}..{dilations[-1]} x {a.stacks} "
        f"({len(dilations)} blocks), receptive field {net.receptive_field} steps, "
        f"{param_count(dist.trainable_variables):,} parameters; batch {a.batch}; "
        f"both generators XLA-compiled",
        flush=True,
    )
    rows = []
    for t in steps:

        def cached(t=t):
            return dist.sample(a.batch, seed=1, length=t)

        def naive(t=t):
            return dist.sample(a.batch, seed=1, length=t, cached=False)

        first = {}
        outs = {}
        for name, fn in (("cached", cached), ("naive", naive)):
            start = time.perf_counter()
            outs[name] = fn()
            _block(outs[name])
            first[name] = time.perf_counter() - start
        same = bool(np.array_equal(outs["cached"], outs["naive"]))
        t_naive, t_cached = time_pair(naive, cached, repeats=repeats, warmup=0)
        r, lo, hi = ratio_spread(t_naive, t_cached)
        rows.append(
            (t, np.median(t_cached), np.median(t_naive), r, lo, hi, same, first)
        )
        print(
            f"{t} steps: cached {1000 * np.median(t_cached):.0f} ms, naive "
            f"{1000 * np.median(t_naive):.0f} ms, identical samples: {same}",
            flush=True,
        )
    print()
    print(
        "| steps | cached (ms) | cached (ms/step) | naive (ms) | naive (ms/step) "
        "| naive / cached [spread] | verdict (cached) | same samples "
        "| first call cached / naive (s) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for t, c, n, r, lo, hi, same, first in rows:
        print(
            f"| {t} | {1000 * c:.0f} | {1000 * c / t:.3f} | {1000 * n:.0f} | "
            f"{1000 * n / t:.2f} | {r:.1f}x [{lo:.1f}-{hi:.1f}] | "
            f"{verdict(r, lo, hi)} | {'yes' if same else 'NO'} | "
            f"{first['cached']:.1f} / {first['naive']:.1f} |"
        )
    print(
        f"\n{repeats} timed repetitions each (medians), calls alternating; "
        f"total wall {time.perf_counter() - wall:.0f} s."
    )


if __name__ == "__main__":
    main()
