"""Not public API: the `tfp-flows --model pixelrnn` job.

Trains a Diagonal BiLSTM PixelRNN on scikit-learn's 8x8 digits (17 grey
levels, a discrete model: no dequantization) with Keras 3 `model.fit`; prints
the test NLL in nats per image and bits/dim; saves the weights, a PNG grid of
samples, a PNG of half-image completions, a PNG of the training curve and
metrics.json.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import tensorflow as tf

from tfp_flows.data.digits import NUM_LEVELS
from tfp_flows.data.digits import load_digits
from tfp_flows.distributions.pixel_rnn import PixelRNNDistribution
from tfp_flows.internal.keras import keras
from tfp_flows.jobs.common import JobOptions
from tfp_flows.jobs.common import save_curve_png
from tfp_flows.jobs.common import save_grid_png
from tfp_flows.jobs.common import write_metrics
from tfp_flows.nn.pixel_rnn import PixelRNN

__all__ = ["run"]


def run(opts: JobOptions) -> dict[str, Any]:
    """Trains, evaluates and writes the outputs; returns the metrics."""
    np.random.seed(opts.seed)
    tf.random.set_seed(opts.seed)
    keras.utils.set_random_seed(opts.seed)
    fast = opts.fast
    epochs = opts.epochs or (1 if fast else 25)
    batch = opts.batch_size or 64
    train = load_digits("train").astype("int32")
    test = load_digits("test").astype("int32")
    if fast:
        train, test = train[:128], test[:64]
    config: dict[str, Any] = dict(
        num_levels=NUM_LEVELS,
        layer_type="diagonal",
        num_layers=1 if fast else 2,
        hidden_units=8 if fast else 32,
        output_units=16 if fast else 64,
    )
    net = PixelRNN((8, 8, 1), **config)
    dist = PixelRNNDistribution(net)
    model = dist.as_keras_model()
    # XLA cannot compile the gradient of the scans with a dynamic batch size.
    model.compile(optimizer=keras.optimizers.Adam(2e-3), jit_compile=False)
    start = time.time()
    history = model.fit(
        train,
        validation_data=(test,),
        epochs=epochs,
        batch_size=batch,
        shuffle=True,
        verbose=2 if opts.progress else 0,
    )
    train_seconds = time.time() - start
    nll = float(np.mean(-dist.log_prob(test).numpy()))
    bpd = nll / (64 * math.log(2.0))
    curve = {
        "train NLL (nats)": history.history["loss"],
        "test NLL (nats)": history.history["val_loss"],
    }
    samples = dist.sample(16 if fast else 64, seed=opts.seed).numpy()
    halves = test[:8]
    completions = dist.complete(halves, 4, seed=opts.seed).numpy()
    grid = np.concatenate(
        [halves * np.r_[1, 1, 1, 1, 0, 0, 0, 0][:, None, None], completions]
    )
    vmax = NUM_LEVELS - 1
    save_grid_png(
        samples,
        opts.out_path("samples.png"),
        title="PixelRNN samples",
        vmin=0,
        vmax=vmax,
    )
    save_grid_png(
        grid,
        opts.out_path("completions.png"),
        title="top halves (row 1) and completions (row 2)",
        vmin=0,
        vmax=vmax,
    )
    save_curve_png(curve, opts.out_path("curve.png"), ylabel="NLL (nats / image)")
    model.save_weights(str(opts.out_path("pixelrnn.weights.h5")))
    metrics = {
        "model": "pixelrnn",
        **config,
        "epochs": epochs,
        "num_weights": int(sum(np.prod(w.shape) for w in net.trainable_weights)),
        "test_nll_nats": nll,
        "test_bits_per_dim": bpd,
        "train_seconds": train_seconds,
    }
    print(
        f"pixelrnn (diagonal BiLSTM): test NLL {nll:.2f} nats/image, {bpd:.3f} bits/dim"
    )
    return write_metrics(opts, metrics)
