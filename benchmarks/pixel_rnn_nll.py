"""Digits test NLL: Row LSTM and Diagonal BiLSTM PixelRNN, Gated PixelCNN,
tfd.PixelCNN and MADE.

scikit-learn's 8x8 digits, fixed split (`tfp_flows.data.load_digits`), both
17 grey levels and binarized. Every model is a discrete distribution over
the integer pixels, trained with Adam for the same number of steps on the
same batches, with small parameter budgets: `tfd.PixelCNN` and our Gated
PixelCNN (`tfp_flows.distributions.gated_pixel_cnn`, 5 gated layers: a 7 x 7
first layer and four 3 x 3 ones, which cover the whole 8 x 8 image) each get
the filter count whose parameter count is closest to the mean of the two
PixelRNNs' (MADE cannot go below ~70k weights at 17 levels: it needs >= 63 hidden units
and 17 logits per pixel from each). Every count is printed.

Same protocol for every model:

- the same small learning-rate sweep (`--lrs`, default 3e-3 1e-2 3e-2: at
  300 steps 3e-4 and 1e-3 lost to 3e-3 for every model, and the validation
  optimum was 1e-2 or 3e-2), each run from the same initial weights and on
  the same batches;
- the learning rate is chosen on a validation split carved from the training
  split (`--val-fraction`, a fixed permutation), never on the test set; the
  models train on the rest of the training split, and the test NLL is
  reported for the chosen learning rate only;
- every training step is compiled both as a `tf.function` with XLA
  (`jit_compile=True`) and as a plain `tf.function`; each is timed on three
  steps and the faster trains (printed: XLA compiles `tfd.PixelCNN`'s step
  but recompiles it on every call, which would handicap it);
- `tfd.PixelCNN`'s weight norm is initialised as TFP documents: its first
  `log_prob` call is on a batch of real training images (data-dependent init).

Prints test NLL in nats per image and bits/dim, and reports whether the
paper's ordering Diagonal BiLSTM <= Row LSTM <= PixelCNN holds (a finding,
not a check). Small models and few steps: the numbers rank the models at this
budget, they are not the models' converged likelihoods.

    python benchmarks/pixel_rnn_nll.py [--steps 300] [--batch 64] \
        [--lrs 3e-3 1e-2 3e-2]

`--quick` is the same protocol with 100 steps (for a loaded machine).

With several `--seeds` every model is trained once per seed and learning rate
(seed `s` sets the initial weights and the batch order), the learning rate is
chosen on the mean validation NLL over seeds, and the tables report mean +-
std (sample std over seeds); `--models` picks a subset:

    python benchmarks/pixel_rnn_nll.py --datasets binarized --steps 1200 \
        --seeds 0 1 2 --models diagonal row
"""

import argparse
import math
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_probability as tfp  # noqa: E402
from _common import machine_line  # noqa: E402
from _common import param_count  # noqa: E402

from tfp_flows.data import load_digits  # noqa: E402
from tfp_flows.distributions import gated_pixel_cnn  # noqa: E402
from tfp_flows.distributions import pixel_rnn  # noqa: E402
from tfp_flows.internal.keras import keras  # noqa: E402
from tfp_flows.nn import MADE  # noqa: E402

tfd = tfp.distributions
tf.get_logger().setLevel("ERROR")  # retracing notes of the evaluation fns


class MadeImages:
    """MADE over the 64 pixels in raster order: categorical (or Bernoulli)
    logits for pixel d from the pixels before d."""

    def __init__(self, levels, hidden_units, seed=0):
        self.levels = levels
        self.num_logits = 1 if levels == 2 else levels
        self.made = MADE(
            64,
            num_params=self.num_logits,
            hidden_units=hidden_units,
            output_initializer="glorot_uniform",
            seed=seed,
        )
        self.trainable_variables = [w.value for w in self.made.trainable_weights]

    def log_prob(self, images):
        x = tf.reshape(tf.cast(images, tf.float32), [-1, 64])
        logits = self.made(x * (2.0 / (self.levels - 1)) - 1.0)
        if self.num_logits == 1:
            logits = tf.concat([tf.zeros_like(logits), logits], -1)
        lp = -tf.nn.sparse_softmax_cross_entropy_with_logits(
            tf.cast(x, tf.int32), logits
        )
        return tf.reduce_sum(lp, -1)


