"""Digits test NLL: Row LSTM and Diagonal BiLSTM PixelRNN vs tfd.PixelCNN and MADE.

scikit-learn's 8x8 digits, fixed split (`tfp_flows.data.load_digits`), both
17 grey levels and binarized. Every model is a discrete distribution over
the integer pixels, trained with Adam for the same number of steps on the
same batches, with small parameter budgets of the same order (MADE cannot go
below ~70k weights at 17 levels: it needs >= 63 hidden units and 17 logits
per pixel from each). Prints test NLL in nats
per image and bits/dim, and checks the paper's ordering
Diagonal BiLSTM <= Row LSTM <= PixelCNN.

Small models and few steps, so the whole run fits in ~15 minutes on 2 busy
CPU cores; the numbers rank the models at this budget, they are not the
models' converged likelihoods.

    python benchmarks/pixel_rnn_nll.py [--steps 300] [--batch 64]

With several `--seeds` every model is trained once per seed (seed `s` sets
the initial weights and the batch order) and the tables report mean +- std
(sample std over seeds); `--models` picks a subset (e.g. the two PixelRNNs
on the binarized digits with a larger step budget):

    python benchmarks/pixel_rnn_nll.py --datasets binarized --steps 1200 \
        --seeds 0 1 2 --models diagonal row
"""

import argparse
import datetime
import math
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_probability as tfp  # noqa: E402

from tfp_flows.data import load_digits  # noqa: E402
from tfp_flows.distributions import pixel_rnn  # noqa: E402
from tfp_flows.internal.keras import keras  # noqa: E402
from tfp_flows.nn import MADE  # noqa: E402

tfd = tfp.distributions


def count(variables):
    return int(sum(np.prod(v.shape) for v in variables))


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
    """tfd.PixelCNN (TFP's, a discretized logistic mixture on 0..levels-1)."""

    def __init__(self, levels, num_filters, seed=0):
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
        self.dist.log_prob(tf.zeros([2, 8, 8, 1]))  # builds (data init)
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


