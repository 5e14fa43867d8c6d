"""Glow at the size people train it: ours (`FlowModel.fit`'s step) vs normflows.

Ours: `tfp_flows.flows.glow` wrapped in `tfp_flows.layers.FlowModel`, compiled
with `jit_compile=True` and with `jit_compile=False` (one row each), trained
through Keras' train function (`train_on_batch` runs the same compiled
`train_function` that `fit` runs). The reference: normflows' multi-scale Glow
(PyTorch), built the way its documentation's Glow example builds it: per level
K `nf.flows.GlowBlock`s (affine coupling with a conv3x3-conv1x1-conv3x3 network
of the same hidden width, sigmoid scale and zero-initialized last layer;
invertible 1x1 convolution with LU; ActNorm initialized on the first batch),
`nf.flows.Squeeze`, `nf.flows.Merge`, one `nf.distributions.GlowBase` prior per
level, in `nf.MultiscaleFlow`; eager PyTorch, as its docs train it. Both use
Adam (learning rate 1e-4) on the mean negative log-likelihood of the same
batch of uniform [-0.5, 0.5) images, float32. PyTorch keeps its default
OpenMP spin-wait (its fast setting on an idle machine); `--omp-passive` sets
`OMP_WAIT_POLICY=PASSIVE`, the fast setting on a machine shared with other
jobs (see the comment below).

Configurations (`--configs`, comma-separated):

    3x32x512-b16   32x32x3, 3 levels x 32 steps, width 512, batch 16 (Glow's CIFAR-10)
    3x32x512-b64   the same, batch 64 (not in the default list: minutes a row)
    3x8x256-b16    32x32x3, 3 levels x 8 steps, width 256, batch 16
    3x8x256-b64    the same, batch 64
    small-b64      16x16x3, 2 levels x 4 steps, width 64, batch 64 (`--quick`)
    depthK-w128    32x32x3, 3 levels x K steps (K = 8, 16, 32), width 128,
                   batch 16: memory against depth (not in the default list)
    depthK-w128-b64  the same at batch 64 (there the activations, not the
                   gradients of the K-sized weights, are most of a step's memory)
    tiny-b8        8x8x3, 1 level x 1 step, width 8, batch 8 (a smoke test only)

Protocol, the same for every row: each library and configuration runs in its
own subprocess (so its peak RSS, `VmHWM`, is its own); ActNorm is initialized
data-dependently on the batch; then the first training step is timed (for ours
it includes tracing and compiling the train function: "time to first step";
"first - step s" is that minus the median step, the cost beyond a step's
work; "ActNorm init s" is the data-dependent initialization pass before it;
ours builds the optimizer's state just before, timed as part of the first
step), one more untimed step warms up, and N training steps are timed (median,
with the lowest and highest); "step memory MB" is the peak RSS minus the RSS
holding the weights and the optimizer's state (for normflows, whose Adam
allocates its state in its first step, the RSS before that step plus the two
float32 tensors per parameter it allocates); then `log_prob` without gradients (ours:
`tf.function` with the row's `jit_compile`; normflows: `torch.no_grad()`): one
warm-up call, N timed calls, each on a fresh tensor (TFP caches bijector
results by tensor). Ratios are normflows time / our time (> 1: ours faster).
With one round (the default) the rows are unpaired, so the spread is the
widest one (lowest reference step / highest ours to highest / lowest, over
single steps). With `--rounds R` (R >= 2) every row's subprocess runs R
times, the rows taking turns (round 1: normflows, ours..., round 2: the same,
...), so load that drifts over minutes hits both alike; the ratio is then the
median of the R per-round ratios of median times (each round's ours against
the same round's normflows, paired) and the spread their lowest and highest:
the run-to-run spread, not single steps' jitter. The step column pools every
round's steps, first step and `log_prob` are medians over rounds, peak RSS
and step memory the highest round's. `_common.verdict` says "faster"/"slower"
only when the whole spread is on one side of 1, else "on par".

Parameter counts: both are printed, with normflows' "effective" count beside
its raw one: its LU 1x1 convolution stores full C x C `L` and `U` matrices of
which only the strict triangles are used (C * (C + 1) unused numbers per
step). The effective counts must agree within 1% (printed).

Achieved GFLOP/s: analytic count of the convolutions of the training step,
the same for both libraries (they run the same convolutions): per GlowStep at
a level with C channels on an S x S grid and width W, a forward pass costs
2 * S^2 * (9 * (C/2) * W + W * W + 9 * W * C + C * C) FLOP (coupling conv3x3,
conv1x1, zero conv3x3, invertible 1x1 conv); a training step is counted as 3x
the forward (forward + backward for inputs and weights). ActNorm, the
squeezes, the split priors (ours: a 3x3 conv on the kept half; normflows: a
per-channel Gaussian), the log-determinants and the optimizer are left out
(< 1% at width >= 256). At 3x32x512 this gives 8.0 GFLOP per image forward,
24 per image per training step.

Extra flow options: `--flow-option KEY=VALUE` (repeatable; VALUE a Python
literal) adds rows for ours built with `glow(..., KEY=VALUE)`. Without it, the
options `stacked_steps` and `reversible` are detected in `glow`'s signature
(`inspect.signature`) and, when present, the rows are run for the builds
`stacked_steps=False` and the detected ones set to True, and for `glow()`'s
default build where it is neither (stacked without reversible gradients, from
`STACKED_FROM_STEPS` to `REVERSIBLE_FROM_STEPS` steps per level); the script
prints the default build and marks its row "(default)" (`--default-only`:
`glow()`'s default build only).

The device is detected and printed: with a GPU, TensorFlow and PyTorch place
the models there (peak device memory is then printed beside RSS).

    python benchmarks/glow_at_scale.py [--quick] [--configs small-b64,3x8x256-b16]
        [--no-reference] [--flow-option stacked_steps=True] [--reps N]
        [--rounds R]
"""

