"""Not public API: the `tfp-flows --model maf` and `--model iaf` jobs.

Trains a MAF (or an IAF, as a density) on scikit-learn's 8x8 digits,
dequantized and flattened to 64-D; prints test NLL (nats) and bits/dim; saves
the weights, a PNG grid of samples, a PNG of the training curve and
metrics.json.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import tensorflow as tf

from tfp_flows.data.digits import bits_per_dim
from tfp_flows.data.digits import dequantize
from tfp_flows.data.digits import load_digits
from tfp_flows.flows.autoregressive import iaf
from tfp_flows.flows.autoregressive import maf
from tfp_flows.internal.keras import keras
from tfp_flows.internal.keras import keras_layers_of
from tfp_flows.jobs.common import JobOptions
from tfp_flows.jobs.common import save_curve_png
from tfp_flows.jobs.common import save_grid_png
from tfp_flows.jobs.common import write_metrics

__all__ = ["run"]


class _Weights(keras.Model):
    """A Keras 3 model that only tracks the flow's layers (for saving)."""

    def __init__(self, layers):
        super().__init__()
        self.flow_layers = list(layers)
        self.built = True  # the layers are built at construction


def run(opts: JobOptions) -> dict[str, Any]:
    """Trains, evaluates and writes the outputs; returns the metrics."""
    np.random.seed(opts.seed)
    tf.random.set_seed(opts.seed)
    fast = opts.fast
    epochs = opts.epochs or (1 if fast else (30 if opts.model == "maf" else 10))
    batch = opts.batch_size or 128
    layers, hidden = (2, [64]) if fast else (5, [256, 256])
    train = load_digits("train").reshape(-1, 64)
    test = load_digits("test").reshape(-1, 64)
    if fast:
        train, test = train[:256], test[:128]
    builder = maf if opts.model == "maf" else iaf
    flow = builder(64, num_layers=layers, hidden_units=hidden, seed=opts.seed)
    weights = [w for layer in keras_layers_of(flow) for w in layer.trainable_weights]
    opt = keras.optimizers.Adam(1e-3)

    @tf.function(jit_compile=True, input_signature=[tf.TensorSpec([None, 64])])
    def step(x):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(flow.log_prob(x))
        grads = tape.gradient(loss, weights)
        grads, _ = tf.clip_by_global_norm(grads, 100.0)
        opt.apply_gradients(zip(grads, weights, strict=True))
        return loss

    log_prob = tf.function(
        flow.log_prob, jit_compile=True, input_signature=[tf.TensorSpec([None, 64])]
    )

    def test_nll():
        x = dequantize(test, seed=opts.seed + 1)
        return -float(tf.reduce_mean(log_prob(x)))

    curve: dict[str, list[float]] = {"train NLL (nats)": [], "test NLL (nats)": []}
    rng = np.random.RandomState(opts.seed)
    start = time.time()
    for epoch in range(epochs):
        order = rng.permutation(len(train))
        losses = []
        for i in range(0, len(order), batch):
            x = dequantize(
                train[order[i : i + batch]], seed=[opts.seed, epoch * 10000 + i]
            )
            losses.append(float(step(x)))
        curve["train NLL (nats)"].append(float(np.mean(losses)))
        curve["test NLL (nats)"].append(test_nll())
        if opts.progress:
            print(
                f"epoch {epoch + 1}/{epochs}: "
                f"train {curve['train NLL (nats)'][-1]:.2f} "
                f"test {curve['test NLL (nats)'][-1]:.2f} nats"
            )
    nll = curve["test NLL (nats)"][-1]
    bpd = float(bits_per_dim(-nll, 64))
    samples = flow.sample(64, seed=opts.seed)
    images = np.clip(samples.numpy().reshape(-1, 8, 8, 1) + 0.5, 0.0, 1.0)
    save_grid_png(images, opts.out_path("samples.png"), title=f"{opts.model} samples")
    save_curve_png(curve, opts.out_path("curve.png"), ylabel="NLL (nats)")
    _Weights(keras_layers_of(flow)).save_weights(
        str(opts.out_path(f"{opts.model}.weights.h5"))
    )
    metrics = {
        "model": opts.model,
        "num_layers": layers,
        "hidden_units": hidden,
        "epochs": epochs,
        "test_nll_nats": nll,
        "test_bits_per_dim": bpd,
        "train_seconds": time.time() - start,
    }
    print(f"{opts.model}: test NLL {nll:.2f} nats, {bpd:.3f} bits/dim")
    return write_metrics(opts, metrics)
