"""Density quality: test NLL of MAF, IAF and RealNVP against the true entropy,
and test NLL / bits-per-dim of MADE and MAF on the 64-D digits.

Part 1 (`--part 2d`): each 2-D/8-D target has a closed-form density, so the
true differential entropy H (Monte Carlo on the exact log-density of 20k test
points) is the limit: test NLL - H = KL(p || model) >= 0, up to the Monte
Carlo error of both averages (the same test points are used for both, so the
gap's error is that of the mean of log p - log q, printed as +-). Models, all
with the same data (50k training points), steps, batch and learning-rate
schedule, trained by one XLA-compiled Adam step with a cosine-decayed rate:
MAF(K) with an ActNorm before every layer; IAF(K) used as a density model with
the affine transform (its `log_prob` takes D sequential passes per layer) and
ActNorm; RealNVP (`coupling_flow`, `--couplings` affine couplings with
ActNorm); optionally Kingma's gated IAF (`--models IAFgated`), whose scale
sigma lies in (0, 1) so that each layer can only contract; and the
rational-quadratic spline versions of the three (`--models
MAFspline,IAFspline,RealNVPspline`, `--bins K`, `--spline-bound B`; Durkan et
al. 2019), whose per-dimension transform is a monotone spline instead of an
affine map. `--seed S` changes the weights' initialization and the batches
(S = 0 reproduces the rows measured before the option existed).

Part 2 (`--part digits`): scikit-learn's 8x8 digits (1437 train / 360 test),
uniformly dequantized to 64-D; MADE (= MAF with one layer), MAF(5) and MAF(10),
each (a) with the fixed left-to-right ordering and (b) trained order-agnostically
over K random orderings (`input_order='random'`, `num_masks=K`, the next mask set
at every step) and evaluated with one ordering and with MADE's ensemble over
the K orderings (`tfp_flows.flows.mask_ensemble_log_prob`). The weights of the
epoch with the best NLL on a held-out tenth of the training set are kept
(early stopping); the test set is used once, at the end.

    python benchmarks/density_quality.py [--part 2d|digits|all] [--steps N]
        [--layers K] [--couplings C] [--hidden H] [--targets ring,checkerboard]
        [--models MAF,IAF,RealNVP,FFJORD,...] [--seed S] [--bins K]
        [--spline-bound B] [--ffjord-hidden H] [--ffjord-layers L]
        [--ffjord-tol T] [--ffjord-blocks K] [--ffjord-jit] [--quick]

`--models FFJORD` adds the continuous flow (Grathwohl et al. 2019, their 2-D
setup: one CNF block, dynamics of 3 ConcatSquash layers of 64 tanh units,
Dormand-Prince with rtol = atol = 1e-5, adjoint gradients), trained on the
same data, steps, batch and schedule with the Hutchinson (Rademacher) trace
estimator and scored on the test points with the exact trace.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _common import machine_line  # noqa: E402

from tfp_flows.data.digits import bits_per_dim  # noqa: E402
from tfp_flows.data.digits import dequantize  # noqa: E402
from tfp_flows.data.digits import load_digits  # noqa: E402
from tfp_flows.flows import coupling_flow  # noqa: E402
from tfp_flows.flows import ffjord  # noqa: E402
from tfp_flows.flows import iaf  # noqa: E402
from tfp_flows.flows import initialize_act_norms  # noqa: E402
from tfp_flows.flows import maf  # noqa: E402
from tfp_flows.flows import mask_ensemble_log_prob  # noqa: E402
from tfp_flows.internal.keras import keras  # noqa: E402
from tfp_flows.internal.keras import keras_layers_of  # noqa: E402
from tfp_flows.layers import FlowLogProb  # noqa: E402
from tfp_flows.nn.made import MADE  # noqa: E402


def ring(n, rng, k=8, radius=2.0, std=0.2):
    """Mixture of k Gaussians on a circle; returns samples and exact log p."""
    angles = 2 * np.pi * np.arange(k) / k
    means = radius * np.stack([np.cos(angles), np.sin(angles)], 1)
    x = means[rng.randint(k, size=n)] + std * rng.normal(size=(n, 2))
    d2 = ((x[:, None, :] - means[None]) ** 2).sum(-1)
    logp = np.log(np.mean(np.exp(-d2 / (2 * std**2)), 1)) - np.log(2 * np.pi * std**2)
    return x, logp


def checkerboard(n, rng):
    """Uniform on the 8 black squares of a 4x4 board on [-2, 2]^2."""
    cells = [(i, j) for i in range(4) for j in range(4) if (i + j) % 2 == 0]
    c = np.array(cells)[rng.randint(len(cells), size=n)]
    x = c - 2.0 + rng.uniform(size=(n, 2))
    return x, np.full(n, -np.log(8.0))


def gaussian_mixture_8d(n, rng):
    """Two correlated Gaussians in 8-D."""
    d = 8
    a = np.random.RandomState(7).normal(size=(d, d)) * 0.3
    covs = [a @ a.T + 0.1 * np.eye(d), 0.5 * np.eye(d)]
    means = [np.zeros(d), np.full(d, 1.5)]
    z = rng.randint(2, size=n)
    x = np.stack([rng.multivariate_normal(means[k], covs[k]) for k in z])
    logs = []
    for m, c in zip(means, covs, strict=True):
        diff = x - m
        sol = np.linalg.solve(c, diff.T).T
        logs.append(
            -0.5 * (diff * sol).sum(1) - 0.5 * np.linalg.slogdet(2 * np.pi * c)[1]
        )
    return x, np.logaddexp(*logs) - np.log(2)


def _weights(flow):
    return [w for layer in keras_layers_of(flow) for w in layer.trainable_weights]


def _mades(flow):
    return [layer for layer in keras_layers_of(flow) if isinstance(layer, MADE)]


def make_step(flow, opt, d, clip=None, cycle_masks=False):
    """One Adam step on -mean log p under XLA (unknown batch size)."""
    weights = _weights(flow)
    mades = _mades(flow) if cycle_masks else []

    @tf.function(jit_compile=True, input_signature=[tf.TensorSpec([None, d])])
    def step(x):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(flow.log_prob(x))
        grads = tape.gradient(loss, weights)
        if clip is not None:
            grads, _ = tf.clip_by_global_norm(grads, clip)
        opt.apply_gradients(zip(grads, weights, strict=True))
        for m in mades:  # order-agnostic training: the next ordering per step
            m.next_mask()
        return loss

    return step


_COMPILED = {}


def batched_log_prob(flow, x, size=5000, jit_compile=True):
    """XLA log_prob in chunks; compiled once per flow (the mask index is a
    variable, so switching mask sets needs no retrace)."""
    if id(flow) not in _COMPILED:
        _COMPILED[id(flow)] = tf.function(
            flow.log_prob,
            jit_compile=jit_compile,
            input_signature=[tf.TensorSpec([None, x.shape[1]])],
        )
    lp = _COMPILED[id(flow)]
    return np.concatenate([lp(x[i : i + size]).numpy() for i in range(0, len(x), size)])


def make_ffjord_step(flow, opt, d, jit_compile):
    """One Adam step on the Hutchinson estimate of -mean log p.

    The FFJORD bijector uses its training trace estimator inside a Keras call
    in training mode (`FlowLogProb(flow)(x, training=True)`, as `model.fit`
    does); the test NLL (`batched_log_prob`, outside Keras) uses the exact
    trace.
    """
    layer = FlowLogProb(flow)
    weights = layer.trainable_weights

    @tf.function(jit_compile=jit_compile, input_signature=[tf.TensorSpec([None, d])])
    def step(x):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(layer(x, training=True))
        grads = tape.gradient(loss, weights)
        opt.apply_gradients(zip(grads, weights, strict=True))
        return loss

    return step


def _is_ffjord(flow):
    return any(type(m).__name__ == "FFJORD" for m in flow.submodules)


def fit_2d(flow, x_train, steps, batch, lr, seed=0, ffjord_jit=False, log_every=0):
    """`steps` Adam steps; with `log_every > 0`, prints the loss every so often."""
    if any(type(m).__name__ == "ActNorm" for m in flow.submodules):
        initialize_act_norms(flow, x_train[:4096])
    opt = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(lr, steps))
    if _is_ffjord(flow):
        step = make_ffjord_step(flow, opt, x_train.shape[1], ffjord_jit)
    else:
        step = make_step(flow, opt, x_train.shape[1])
    rng = np.random.RandomState(seed)
    start = time.time()
    for i in range(steps):
        loss = step(x_train[rng.randint(len(x_train), size=batch)])
        if log_every and (i + 1) % log_every == 0:
            print(
                f"  step {i + 1}/{steps}: loss {float(loss):.4f}, "
                f"{time.time() - start:.0f} s",
                flush=True,
            )


def part_2d(args):
    rng = np.random.RandomState(0)
    targets = [
        ("ring of 8 Gaussians (2-D)", ring),
        ("checkerboard (2-D)", checkerboard),
        ("Gaussian mixture (8-D)", gaussian_mixture_8d),
    ]
    if args.skip_8d:
        targets = targets[:2]
    if args.targets:
        targets = [t for t in targets if t[1].__name__ in args.targets.split(",")]
    k, h = args.layers, args.hidden
    c = args.couplings or k
    ms = 1 + args.seed  # model seed; --seed 0 reproduces the README's rows
    spline = {
        "transform": "spline",
        "num_bins": args.bins,
        "spline_bound": args.spline_bound,
    }
    models = [
        (
            f"MAF({k}, ActNorm)",
            lambda d: maf(d, num_layers=k, hidden_units=[h, h], actnorm=True, seed=ms),
        ),
        (
            f"IAF({k}, affine, ActNorm) as density",
            lambda d: iaf(
                d,
                num_layers=k,
                hidden_units=[h, h],
                transform="affine",
                actnorm=True,
                seed=ms,
            ),
        ),
        (
            f"RealNVP({c} couplings, ActNorm)",
            lambda d: coupling_flow(
                d, num_layers=c, hidden_units=h, mask="half", actnorm=True, seed=ms
            ),
        ),
        (  # Kingma's gated update: sigma in (0, 1), each layer only contracts.
            f"IAFgated({k}) as density",
            lambda d: iaf(d, num_layers=k, hidden_units=[h, h], seed=ms),
        ),
        (
            f"MAFspline({k}, {args.bins} bins, ActNorm)",
            lambda d: maf(
                d, num_layers=k, hidden_units=[h, h], actnorm=True, seed=ms, **spline
            ),
        ),
        (
            f"IAFspline({k}, {args.bins} bins, ActNorm) as density",
            lambda d: iaf(
                d, num_layers=k, hidden_units=[h, h], actnorm=True, seed=ms, **spline
            ),
        ),
        (
            f"RealNVPspline({c} couplings, {args.bins} bins, ActNorm)",
            lambda d: coupling_flow(
                d,
                num_layers=c,
                hidden_units=h,
                mask="half",
                actnorm=True,
                seed=ms,
                **spline,
            ),
        ),
        (  # Grathwohl et al. 2019, 2-D: one block, 3 x 64 units, dopri5.
            f"FFJORD({args.ffjord_blocks} block, hidden "
            f"[{args.ffjord_hidden}] x {args.ffjord_layers}, dopri5 tol "
            f"{args.ffjord_tol:g})",
            lambda d: ffjord(
                d,
                num_blocks=args.ffjord_blocks,
                hidden_units=[args.ffjord_hidden] * args.ffjord_layers,
                rtol=args.ffjord_tol,
                atol=args.ffjord_tol,
                seed=ms,
            ),
        ),
    ]
    wanted = (args.models or "MAF,IAF,RealNVP").split(",")
    models = [m for m in models if m[0].split("(")[0] in wanted]
    rows = []
    for name, target in targets:
        x_train, _ = target(50_000, rng)
        x_test, logp = target(2_000 if args.quick else 20_000, rng)
        x_train, x_test = x_train.astype("float32"), x_test.astype("float32")
        entropy = -float(np.mean(logp))
        d = x_train.shape[1]
        for label, make in models:
            start = time.time()
            flow = make(d)
            fit_2d(
                flow,
                x_train,
                args.steps,
                args.batch,
                args.lr,
                seed=args.seed,
                ffjord_jit=args.ffjord_jit,
                log_every=args.log_every,
            )
            secs = time.time() - start
            params = sum(int(np.prod(w.shape)) for w in _weights(flow))
            jit = args.ffjord_jit or not _is_ffjord(flow)
            lq = batched_log_prob(flow, x_test, jit_compile=jit)
            nll = -float(np.mean(lq))
            diff = logp - lq  # per-point log p - log q; its mean is the gap
            err = float(np.std(diff) / np.sqrt(len(diff)))
            rows.append((name, label, entropy, nll, err, secs, params))
            print(rows[-1], flush=True)
    print(
        f"\nTest NLL vs true entropy (nats), {args.steps} Adam steps (cosine decay "
        f"from {args.lr}), batch {args.batch}, hidden {h}, seed {args.seed}; "
        "50k train / 20k test points; goal: gap <= 0.05\n"
    )
    print(
        "| target | model | params | true entropy (limit) | test NLL | gap = KL "
        "| goal | train s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, label, h_true, nll, err, secs, params in rows:
        gap = nll - h_true
        print(
            f"| {name} | {label} | {params:,} | {h_true:.3f} | {nll:.3f} | "
            f"{gap:.3f} +- {err:.3f} | {'met' if gap <= 0.05 else 'not met'} "
            f"| {secs:.0f} |"
        )


def _snapshot(weights):
    return [w.numpy() for w in weights]


def _restore(weights, values):
    for w, v in zip(weights, values, strict=True):
        w.assign(v)


def part_digits(args):
    images = load_digits("train").reshape(-1, 64)
    rng = np.random.RandomState(0)
    perm = rng.permutation(len(images))
    n_val = len(images) // 10
    train, val = images[perm[n_val:]], images[perm[:n_val]]
    test = load_digits("test").reshape(-1, 64)
    x_val = dequantize(val, seed=[1, 1])
    x_test = dequantize(test, seed=[2, 2])
    hidden = [args.digits_hidden, args.digits_hidden]
    kk = args.num_masks
    rows = []
    for label, layers in [("MADE", 1), ("MAF(5)", 5), ("MAF(10)", 10)]:
        for agnostic in (False, True):
            start = time.time()
            keras.utils.set_random_seed(0)
            flow = maf(
                64,
                num_layers=layers,
                hidden_units=hidden,
                input_order="random" if agnostic else "left-to-right",
                num_masks=kk if agnostic else 1,
                seed=3,
            )
            weights = _weights(flow)
            opt = keras.optimizers.Adam(args.digits_lr)
            step = make_step(flow, opt, 64, clip=100.0, cycle_masks=agnostic)
            mades = _mades(flow)

            def nll_of(x, flow=flow, mades=mades, agnostic=agnostic):
                if not agnostic:
                    return -float(np.mean(batched_log_prob(flow, x)))
                values = []  # the ensemble, as mask_ensemble_log_prob, compiled
                for k in range(kk):
                    for m in mades:
                        m.set_mask_index(k)
                    values.append(batched_log_prob(flow, tf.identity(x)))
                lp = np.logaddexp.reduce(np.stack(values), axis=0) - np.log(kk)
                return -float(np.mean(lp))

            best, best_w, best_epoch = np.inf, _snapshot(weights), 0
            order_rng = np.random.RandomState(1)
            for epoch in range(args.epochs):
                order = order_rng.permutation(len(train))
                for i in range(0, len(order), args.digits_batch):
                    x = dequantize(
                        train[order[i : i + args.digits_batch]], seed=[epoch, i]
                    )
                    step(x)
                v = nll_of(x_val)
                if v < best:
                    best, best_w, best_epoch = v, _snapshot(weights), epoch + 1
            _restore(weights, best_w)
            for m in mades:
                m.set_mask_index(0)
            single = -float(np.mean(batched_log_prob(flow, x_test)))
            ens = None
            if agnostic:  # the public API, eager
                ens = -float(np.mean(mask_ensemble_log_prob(flow, x_test)))
            secs = time.time() - start
            rows.append((label, agnostic, single, ens, best_epoch, secs))
            print(rows[-1], flush=True)
    print(
        f"\nDigits (64-D, dequantized): test NLL, nats (bits/dim); hidden {hidden}, "
        f"batch {args.digits_batch}, Adam {args.digits_lr}, "
        f"up to {args.epochs} epochs, "
        f"best epoch on a held-out tenth of train; order-agnostic: K = {kk} random "
        "orderings\n"
    )
    print(
        "| model | training | one ordering | ensemble of K orderings | best epoch | s |"
    )
    print("|---|---|---|---|---|---|")

    def cell(nll):
        return (
            "-" if nll is None else f"{nll:.2f} ({float(bits_per_dim(-nll, 64)):.3f})"
        )

    for label, agnostic, single, ens, best_epoch, secs in rows:
        kind = f"order-agnostic, K = {kk}" if agnostic else "fixed order"
        print(
            f"| {label} | {kind} | {cell(single)} | {cell(ens)} | "
            f"{best_epoch} | {secs:.0f} |"
        )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=["2d", "digits", "all"], default="all")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument(
        "--couplings", type=int, default=0, help="RealNVP couplings (default: --layers)"
    )
    parser.add_argument("--skip-8d", action="store_true")
    parser.add_argument("--targets", default="", help="e.g. ring,checkerboard")
    parser.add_argument(
        "--models",
        default="",
        help="subset of MAF,IAF,RealNVP,IAFgated,MAFspline,IAFspline,RealNVPspline,"
        "FFJORD (default: MAF,IAF,RealNVP)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="training seed (weights and batches)"
    )
    parser.add_argument("--bins", type=int, default=8, help="spline bins")
    parser.add_argument("--spline-bound", type=float, default=3.0)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--digits-batch", type=int, default=128)
    parser.add_argument("--digits-hidden", type=int, default=256)
    parser.add_argument("--digits-lr", type=float, default=1e-3)
    parser.add_argument("--num-masks", type=int, default=8)
    parser.add_argument("--ffjord-blocks", type=int, default=1)
    parser.add_argument("--ffjord-hidden", type=int, default=64)
    parser.add_argument("--ffjord-layers", type=int, default=3)
    parser.add_argument(
        "--ffjord-tol", type=float, default=1e-5, help="dopri5 rtol = atol"
    )
    parser.add_argument(
        "--ffjord-jit",
        action="store_true",
        help="compile FFJORD's step with XLA (it compiles; the first call takes "
        "about twice as long and a step is no faster)",
    )
    parser.add_argument(
        "--log-every", type=int, default=0, help="print the loss every N steps"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: ring only, 50 steps, batch 128, 2k test points, "
        "MAF,RealNVP,FFJORD with small networks",
    )
    args = parser.parse_args()
    if args.quick:
        args.part, args.targets, args.steps, args.batch = "2d", "ring", 50, 128
        args.models = args.models or "MAF,RealNVP,FFJORD"
        args.layers, args.hidden, args.ffjord_hidden = 2, 16, 16
        args.ffjord_tol = max(args.ffjord_tol, 1e-3)
    print(machine_line(), flush=True)
    if args.part in ("2d", "all"):
        part_2d(args)
    if args.part in ("digits", "all"):
        part_digits(args)


if __name__ == "__main__":
    main()
