"""Sampling speed: cached vs uncached PixelRNN (both XLA) vs tfd.PixelCNN.

Prints ms per image for 8x8 (and, unless --quick, 16x16 and 32x32), one
process, side by side with ratios. Untrained random weights: speed only.

    python benchmarks/pixel_rnn_sampling.py [--sizes 8 16] [--batch 4]
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow_probability as tfp  # noqa: E402

from tfp_flows.distributions import PixelRNNDistribution  # noqa: E402
from tfp_flows.layers import PixelRNN  # noqa: E402

tfd = tfp.distributions


def timed(fn, repeats=2):
    fn()  # compile / warm up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[8, 16])
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--skip-pixelcnn-above", type=int, default=8)
    a = p.parse_args()
    rows = []
    for size in a.sizes:
        for layer_type in ("row", "diagonal"):
            net = PixelRNN(
                (size, size, 1),
                num_levels=17,
                layer_type=layer_type,
                num_layers=2,
                hidden_units=16,
                output_units=32,
            )
            d = PixelRNNDistribution(net)
            cached = timed(lambda d=d: d.sample(a.batch, seed=1).numpy())
            uncached = timed(
                lambda d=d: d.sample(a.batch, seed=1, cached=False).numpy(), 1
            )
            rows.append((size, layer_type, cached, uncached))
            print(
                f"{size}x{size} {layer_type}: cached {cached:.2f}s "
                f"uncached {uncached:.2f}s",
                flush=True,
            )
    pcnn = {}
    for size in a.sizes:
        if size > a.skip_pixelcnn_above:
            continue
        dist = tfd.PixelCNN(
            image_shape=(size, size, 1),
            num_resnet=1,
            num_hierarchies=1,
            num_filters=16,
            num_logistic_mix=2,
            high=16,
        )
        pcnn[size] = timed(lambda dist=dist: dist.sample(a.batch, seed=1).numpy(), 1)
    print()
    print(
        "| size | layer | cached ms/img | uncached ms/img | uncached / cached "
        "| tfd.PixelCNN ms/img | PixelCNN / cached |"
    )
    print("|---|---|---|---|---|---|---|")
    for size, lt, c, u in rows:
        pc = pcnn.get(size)
        pcs = f"{1000 * pc / a.batch:.0f}" if pc else "-"
        pcr = f"{pc / c:.1f}x" if pc else "-"
        print(
            f"| {size}x{size} | {lt} | {1000 * c / a.batch:.1f} "
            f"| {1000 * u / a.batch:.1f} "
            f"| {u / c:.1f}x | {pcs} | {pcr} |"
        )


if __name__ == "__main__":
    main()