import argparse
import ast
import inspect
import json
import os
import subprocess
import sys
import time

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

CONFIGS = {
    "3x32x512-b16": dict(shape=(32, 32, 3), levels=3, steps=32, width=512, batch=16),
    "3x32x512-b64": dict(shape=(32, 32, 3), levels=3, steps=32, width=512, batch=64),
    "3x8x256-b16": dict(shape=(32, 32, 3), levels=3, steps=8, width=256, batch=16),
    "3x8x256-b64": dict(shape=(32, 32, 3), levels=3, steps=8, width=256, batch=64),
    "small-b64": dict(shape=(16, 16, 3), levels=2, steps=4, width=64, batch=64),
    # memory against depth (`--configs depth8-w128,depth16-w128,depth32-w128`)
    "depth8-w128": dict(shape=(32, 32, 3), levels=3, steps=8, width=128, batch=16),
    "depth16-w128": dict(shape=(32, 32, 3), levels=3, steps=16, width=128, batch=16),
    "depth32-w128": dict(shape=(32, 32, 3), levels=3, steps=32, width=128, batch=16),
    # ... at batch 64, where the activations outweigh the K-sized gradient
    "depth8-w128-b64": dict(shape=(32, 32, 3), levels=3, steps=8, width=128, batch=64),
    "depth16-w128-b64": dict(
        shape=(32, 32, 3), levels=3, steps=16, width=128, batch=64
    ),
    "depth32-w128-b64": dict(
        shape=(32, 32, 3), levels=3, steps=32, width=128, batch=64
    ),
    # not in the default list: a seconds-long smoke test of the script itself
    "tiny-b8": dict(shape=(8, 8, 3), levels=1, steps=1, width=8, batch=8),
}
DEFAULT_CONFIGS = ["3x32x512-b16", "3x8x256-b16", "3x8x256-b64", "small-b64"]
DEFAULT_REPS = {
    "3x32x512-b16": 5,
    "3x32x512-b64": 3,
    "3x8x256-b16": 10,
    "3x8x256-b64": 8,
    "small-b64": 20,
    "depth8-w128": 5,
    "depth16-w128": 5,
    "depth32-w128": 5,
    "depth8-w128-b64": 5,
    "depth16-w128-b64": 5,
    "depth32-w128-b64": 5,
    "tiny-b8": 3,
}
DETECTED_OPTIONS = ("stacked_steps", "reversible")
LEARNING_RATE = 1e-4


# -- shared --------------------------------------------------------------------


def peak_rss_mb():
    """Peak resident set size of this process (VmHWM), MB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:  # pragma: no cover - not Linux
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_mb():
    """Resident set size of this process now (VmRSS), MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")  # pragma: no cover - not Linux


