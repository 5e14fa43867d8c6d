"""Glow's training step in float32 and in mixed bfloat16, side by side.

`flows.glow(..., dtype_policy='mixed_bfloat16')` computes the coupling
networks in bfloat16 over float32 weights; ActNorm, the 1x1 convolutions,
the log-dets, the priors and the base density stay in float32. This script
times one `FlowModel` training step (`train_on_batch`, Adam, data-initialized
ActNorms) for

- float32, `jit_compile=False` (TensorFlow's oneDNN kernels),
- mixed_bfloat16, `jit_compile=False`,
- float32, `jit_compile=True` (XLA; not with `--no-xla`),
- mixed_bfloat16, `jit_compile=True` (not with `--no-xla`),

all four built with the same seed in one process, their calls rotating
(`_common.time_group`), so load from other processes hits them alike. The
ratio column is the float32 step's time (the faster float32 variant, per
round) over the bfloat16 (oneDNN) step's; the verdict says "faster" only when
every round agrees. Also printed: the first step of each variant (trace +
compile, one measurement), parameter counts, and the achieved GFLOP/s of the
convolutions (`glow_conv_flops`: forward multiply-adds of every coupling
network and 1x1 convolution counted as 2 FLOP, times 3 for a training step).

On a CPU without AVX512-BF16 (or AMX) bfloat16 runs emulated and slower; on a
GPU use `mixed_float16`, which this script selects when TensorFlow sees one.

    python benchmarks/mixed_precision.py [--configs 3x8x256/16 ...] [--no-xla] [--quick]
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from _common import machine_line  # noqa: E402
from _common import param_count  # noqa: E402
from _common import ratio_spread  # noqa: E402
from _common import time_group  # noqa: E402
from _common import verdict  # noqa: E402

SHAPE = (32, 32, 3)
DEFAULT_CONFIGS = ("2x4x64/64", "3x8x256/16", "3x32x512/16")
QUICK_CONFIGS = ("2x2x32/16",)


def parse_config(text):
    """`'LxKxW/B'` -> (levels, steps, width, batch)."""
    try:
        size, batch = text.split("/")
        levels, steps, width = (int(v) for v in size.split("x"))
        return levels, steps, width, int(batch)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "a configuration is LEVELSxSTEPSxWIDTH/BATCH, e.g. 3x8x256/16; "
            f"got {text!r}"
        ) from None


def glow_conv_flops(shape, levels, steps, width):
    """Convolution FLOPs of one training step of `flows.glow`, per image.

    Forward: at level i (after the squeeze: H/2^i x W/2^i x C), each of the K
    steps runs a 1x1 convolution C -> C and a coupling network conv3x3(C/2 ->
    W), conv1x1(W -> W), conv3x3(W -> C) (C = shift and scale of the C/2
    transformed channels). A multiply-add is 2 FLOP; the backward pass costs
    about twice the forward, so a training step is 3x the forward.
    """
    h, w, c = shape
    total = 0
    for _ in range(levels):
        h, w, c = h // 2, w // 2, c * 4
        half = c // 2
        per_step = 9 * (c - half) * width + width * width + 9 * width * 2 * half
        per_step += c * c  # the invertible 1x1 convolution
        total += steps * 2 * h * w * per_step
        c //= 2
    return 3 * total


def _build(levels, steps, width, policy, jit, x):
    from tfp_flows import flows
    from tfp_flows.internal.keras import keras
    from tfp_flows.layers import FlowModel

    flow = flows.glow(
        SHAPE,
        num_levels=levels,
        num_steps=steps,
        hidden_units=width,
        dtype_policy=policy,
        seed=1,
    )
    model = FlowModel(flow)
    model.initialize_act_norms(x)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), jit_compile=jit)
    return model


def run_config(levels, steps, width, batch, repeats, policy16, xla=True):
    import tensorflow as tf

    x = tf.random.stateless_uniform([batch, *SHAPE], seed=[0, 1]) - 0.5
    variants = [
        ("float32, oneDNN", None, False),
        (f"{policy16}, oneDNN", policy16, False),
    ]
    if xla:
        variants += [("float32, XLA", None, True), (f"{policy16}, XLA", policy16, True)]
    models, firsts = [], []
    for _, policy, jit in variants:
        model = _build(levels, steps, width, policy, jit, x)
        t0 = time.perf_counter()
        np.asarray(model.train_on_batch(x))
        firsts.append(time.perf_counter() - t0)
        models.append(model)
    fns = [lambda m=m: m.train_on_batch(x) for m in models]
    times = time_group(fns, repeats=repeats, warmup=1)
    n_params = param_count(models[0].trainable_weights)
    flops = glow_conv_flops(SHAPE, levels, steps, width) * batch
    best32 = np.minimum(times[0], times[2]) if xla else np.asarray(times[0])
    ratio, low, high = ratio_spread(best32, times[1])
    rows = []
    for (label, _, _), first, ts in zip(variants, firsts, times, strict=True):
        med = float(np.median(ts))
        rows.append(
            f"| {levels}x{steps}x{width} | {batch} | {label} | {first:.1f} s | "
            f"{med * 1e3:.0f} ms ({min(ts) * 1e3:.0f}-{max(ts) * 1e3:.0f}) | "
            f"{flops / med / 1e9:.0f} |"
        )
    rows.append(
        f"| {levels}x{steps}x{width} | {batch} | **{policy16} (oneDNN) vs best "
        f"float32** | | **{ratio:.2f}x** ({low:.2f}-{high:.2f}), "
        f"{verdict(ratio, low, high)} | |"
    )
    return n_params, rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", nargs="+", type=parse_config)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one tiny configuration")
    parser.add_argument(
        "--no-xla",
        action="store_true",
        help="only the oneDNN variants (half the memory: for the 44M-parameter "
        "configuration on a small machine)",
    )
    args = parser.parse_args(argv)
    import tensorflow as tf

    configs = args.configs or [
        parse_config(c) for c in (QUICK_CONFIGS if args.quick else DEFAULT_CONFIGS)
    ]
    repeats = 2 if args.quick else args.repeats
    policy16 = (
        "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"
    )
    print(machine_line(f"images {SHAPE[0]}x{SHAPE[1]}x{SHAPE[2]}, Adam"))
    print()
    print(
        "| levels x steps x width | batch | variant | first step | training step "
        "(median, range) | conv GFLOP/s |"
    )
    print("|---|---|---|---|---|---|")
    for levels, steps, width, batch in configs:
        n_params, rows = run_config(
            levels, steps, width, batch, repeats, policy16, xla=not args.no_xla
        )
        for row in rows:
            print(row, flush=True)
        print(f"|  {levels}x{steps}x{width}: {n_params} parameters | | | | | |")


if __name__ == "__main__":
    main()
