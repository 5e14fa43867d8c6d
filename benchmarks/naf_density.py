"""Neural autoregressive flows against affine and spline MAF, at equal size.

Huang et al. 2018's deep sigmoidal flow (`transform='sigmoidal'`, DSF) and
its dense variant (`'dense_sigmoidal'`, DDSF) as the transformer of a MAF,
against the affine MAF (Papamakarios et al. 2017) and the rational-quadratic
spline MAF (Durkan et al. 2019), on the targets of `density_quality.py`: the
ring of 8 Gaussians and the checkerboard (2-D) and the two-component
correlated Gaussian mixture (8-D). Each target has a closed-form density, so
the true differential entropy `H = -E log p` is estimated by Monte Carlo on
the test points (printed with its standard error), and `test NLL - H =
KL(p || q) >= 0` is the gap to the limit, with the standard error of the mean
of `log p - log q` on the same points.

Equal parameter count: the flows differ in the MADE's output size per
dimension (2 affine, `3 * bins - 1` spline, `3 K L` DSF, quadratic in K for
DDSF), so each model's MADE hidden width is chosen (from 4 to 1024) to bring
its trainable parameter count closest to that of the affine MAF with
`--hidden` units; the counts and their difference to the reference are
printed. The training protocol is `density_quality.py`'s, imported from it:
the same 50k training / 20k test points, `--steps` XLA-compiled Adam steps
with a cosine-decayed learning rate, batch `--batch`, an ActNorm before every
layer initialized on data, `--layers` layers.

    python benchmarks/naf_density.py [--quick] [--steps N] [--layers K]
        [--hidden H] [--targets ring,checkerboard,gaussian_mixture_8d]
        [--models MAF,MAFspline,NAF,NAFdense] [--sigmoids K] [--sigmoid-layers L]
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from _common import machine_line  # noqa: E402
from density_quality import _weights  # noqa: E402
from density_quality import batched_log_prob  # noqa: E402
from density_quality import checkerboard  # noqa: E402
from density_quality import fit_2d  # noqa: E402
from density_quality import gaussian_mixture_8d  # noqa: E402
from density_quality import ring  # noqa: E402

from tfp_flows.flows import maf  # noqa: E402

TARGETS = {
    "ring": ("ring of 8 Gaussians (2-D)", ring),
    "checkerboard": ("checkerboard (2-D)", checkerboard),
    "gaussian_mixture_8d": ("Gaussian mixture (8-D)", gaussian_mixture_8d),
}


def _count(flow):
    return sum(int(np.prod(w.shape)) for w in _weights(flow))


def _sized(make, d, target):
    """`make(d, h)` with the hidden width h whose parameter count is closest
    to `target` (the count is monotone in h: bisection, then the neighbours)."""
    lo, hi = 4, 1024
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _count(make(d, mid)) < target:
            lo = mid
        else:
            hi = mid
    h = min((lo, hi), key=lambda w: abs(_count(make(d, w)) - target))
    return make(d, h), h


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smoke run")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--bins", type=int, default=8)
    parser.add_argument("--sigmoids", type=int, default=8, help="DSF units K")
    parser.add_argument("--sigmoid-layers", type=int, default=1, help="DSF L")
    parser.add_argument("--dense-sigmoids", type=int, default=4, help="DDSF K")
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--models", default="MAF,MAFspline,NAF,NAFdense")
    parser.add_argument("--n-train", type=int, default=50_000)
    parser.add_argument("--n-test", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.quick:
        args.steps, args.n_train, args.n_test, args.hidden = 30, 4096, 2048, 32
        args.layers = 2
    print(machine_line(), flush=True)
    k = args.layers

    def common(d, h):
        return dict(num_layers=k, hidden_units=[h, h], actnorm=True, seed=1 + args.seed)

    models = {
        "MAF": (f"MAF({k}, affine)", lambda d, h: maf(d, **common(d, h))),
        "MAFspline": (
            f"MAF({k}, spline, {args.bins} bins)",
            lambda d, h: maf(d, transform="spline", num_bins=args.bins, **common(d, h)),
        ),
        "NAF": (
            f"NAF-DSF({k}, K={args.sigmoids}, L={args.sigmoid_layers})",
            lambda d, h: maf(
                d,
                transform="sigmoidal",
                num_hidden_sigmoids=args.sigmoids,
                sigmoid_layers=args.sigmoid_layers,
                **common(d, h),
            ),
        ),
        "NAFdense": (
            f"NAF-DDSF({k}, K={args.dense_sigmoids}, L=2)",
            lambda d, h: maf(
                d,
                transform="dense_sigmoidal",
                num_hidden_sigmoids=args.dense_sigmoids,
                sigmoid_layers=2,
                **common(d, h),
            ),
        ),
    }
    wanted = args.models.split(",")
    rng = np.random.RandomState(0)
    rows = []
    for key in args.targets.split(","):
        name, target = TARGETS[key]
        x_train, _ = target(args.n_train, rng)
        x_test, logp = target(args.n_test, rng)
        x_train, x_test = x_train.astype("float32"), x_test.astype("float32")
        entropy = -float(np.mean(logp))
        entropy_se = float(np.std(logp) / np.sqrt(len(logp)))
        d = x_train.shape[1]
        reference = _count(models["MAF"][1](d, args.hidden))
        for m in wanted:
            label, make = models[m]
            flow, h = _sized(make, d, reference)
            params = _count(flow)
            start = time.time()
            fit_2d(flow, x_train, args.steps, args.batch, args.lr, seed=args.seed)
            secs = time.time() - start
            lq = batched_log_prob(flow, x_test)
            nll = -float(np.mean(lq))
            diff = logp - lq
            gap_se = float(np.std(diff) / np.sqrt(len(diff)))
            row = (
                name,
                label,
                h,
                params,
                params / reference - 1.0,
                entropy,
                entropy_se,
                nll,
                nll - entropy,
                gap_se,
                secs,
            )
            rows.append(row)
            print(row, flush=True)
    print(
        f"\nTest NLL vs true entropy (nats): {args.steps} Adam steps (cosine decay "
        f"from {args.lr}), batch {args.batch}, {k} layers with ActNorm, "
        f"{args.n_train} train / {args.n_test} test points, seed {args.seed}; "
        f"hidden widths sized to the affine MAF with hidden {args.hidden}\n"
    )
    print(
        "| target | model | hidden | params (vs affine) | true entropy +- se | "
        "test NLL | gap = KL +- se | train s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, label, h, params, rel, ent, ent_se, nll, gap, gap_se, secs in rows:
        print(
            f"| {name} | {label} | {h} | {params:,} ({rel:+.1%}) | {ent:.3f} +- "
            f"{ent_se:.3f} | {nll:.3f} | {gap:.3f} +- {gap_se:.3f} | {secs:.0f} |"
        )


if __name__ == "__main__":
    main()