def forward_flop_per_image(cfg):
    """Analytic FLOP of one forward pass of one image (convolutions only)."""
    h, _, c = cfg["shape"]
    w, total = cfg["width"], 0
    for _ in range(cfg["levels"]):
        c *= 4
        h //= 2
        per_step = 9 * (c // 2) * w + w * w + 9 * w * c + c * c
        total += cfg["steps"] * 2 * h * h * per_step
        c //= 2
    return total


def train_flop_per_image(cfg):
    return 3 * forward_flop_per_image(cfg)


def data(cfg):
    import numpy as np

    rng = np.random.RandomState(0)
    shape = (cfg["batch"], *cfg["shape"])
    return (rng.uniform(size=shape) - 0.5).astype("float32")


def glow_options():
    """The extra options of `flows.glow` this benchmark knows, if present."""
    from tfp_flows.flows import glow

    params = inspect.signature(glow).parameters
    return [k for k in DETECTED_OPTIONS if k in params]


def default_build(cfg):
    """`glow()`'s default values of the detected options at `cfg`.

    From `tfp_flows.flows.glow`'s rules (`STACKED_FROM_STEPS`,
    `REVERSIBLE_FROM_STEPS`; a version without the latter made every stacked
    level reversible).
    """
    import importlib

    module = importlib.import_module("tfp_flows.flows.glow")
    options = glow_options()
    steps = cfg["steps"]
    stacked = steps >= getattr(module, "STACKED_FROM_STEPS", 1)
    reversible = stacked and steps >= getattr(module, "REVERSIBLE_FROM_STEPS", 1)
    out = {}
    if "stacked_steps" in options:
        out["stacked_steps"] = stacked
    if "reversible" in options:
        out["reversible"] = reversible if stacked else False
    return out


def build_of(opts, default):
    """The build `glow(**opts)` makes, as `default_build` writes it."""
    out = dict(default)
    out.update({k: v for k, v in opts.items() if k in default})
    if out.get("stacked_steps") is False and "reversible" in out:
        out["reversible"] = False  # unstacked: no reversible loop
    return out


# -- workers (one library and configuration per process) -------------------------


def worker_ours(cfg, jit, options, reps):
    import numpy as np
    import tensorflow as tf

    from tfp_flows.flows import glow
    from tfp_flows.internal.keras import keras
    from tfp_flows.layers import FlowModel

    gpus = tf.config.list_physical_devices("GPU")
    keras.utils.set_random_seed(0)
    x = data(cfg)
    flow = glow(
        cfg["shape"],
        num_levels=cfg["levels"],
        num_steps=cfg["steps"],
        hidden_units=cfg["width"],
        seed=0,
        **options,
    )
    model = FlowModel(flow)
    t0 = time.perf_counter()
    model.initialize_act_norms(x)
    init_s = time.perf_counter() - t0
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), jit_compile=jit)
    res = {
        "params": int(sum(int(np.prod(v.shape)) for v in model.trainable_weights)),
        "device": "GPU" if gpus else "CPU",
        "init_s": init_s,
    }
    # The optimizer's state (Adam's two slots per weight) is built first and
    # timed as part of the first step, so the RSS read here holds every
    # weight and slot: the peak above it is the training step's own memory.
    t0 = time.perf_counter()
    model.optimizer.build(model.trainable_variables)
    build_s = time.perf_counter() - t0
    res["state_rss_mb"] = rss_mb()
    t0 = time.perf_counter()
    loss0 = float(model.train_on_batch(x))
    res["first_step_s"] = build_s + time.perf_counter() - t0
    model.train_on_batch(x)  # warm-up
    steps, losses = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        losses.append(float(model.train_on_batch(x)))
        steps.append(time.perf_counter() - t0)
    res["step_s"], res["loss_first"], res["loss_last"] = steps, loss0, losses[-1]

    lp = tf.function(lambda t: flow.log_prob(t), jit_compile=jit)
    xt = tf.constant(x)
    t0 = time.perf_counter()
    np.asarray(lp(tf.identity(xt)))
    res["lp_first_s"] = time.perf_counter() - t0
    np.asarray(lp(tf.identity(xt)))
    times = []
    for _ in range(reps):
        arg = tf.identity(xt)
        t0 = time.perf_counter()
        np.asarray(lp(arg))
        times.append(time.perf_counter() - t0)
    res["lp_s"] = times
    res["rss_peak_mb"] = peak_rss_mb()
    if gpus:
        info = tf.config.experimental.get_memory_info("GPU:0")
        res["device_peak_mb"] = info["peak"] / 2**20
    return res