class PixelCNNImages:
    """tfd.PixelCNN (TFP's, a discretized logistic mixture on 0..levels-1).

    Its weight norm has a data-dependent init on the first call, so the
    first `log_prob` is on `init_images`, a batch of real training images.
    """

    def __init__(self, levels, num_filters, init_images, seed=0):
        tf.random.set_seed(seed)
        self.dist = tfd.PixelCNN(
            image_shape=(8, 8, 1),
            num_resnet=1,
            num_hierarchies=2,
            num_filters=num_filters,
            num_logistic_mix=3 if levels > 2 else 1,
            dropout_p=0.0,
            high=levels - 1,
            low=0,
        )
        self.dist.log_prob(tf.cast(init_images, tf.float32))  # data init
        self.trainable_variables = list(self.dist.network.trainable_variables)

    def log_prob(self, images):
        return self.dist.log_prob(tf.cast(images, tf.float32))


class PixelRNNImages:
    def __init__(self, levels, layer_type, hidden_units, output_units, seed=0):
        self.dist = pixel_rnn(
            (8, 8, 1),
            num_levels=levels,
            layer_type=layer_type,
            num_layers=1,
            hidden_units=hidden_units,
            output_units=output_units,
            seed=seed,
        )
        self.trainable_variables = list(self.dist.trainable_variables)

    def log_prob(self, images):
        return self.dist.log_prob(images)


class GatedPixelCNNImages:
    """Our Gated PixelCNN (vertical + horizontal stacks, gated activations)."""

    def __init__(self, levels, filters, output_units, num_layers=5, seed=0):
        self.dist = gated_pixel_cnn(
            (8, 8, 1),
            num_levels=levels,
            num_layers=num_layers,
            filters=filters,
            output_units=output_units,
            seed=seed,
        )
        self.trainable_variables = list(self.dist.trainable_variables)

    def log_prob(self, images):
        return self.dist.log_prob(images)


def match_gated_filters(levels, target, output_units, low=1, high=64):
    """Filter count whose Gated PixelCNN parameter count is closest to `target`."""

    def count(f):
        return param_count(
            GatedPixelCNNImages(levels, f, output_units).trainable_variables
        )

    while high - low > 1:  # the count grows with the filters: bisect
        mid = (low + high) // 2
        if count(mid) < target:
            low = mid
        else:
            high = mid
    return min((low, high), key=lambda f: abs(count(f) - target))


def match_pixelcnn_filters(levels, target, init_images, low=1, high=32):
    """Filter count whose tfd.PixelCNN parameter count is closest to `target`."""
    counts = {}

    def count(f):
        if f not in counts:
            model = PixelCNNImages(levels, f, init_images)
            counts[f] = param_count(model.trainable_variables)
        return counts[f]

    while high - low > 1:  # the count grows with the filters: bisect
        mid = (low + high) // 2
        if count(mid) < target:
            low = mid
        else:
            high = mid
    return min((low, high), key=lambda f: abs(count(f) - target))


class Trainer:
    """Adam on the mean NLL, one compiled step reused for every learning rate.

    `run(lr, batches)` restores the initial weights and zeroes Adam's state
    before training, so every learning rate starts from the same point; the
    learning rate is an optimizer variable, so the step is compiled once.
    """

    def __init__(self, model, first_batch):
        self.model = model
        self.variables = model.trainable_variables
        self.initial = [v.numpy() for v in self.variables]
        self.opt = keras.optimizers.Adam(1e-3)
        self.opt.build(self.variables)

        def step(x):
            with tf.GradientTape() as tape:
                loss = -tf.reduce_mean(model.log_prob(x))
            grads = tape.gradient(loss, self.variables)
            self.opt.apply(grads, self.variables)
            return loss

        # Both compiled forms, XLA and plain tf.function, are built and timed
        # on three steps each; the faster one trains. (XLA compiles
        # tfd.PixelCNN's step but recompiles it on every call, hundreds of
        # times slower than tf.function here, so "XLA where it compiles" would handicap
        # it.) These steps change the weights; `run` restores them.
        x = tf.constant(first_batch)
        candidates = []
        for jit in (True, False):
            fn = tf.function(step, jit_compile=jit)
            start = time.perf_counter()
            try:
                fn(x)
            except Exception:  # noqa: BLE001 - XLA could not compile it
                continue
            first = time.perf_counter() - start
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                fn(x).numpy()
                times.append(time.perf_counter() - t0)
            candidates.append((min(times), jit, fn, first))
        self.step_seconds, self.xla, self.step, self.compile_seconds = min(
            candidates, key=lambda c: c[0]
        )
        self.mode = "XLA" if self.xla else "tf.function"
        self.modes_timed = ", ".join(
            f"{'XLA' if c[1] else 'tf.function'} {1000 * c[0]:.0f} ms/step"
            for c in candidates
        )
        self.nll = tf.function(lambda x: -model.log_prob(x))

    def reset(self, lr):
        for v, value in zip(self.variables, self.initial, strict=True):
            v.assign(value)
        for v in self.opt.variables:
            v.assign(tf.zeros_like(v))
        self.opt.learning_rate = lr

    def run(self, lr, batches):
        """Trains from the initial weights; returns training seconds."""
        self.reset(lr)
        start = time.perf_counter()
        for x in batches:
            self.step(tf.constant(x))
        return time.perf_counter() - start

    def mean_nll(self, x):
        nll = float(np.mean(self.nll(tf.constant(x)).numpy()))
        return nll if math.isfinite(nll) else float("inf")