def train(model, train_x, test_x, steps, batch, lr, seed, xla):
    """Adam on the mean NLL; returns (test NLL nats/image, seconds, xla used)."""
    variables = model.trainable_variables
    opt = keras.optimizers.Adam(lr)
    opt.build(variables)

    def step(x):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(model.log_prob(x))
        grads = tape.gradient(loss, variables)
        opt.apply(grads, variables)
        return loss

    rng = np.random.RandomState(seed)
    order = np.concatenate(
        [
            rng.permutation(len(train_x))
            for _ in range(steps * batch // len(train_x) + 1)
        ]
    )
    batches = order[: steps * batch].reshape(steps, batch)
    used_xla = xla
    fn = tf.function(step, jit_compile=xla)
    start = time.perf_counter()
    try:
        fn(tf.constant(train_x[batches[0]]))
    except Exception:  # XLA could not compile it: train without XLA.
        used_xla = False
        fn = tf.function(step)
        fn(tf.constant(train_x[batches[0]]))
    for idx in batches[1:]:
        fn(tf.constant(train_x[idx]))
    seconds = time.perf_counter() - start
    evaluate = tf.function(lambda x: -model.log_prob(x))
    nll = float(np.mean(evaluate(tf.constant(test_x)).numpy()))
    return nll, seconds, used_xla


MODELS = ("diagonal", "row", "pixelcnn", "made")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--hidden", type=int, default=16)
    p.add_argument("--output-units", type=int, default=32)
    p.add_argument("--pixelcnn-filters", type=int, default=8)
    p.add_argument("--made-hidden", type=int, nargs="+", default=[64])
    p.add_argument("--datasets", nargs="+", default=["17 levels", "binarized"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    a = p.parse_args()
    wall = time.perf_counter()
    tables = []
    for dataset in a.datasets:
        binary = dataset == "binarized"
        levels = 2 if binary else 17
        train_x = load_digits("train", binarize=binary).astype("int32")
        test_x = load_digits("test", binarize=binary).astype("int32")

        def rnn(layer_type, seed, levels=levels):
            return PixelRNNImages(levels, layer_type, a.hidden, a.output_units, seed)

        made_hidden = a.made_hidden
        pcnn_filters = a.pixelcnn_filters
        makers = {
            "diagonal": (
                "PixelRNN Diagonal BiLSTM",
                lambda s: rnn("diagonal", s),
                True,
            ),
            "row": ("PixelRNN Row LSTM", lambda s: rnn("row", s), True),
            "pixelcnn": (
                f"tfd.PixelCNN ({pcnn_filters} filters)",
                lambda s, levels=levels, f=pcnn_filters: PixelCNNImages(levels, f, s),
                False,
            ),
            "made": (
                f"MADE {made_hidden}",
                lambda s, levels=levels, h=made_hidden: MadeImages(levels, h, s),
                True,
            ),
        }
        results = {key: [] for key in a.models}  # key -> [(n, nll, s, xla)]
        # Seed-major order: an interrupted run still has every model's
        # first seeds.
        for seed in a.seeds:
            for key in a.models:
                name, make, xla = makers[key]
                keras.utils.set_random_seed(seed)
                model = make(seed)
                n = count(model.trainable_variables)
                nll, seconds, used_xla = train(
                    model, train_x, test_x, a.steps, a.batch, a.lr, seed, xla
                )
                results[key].append((n, nll, seconds, used_xla))
                print(
                    f"[{dataset}] seed {seed} {name}: {n:,} weights, test NLL "
                    f"{nll:.2f} nats/image, {nll / (64 * math.log(2.0)):.3f} "
                    f"bits/dim, train {seconds:.0f} s (XLA {used_xla})",
                    flush=True,
                )
        rows = []
        for key in a.models:
            nlls = np.array([r[1] for r in results[key]])
            std = float(np.std(nlls, ddof=1)) if len(nlls) > 1 else 0.0
            rows.append(
                (
                    key,
                    makers[key][0],
                    results[key][0][0],
                    float(np.mean(nlls)),
                    std,
                    nlls,
                    float(np.mean([r[2] for r in results[key]])),
                    all(r[3] for r in results[key]),
                )
            )
        tables.append((dataset, levels, rows))

    print()
    print(
        f"date: {datetime.date.today()}; machine: 2-core CPU, no GPU "
        f"({platform.machine()}), tensorflow {tf.__version__}, "
        f"tensorflow-probability {tfp.__version__}"
    )
    print(
        f"small models: {a.steps} Adam steps (lr {a.lr}) of batch "
        f"{a.batch} for every model, same batches per seed; 1 LSTM layer, "
        f"h={a.hidden}; seeds {a.seeds}; test set 360 images; total wall "
        f"{time.perf_counter() - wall:.0f} s"
    )
    many = len(a.seeds) > 1
    for dataset, levels, rows in tables:
        print()
        print(f"digits, {dataset} (uniform: {math.log2(levels):.3f} bits/dim)")
        print()
        nll_head = "test NLL nats/image" + (" (mean +- std)" if many else "")
        print(f"| model | weights | {nll_head} | bits/dim | train s |")
        print("|---|---|---|---|---|")
        for _, name, n, mean, std, _, seconds, used_xla in rows:
            xla = "" if used_xla else " (no XLA)"
            nll = f"{mean:.2f} +- {std:.2f}" if many else f"{mean:.2f}"
            bpd = mean / (64 * math.log(2.0))
            print(f"| {name} | {n:,} | {nll} | {bpd:.3f} | {seconds:.0f}{xla} |")
        by_key = {r[0]: r for r in rows}
        if many and {"diagonal", "row"} <= set(by_key):
            diff = by_key["diagonal"][5] - by_key["row"][5]
            print()
            print(
                "per seed, Diagonal - Row (nats): "
                + ", ".join(f"{d:+.2f}" for d in diff)
                + f"; mean {np.mean(diff):+.2f} +- {np.std(diff, ddof=1):.2f}; "
                f"Diagonal better on {int(np.sum(diff < 0))}/{len(diff)} seeds"
            )
        if {"diagonal", "row", "pixelcnn"} <= set(by_key):
            diag, row, pcnn = (by_key[k][3] for k in ("diagonal", "row", "pixelcnn"))
            holds = diag <= row <= pcnn
            print()
            print(
                f"paper's ordering Diagonal BiLSTM <= Row LSTM <= PixelCNN "
                f"({diag:.2f} <= {row:.2f} <= {pcnn:.2f}, means): "
                f"{'holds' if holds else 'does NOT hold'}"
            )
        elif {"diagonal", "row"} <= set(by_key):
            diag, row = by_key["diagonal"][3], by_key["row"][3]
            print()
            print(
                f"Diagonal BiLSTM <= Row LSTM ({diag:.2f} <= {row:.2f}, means): "
                f"{'holds' if diag <= row else 'does NOT hold'}"
            )


if __name__ == "__main__":
    main()