def normflows_glow(cfg):
    """normflows' multi-scale Glow as its documentation's example builds it."""
    import normflows as nf

    h, w, c = cfg["shape"]
    big_l, k, width = cfg["levels"], cfg["steps"], cfg["width"]
    q0, merges, flows = [], [], []
    for i in range(big_l):
        level = [
            nf.flows.GlowBlock(
                c * 2 ** (big_l + 1 - i), width, split_mode="channel", scale=True
            )
            for _ in range(k)
        ]
        level += [nf.flows.Squeeze()]
        flows += [level]
        if i > 0:
            merges += [nf.flows.Merge()]
            latent_shape = (
                c * 2 ** (big_l - i),
                h // 2 ** (big_l - i),
                w // 2 ** (big_l - i),
            )
        else:
            latent_shape = (c * 2 ** (big_l + 1), h // 2**big_l, w // 2**big_l)
        q0 += [nf.distributions.GlowBase(latent_shape)]
    return nf.MultiscaleFlow(q0, flows, merges, class_cond=False)


def worker_normflows(cfg, reps):
    import warnings

    warnings.filterwarnings("ignore")  # torch.lu deprecation inside normflows
    import normflows as nf
    import numpy as np
    import torch

    torch.manual_seed(0)
    cuda = torch.cuda.is_available()
    dev = torch.device("cuda" if cuda else "cpu")

    def sync():
        if cuda:
            torch.cuda.synchronize()

    model = normflows_glow(cfg).to(dev)
    x = torch.from_numpy(np.ascontiguousarray(data(cfg).transpose(0, 3, 1, 2))).to(dev)
    t0 = time.perf_counter()
    with torch.no_grad():
        model.log_prob(x, None)  # ActNorm data-dependent initialization on the batch
    sync()
    init_s = time.perf_counter() - t0
    params = [p for p in model.parameters() if p.requires_grad]
    unused = sum(
        m.num_channels * (m.num_channels + 1)
        for m in model.modules()
        if isinstance(m, nf.flows.Invertible1x1Conv) and m.use_lu
    )
    res = {
        "params": int(sum(p.numel() for p in params)),
        "params_effective": int(sum(p.numel() for p in params)) - unused,
        "device": "GPU" if cuda else "CPU",
        "torch": torch.__version__,
        "normflows": nf.__version__,
        "threads": torch.get_num_threads(),
        "init_s": init_s,
    }
    opt = torch.optim.Adam(params, lr=LEARNING_RATE)
    # torch's Adam allocates its state (two float32 tensors per parameter,
    # `exp_avg` and `exp_avg_sq`) in its first step; it is counted here, so
    # the peak above this is the training step's own memory, as for ours.
    res["state_rss_mb"] = rss_mb() + 8 * res["params"] / 2**20

    def step():
        opt.zero_grad(set_to_none=True)
        loss = model.forward_kld(x)
        loss.backward()
        opt.step()
        value = float(loss.detach())  # synchronizes
        sync()
        return value

    model.train()
    t0 = time.perf_counter()
    loss0 = step()
    res["first_step_s"] = time.perf_counter() - t0
    step()
    steps, losses = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        losses.append(step())
        steps.append(time.perf_counter() - t0)
    res["step_s"], res["loss_first"], res["loss_last"] = steps, loss0, losses[-1]

    def lp():
        with torch.no_grad():
            out = model.log_prob(x.clone(), None).cpu().numpy()
        return out

    t0 = time.perf_counter()
    lp()
    res["lp_first_s"] = time.perf_counter() - t0
    lp()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        lp()
        times.append(time.perf_counter() - t0)
    res["lp_s"] = times
    res["rss_peak_mb"] = peak_rss_mb()
    if cuda:
        res["device_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return res


def run_worker(kind, config, args, jit=None, options=None):
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        kind,
        "--configs",
        config,
        "--reps",
        str(reps_for(config, args)),
    ]
    if jit is not None:
        cmd += ["--jit", "1" if jit else "0"]
    for k, v in (options or {}).items():
        cmd += ["--flow-option", f"{k}={v!r}"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        return {"error": f"rc {proc.returncode}", "wall_s": wall}
    res = json.loads(lines[-1][len("RESULT ") :])
    res["wall_s"] = wall
    return res


def reps_for(config, args):
    if args.reps:
        return args.reps
    return 5 if args.quick else DEFAULT_REPS[config]


def parse_options(items):
    out = {}
    for item in items or []:
        if "=" not in item:
            raise SystemExit(f"--flow-option: expected KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


# -- the table -------------------------------------------------------------------


def _med(v):
    import numpy as np

    return float(np.median(v))


def _spread(ref, ours):
    """Median ratio ref/ours and the widest spread of two unpaired samples."""
    import numpy as np
    from _common import verdict

    r, o = np.asarray(ref), np.asarray(ours)
    ratio, lo, hi = _med(r) / _med(o), r.min() / o.max(), r.max() / o.min()
    return ratio, lo, hi, verdict(ratio, lo, hi)


def _paired_spread(ref_rounds, our_rounds, key):
    """Median, lowest and highest per-round ratio of median `key` times.

    Round i of ours is compared with round i of the reference (they ran one
    after the other), so the spread is the run-to-run one.
    """
    from _common import ratio_spread
    from _common import verdict

    if len(ref_rounds) != len(our_rounds):
        raise ValueError("rounds must pair up")
    ratio, lo, hi = ratio_spread(
        [_med(r[key]) for r in ref_rounds], [_med(o[key]) for o in our_rounds]
    )
    return ratio, lo, hi, verdict(ratio, lo, hi)


def merge_rounds(rounds):
    """One row's result from its rounds' results (see the module docstring).

    `rounds`: the per-round result dicts of one row, in order. Returns a dict
    with the keys of one round's (steps and `log_prob` calls pooled, first
    step and ActNorm init the median over rounds, peak RSS the highest, the
    step memory that of the round with the highest), plus `rounds` (the list)
    when there is more than one. A failed round makes the row failed.
    """
    failed = [r for r in rounds if "error" in r]
    if failed:
        return dict(failed[0])
    if len(rounds) == 1:
        return dict(rounds[0])
    out = dict(rounds[0])
    out["step_s"] = [t for r in rounds for t in r["step_s"]]
    out["lp_s"] = [t for r in rounds for t in r["lp_s"]]
    for key in ("first_step_s", "init_s", "lp_first_s", "wall_s"):
        if key in out:
            out[key] = _med([r[key] for r in rounds])
    top = max(rounds, key=lambda r: r["rss_peak_mb"])
    out["rss_peak_mb"] = top["rss_peak_mb"]
    if "state_rss_mb" in top:
        out["state_rss_mb"] = top["state_rss_mb"]
    if "device_peak_mb" in out:
        out["device_peak_mb"] = max(r["device_peak_mb"] for r in rounds)
    out["rounds"] = list(rounds)
    return out


def _ratio(ref, res, key):
    if "rounds" in ref and "rounds" in res:
        return _paired_spread(ref["rounds"], res["rounds"], key)
    return _spread(ref[key], res[key])


def table(config, cfg, rows, ref):
    """Markdown rows of one configuration: one per variant, ratios vs `ref`."""
    b = cfg["batch"]
    flop = train_flop_per_image(cfg) * b
    head = (
        "variant",
        "params",
        "first step s",
        "step ms [min-max]",
        "GFLOP/s",
        "log_prob img/s",
        "peak RSS MB",
        "step ratio [spread]",
        "log_prob ratio [spread]",
        "first-step ratio",
        "RSS ratio",
        "first - step s",
        "ActNorm init s",
        "step memory MB",
    )
    out = []
    for name, res in rows:
        if "error" in res:
            out.append((name, "failed: " + res["error"]) + ("",) * (len(head) - 2))
            continue
        step, lp = res["step_s"], res["lp_s"]
        rss = f"{res['rss_peak_mb']:,.0f}"
        if "device_peak_mb" in res:
            rss += f" (dev {res['device_peak_mb']:,.0f})"
        params = f"{res['params']:,}"
        if "params_effective" in res:
            params += f" ({res['params_effective']:,} eff.)"
        cells = [
            name,
            params,
            f"{res['first_step_s']:.1f}",
            f"{_med(step) * 1e3:,.0f} [{min(step) * 1e3:,.0f}-{max(step) * 1e3:,.0f}]",
            f"{flop / _med(step) / 1e9:.0f}",
            f"{b / _med(lp):,.0f}",
            rss,
        ]
        if ref is not None and res is not ref and "error" not in ref:
            r, lo, hi, word = _ratio(ref, res, "step_s")
            cells.append(f"{r:.2f}x [{lo:.2f}-{hi:.2f}] {word}")
            r, lo, hi, word = _ratio(ref, res, "lp_s")
            cells.append(f"{r:.2f}x [{lo:.2f}-{hi:.2f}] {word}")
            cells.append(f"{ref['first_step_s'] / res['first_step_s']:.2f}x")
            cells.append(f"{res['rss_peak_mb'] / ref['rss_peak_mb']:.2f}")
        else:
            cells += ["", "", "", ""]
        # What the first step costs beyond a step's work (trace, compile,
        # first allocations), and the data-dependent ActNorm pass before it.
        cells.append(f"{res['first_step_s'] - _med(step):.1f}")
        cells.append(f"{res['init_s']:.1f}" if "init_s" in res else "")
        if "state_rss_mb" in res:  # peak RSS above weights + optimizer state
            cells.append(f"{res['rss_peak_mb'] - res['state_rss_mb']:,.0f}")
        else:
            cells.append("")
        out.append(tuple(cells))
    widths = [max(len(str(r[i])) for r in out + [head]) for i in range(len(head))]
    fmt = "| " + " | ".join("{:<%d}" % n for n in widths) + " |"
    lines = [fmt.format(*head), "|" + "|".join("-" * (n + 2) for n in widths) + "|"]
    lines += [fmt.format(*r) for r in out]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small config, 5 reps")
    parser.add_argument("--configs", default=None, help=",".join(CONFIGS))
    parser.add_argument("--reps", type=int, default=None, help="timed repetitions")
    parser.add_argument(
        "--no-reference", action="store_true", help="ours only (no torch needed)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run every row R times, taking turns; ratios paired by round",
    )
    parser.add_argument(
        "--jit", choices=["both", "1", "0"], default="both", help="ours' jit_compile"
    )
    parser.add_argument(
        "--flow-option",
        action="append",
        metavar="KEY=VALUE",
        help="extra glow() option for additional rows (repeatable)",
    )
    parser.add_argument(
        "--default-only",
        action="store_true",
        help="no rows for detected glow() options (stacked_steps, reversible)",
    )
    parser.add_argument(
        "--omp-passive",
        action="store_true",
        help="OMP_WAIT_POLICY=PASSIVE for torch (machines shared with other jobs)",
    )
    parser.add_argument(
        "--worker", choices=["ours", "normflows"], help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.configs:
        configs = args.configs.split(",")
    else:
        configs = ["small-b64"] if args.quick else DEFAULT_CONFIGS
    for c in configs:
        if c not in CONFIGS:
            raise SystemExit(
                f"--configs: unknown {c!r}; expected one of {list(CONFIGS)}"
            )
    options = parse_options(args.flow_option)
    if args.rounds < 1:
        raise SystemExit(f"--rounds: expected a positive integer, got {args.rounds}")

    if args.worker:
        cfg, reps = CONFIGS[configs[0]], reps_for(configs[0], args)
        if args.worker == "ours":
            res = worker_ours(cfg, args.jit != "0", options, reps)
        else:
            res = worker_normflows(cfg, reps)
        print("RESULT " + json.dumps(res), flush=True)
        return

    from _common import machine_line

    try:
        load = "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:  # pragma: no cover
        load = ""
    print(machine_line(load), flush=True)
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((ln for ln in f if ln.startswith("flags")), "").split()
    except OSError:  # pragma: no cover - not Linux
        flags = []
    # TensorFlow turns its oneDNN CPU kernels on by itself only on CPUs with
    # AVX-512; elsewhere TF_ENABLE_ONEDNN_OPTS=1 does (docs/benchmarks.md).
    print(
        f"cpu: avx512f {'yes' if 'avx512f' in flags else 'no'}, avx512_bf16 "
        f"{'yes' if 'avx512_bf16' in flags else 'no'}; TF_ENABLE_ONEDNN_OPTS="
        f"{os.environ.get('TF_ENABLE_ONEDNN_OPTS', '(unset)')}",
        flush=True,
    )
    if not args.no_reference:
        try:
            import normflows
            import torch

            dev = (
                "CUDA " + torch.cuda.get_device_name(0)
                if torch.cuda.is_available()
                else "CPU"
            )
            print(
                f"reference: normflows {normflows.__version__}, "
                f"torch {torch.__version__} "
                f"({dev}, {torch.get_num_threads()} threads, OMP_WAIT_POLICY="
                f"{os.environ.get('OMP_WAIT_POLICY', 'unset: spin')}), eager",
                flush=True,
            )
        except ImportError as e:
            raise SystemExit(
                f"reference needs torch and normflows ({e}); or --no-reference"
            ) from e
    jits = {"both": [True, False], "1": [True], "0": [False]}[args.jit]
    detected = [] if options or args.default_only else glow_options()
    extra = options or detected
    if not options and not extra and not args.default_only:
        print(f"glow() has none of {DETECTED_OPTIONS}: rows for the default build only")
    for config in configs:
        cfg = CONFIGS[config]
        default = default_build(cfg) if detected else None
        if options:
            option_sets = [{}, options]
        elif detected:
            # The builds named explicitly (glow()'s defaults depend on the
            # steps per level, so `{}` alone would not say which it is):
            # unstacked, everything detected on, and the default build where
            # it is neither; the default's row says "(default)".
            option_sets = [{"stacked_steps": False}, {k: True for k in detected}]
            if all(build_of(o, default) != default for o in option_sets):
                option_sets.insert(0, dict(default))
        else:
            option_sets = [{}]
        variants = []
        for opts in option_sets:
            for jit in jits:
                tag = ", ".join(f"{k}={v}" for k, v in opts.items())
                name = f"ours jit={jit}" + (f", {tag}" if tag else "")
                is_default = default is not None and build_of(opts, default) == default
                variants.append(
                    (name + (" (default)" if is_default else ""), jit, opts)
                )
        print(
            f"\n### {config}: {cfg['shape'][0]}x{cfg['shape'][1]}x{cfg['shape'][2]}, "
            f"{cfg['levels']} levels x {cfg['steps']} steps, width {cfg['width']}, "
            f"batch {cfg['batch']}, float32; {reps_for(config, args)} timed reps; "
            f"training step {train_flop_per_image(cfg) / 1e9:.2f} GFLOP/image "
            f"(forward {forward_flop_per_image(cfg) / 1e9:.2f})",
            flush=True,
        )
        if default is not None:
            described = ", ".join(f"{k}={v}" for k, v in default.items())
            print(f"glow()'s default build here: {described}", flush=True)
        jobs = [] if args.no_reference else [("normflows (eager)", None, None)]
        jobs += variants
        results = {name: [] for name, _, _ in jobs}
        for i in range(args.rounds):
            for name, jit, opts in jobs:
                kind = "normflows" if jit is None else "ours"
                results[name].append(
                    run_worker(kind, config, args, jit=jit, options=opts)
                )
            if args.rounds > 1:
                print(f"  round {i + 1}/{args.rounds} done", flush=True)
        rows = [(name, merge_rounds(results[name])) for name, _, _ in jobs]
        ref = None if args.no_reference else rows[0][1]
        print(table(config, cfg, rows, ref), flush=True)
        for name, res in rows:
            if "error" in res:
                continue
            print(
                f"  {name}: device {res['device']}, loss {res['loss_first']:.1f} -> "
                f"{res['loss_last']:.1f}, log_prob first call "
                f"{res['lp_first_s']:.1f} s, "
                f"worker wall {res['wall_s']:.0f} s",
                flush=True,
            )
        if ref is not None and "error" not in ref:
            for name, res in rows[1:]:
                if "error" in res:
                    continue
                dev = res["params"] / ref["params_effective"] - 1
                print(
                    f"  params {name} / normflows effective: {dev:+.2%} "
                    f"({'within' if abs(dev) <= 0.01 else 'OUTSIDE'} 1%)"
                )
    print(
        "\nratios: normflows time / our time (> 1: ours faster); RSS ratio ours / "
        "normflows; spread: "
        + (
            f"{args.rounds} paired rounds, lowest-highest per-round ratio of "
            "median times; "
            if args.rounds > 1
            else "unpaired subprocesses, lowest-highest possible ratio; "
        )
        + "'faster'/'slower' only outside 1 over the whole spread, else 'on par'"
    )


if __name__ == "__main__":
    main()