def batch_order(n, steps, batch, seed):
    rng = np.random.RandomState(seed)
    order = np.concatenate([rng.permutation(n) for _ in range(steps * batch // n + 1)])
    return order[: steps * batch].reshape(steps, batch)


def split_validation(x, fraction, seed=1234):
    """(train, validation): a fixed permutation of the training split."""
    perm = np.random.RandomState(seed).permutation(len(x))
    n_val = int(round(fraction * len(x)))
    return x[perm[n_val:]], x[perm[:n_val]]


MODELS = ("diagonal", "row", "gated", "pixelcnn", "made")


def fmt_lr(lr):
    return f"{lr:g}"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lrs", type=float, nargs="+", default=[3e-3, 1e-2, 3e-2])
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument("--hidden", type=int, default=16)
    p.add_argument("--output-units", type=int, default=32)
    p.add_argument(
        "--pixelcnn-filters", type=int, default=None, help="default: match params"
    )
    p.add_argument("--made-hidden", type=int, nargs="+", default=[64])
    p.add_argument("--datasets", nargs="+", default=["17 levels", "binarized"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument(
        "--gated-filters", type=int, default=None, help="default: match params"
    )
    p.add_argument(
        "--quick", action="store_true", help="100 steps (same protocol otherwise)"
    )
    a = p.parse_args()
    if a.quick:
        a.steps = 100
    wall = time.perf_counter()
    print(machine_line(), flush=True)
    tables = []
    for dataset in a.datasets:
        binary = dataset == "binarized"
        levels = 2 if binary else 17
        full_train = load_digits("train", binarize=binary).astype("int32")
        train_x, val_x = split_validation(full_train, a.val_fraction)
        test_x = load_digits("test", binarize=binary).astype("int32")
        init_images = train_x[: a.batch]  # PixelCNN's data-dependent init

        def rnn(layer_type, seed, levels=levels):
            return PixelRNNImages(levels, layer_type, a.hidden, a.output_units, seed)

        target = np.mean(
            [param_count(rnn(lt, 0).trainable_variables) for lt in ("diagonal", "row")]
        )
        filters = a.pixelcnn_filters
        if filters is None and "pixelcnn" in a.models:
            filters = match_pixelcnn_filters(levels, target, init_images)
        gated_filters = a.gated_filters
        if gated_filters is None and "gated" in a.models:
            gated_filters = match_gated_filters(levels, target, a.output_units)
        made_hidden = a.made_hidden
        makers = {
            "diagonal": ("PixelRNN Diagonal BiLSTM", lambda s: rnn("diagonal", s)),
            "row": ("PixelRNN Row LSTM", lambda s: rnn("row", s)),
            "gated": (
                f"Gated PixelCNN ({gated_filters} filters, 5 layers)",
                lambda s, levels=levels, f=gated_filters: GatedPixelCNNImages(
                    levels, f, a.output_units, seed=s
                ),
            ),
            "pixelcnn": (
                f"tfd.PixelCNN ({filters} filters)",
                lambda s, levels=levels, f=filters, x=init_images: PixelCNNImages(
                    levels, f, x, s
                ),
            ),
            "made": (
                f"MADE {made_hidden}",
                lambda s, levels=levels, h=made_hidden: MadeImages(levels, h, s),
            ),
        }
        # key -> {"n", "mode", "val": {lr: [per seed]}, "test": ..., "secs": ...}
        results = {}
        # Seed-major order: an interrupted run still has every model's
        # first seeds.
        for seed in a.seeds:
            batches = train_x[batch_order(len(train_x), a.steps, a.batch, seed)]
            for key in a.models:
                name, make = makers[key]
                keras.utils.set_random_seed(seed)
                trainer = Trainer(make(seed), batches[0])
                r = results.setdefault(
                    key,
                    {
                        "n": param_count(trainer.variables),
                        "mode": trainer.mode,
                        "val": {},
                        "test": {},
                        "secs": [],
                    },
                )
                for lr in a.lrs:
                    seconds = trainer.run(lr, batches)
                    val = trainer.mean_nll(val_x)
                    # The test NLL is kept for the report of the chosen lr
                    # only; the choice uses `val`.
                    r["val"].setdefault(lr, []).append(val)
                    r["test"].setdefault(lr, []).append(trainer.mean_nll(test_x))
                    r["secs"].append(seconds)
                    print(
                        f"[{dataset}] seed {seed} {name} lr {fmt_lr(lr)}: "
                        f"{r['n']:,} weights, validation NLL {val:.2f} nats/image, "
                        f"train {seconds:.0f} s; step {trainer.mode} (timed "
                        f"{trainer.modes_timed}; first call "
                        f"{trainer.compile_seconds:.0f} s)",
                        flush=True,
                    )
        rows = []
        for key in a.models:
            r = results[key]
            best = min(a.lrs, key=lambda lr, r=r: np.mean(r["val"][lr]))
            nlls = np.array(r["test"][best])
            std = float(np.std(nlls, ddof=1)) if len(nlls) > 1 else 0.0
            rows.append(
                {
                    "key": key,
                    "name": makers[key][0],
                    "n": r["n"],
                    "lr": best,
                    "vals": {lr: float(np.mean(v)) for lr, v in r["val"].items()},
                    "mean": float(np.mean(nlls)),
                    "std": std,
                    "nlls": nlls,
                    "secs": float(np.mean(r["secs"])),
                    "mode": r["mode"],
                }
            )
        tables.append((dataset, levels, rows))

    print()
    print(machine_line())
    print(
        f"small models: {a.steps} Adam steps of batch {a.batch} for every model "
        f"and learning rate ({', '.join(fmt_lr(lr) for lr in a.lrs)}), same "
        f"initial weights and batches per seed; lr chosen on a validation split "
        f"({len(val_x)} of the {len(full_train)} training images; trained on "
        f"the other {len(train_x)}); 1 LSTM layer, h={a.hidden}; seeds "
        f"{a.seeds}; test set {len(test_x)} images; total wall "
        f"{time.perf_counter() - wall:.0f} s"
    )
    many = len(a.seeds) > 1
    for dataset, levels, rows in tables:
        print()
        print(f"digits, {dataset} (uniform: {math.log2(levels):.3f} bits/dim)")
        print()
        nll_head = "test NLL nats/image" + (" (mean +- std)" if many else "")
        print(
            f"| model | weights | validation NLL per lr | chosen lr | {nll_head} "
            "| bits/dim | train s per run | train step |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for row in rows:
            vals = ", ".join(f"{fmt_lr(lr)}: {v:.2f}" for lr, v in row["vals"].items())
            nll = f"{row['mean']:.2f}"
            if many:
                nll += f" +- {row['std']:.2f}"
            bpd = row["mean"] / (64 * math.log(2.0))
            print(
                f"| {row['name']} | {row['n']:,} | {vals} | {fmt_lr(row['lr'])} "
                f"| {nll} | {bpd:.3f} | {row['secs']:.0f} | {row['mode']} |"
            )
        by_key = {row["key"]: row for row in rows}
        if many and {"diagonal", "row"} <= set(by_key):
            diff = by_key["diagonal"]["nlls"] - by_key["row"]["nlls"]
            print()
            print(
                "per seed, Diagonal - Row (nats): "
                + ", ".join(f"{d:+.2f}" for d in diff)
                + f"; mean {np.mean(diff):+.2f} +- {np.std(diff, ddof=1):.2f}; "
                f"Diagonal better on {int(np.sum(diff < 0))}/{len(diff)} seeds"
            )
        if {"gated", "pixelcnn"} <= set(by_key):
            gated, pcnn = by_key["gated"]["mean"], by_key["pixelcnn"]["mean"]
            print()
            print(
                f"finding: Gated PixelCNN <= tfd.PixelCNN ({gated:.2f} <= "
                f"{pcnn:.2f}, test NLL at the chosen lr): "
                f"{'holds' if gated <= pcnn else 'does NOT hold'}"
            )
        if {"diagonal", "row", "pixelcnn"} <= set(by_key):
            diag, row, pcnn = (
                by_key[k]["mean"] for k in ("diagonal", "row", "pixelcnn")
            )
            holds = diag <= row <= pcnn
            print()
            print(
                f"finding: the paper's ordering Diagonal BiLSTM <= Row LSTM <= "
                f"PixelCNN ({diag:.2f} <= {row:.2f} <= {pcnn:.2f}, test NLL at "
                f"the chosen lr): {'holds' if holds else 'does NOT hold'}"
            )
        elif {"diagonal", "row"} <= set(by_key):
            diag, row = by_key["diagonal"]["mean"], by_key["row"]["mean"]
            print()
            print(
                f"finding: Diagonal BiLSTM <= Row LSTM ({diag:.2f} <= {row:.2f}): "
                f"{'holds' if diag <= row else 'does NOT hold'}"
            )


if __name__ == "__main__":
    main()
