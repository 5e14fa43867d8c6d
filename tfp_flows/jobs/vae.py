"""Not public API: the `tfp-flows --model vae` job.

Trains a VAE with an IAF posterior (T = 2 steps whose MADEs receive the
encoder's context h) on scikit-learn's 8x8 digits, binarized at the fixed
threshold 8 of 0..16, with Keras `model.fit` (loss: negative ELBO) and a
progress bar; prints the test ELBO and the importance-weighted log p(x)
(k = 1000); saves the weights, PNGs of reconstructions, samples and the
training curve, and metrics.json.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from tfp_flows.data.digits import load_digits
from tfp_flows.internal.keras import keras
from tfp_flows.jobs.common import JobOptions
from tfp_flows.jobs.common import save_curve_png
from tfp_flows.jobs.common import save_grid_png
from tfp_flows.jobs.common import write_metrics
from tfp_flows.vae import VAE

__all__ = ["binarized_digits", "run", "train_vae"]


def binarized_digits():
    """Train and test sets `[N, 64]` float32 in {0, 1} (threshold 8, fixed split)."""
    train = load_digits("train", binarize=True).reshape(-1, 64).astype(np.float32)
    test = load_digits("test", binarize=True).reshape(-1, 64).astype(np.float32)
    return train, test


def train_vae(
    posterior: str,
    num_flow_steps: int,
    *,
    epochs: int,
    batch_size: int = 64,
    seed: int = 0,
    latent_size: int = 8,
    hidden_units: Sequence[int] = (128, 128),
    learning_rate: float = 1e-3,
    num_samples: int = 1000,
    fast: bool = False,
    verbose: int = 0,
) -> tuple[VAE, keras.callbacks.History, dict[str, Any]]:
    """Builds, fits and evaluates one VAE; returns `(model, history, metrics)`."""
    keras.utils.set_random_seed(seed)
    train, test = binarized_digits()
    if fast:
        train, test = train[:128], test[:40]
        hidden_units, num_samples = (32,), min(num_samples, 16)
    model = VAE(
        64,
        latent_size=latent_size,
        posterior=posterior,
        num_flow_steps=num_flow_steps,
        hidden_units=hidden_units,
        made_hidden_units=[32] if fast else [64, 64],
        seed=seed,
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate))
    start = time.time()
    history = model.fit(
        train, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=verbose
    )
    train_seconds = time.time() - start
    bounds = model.evaluate_bounds(test, num_samples=num_samples, seed=seed + 1)
    metrics = {
        "posterior": posterior,
        "num_flow_steps": num_flow_steps,
        "latent_size": latent_size,
        "epochs": epochs,
        "seed": seed,
        "num_iw_samples": num_samples,
        "test_elbo_nats": bounds["elbo"],
        "test_log_px_nats": bounds["log_px"],
        "train_seconds": train_seconds,
    }
    return model, history, metrics


def run(
    opts: JobOptions, *, posterior: str = "iaf", num_flow_steps: int = 2
) -> dict[str, Any]:
    """Trains, evaluates and writes the outputs; returns the metrics."""
    tf.random.set_seed(opts.seed)
    epochs = opts.epochs or (1 if opts.fast else 200)
    model, history, metrics = train_vae(
        posterior,
        num_flow_steps,
        epochs=epochs,
        batch_size=opts.batch_size or 64,
        seed=opts.seed,
        fast=opts.fast,
        verbose=1 if opts.progress else 0,
    )
    _, test = binarized_digits()
    originals = test[:16]
    recon = model.reconstruct(originals, seed=opts.seed).numpy()
    pairs = np.stack([originals, recon], 1).reshape(-1, 8, 8, 1)
    save_grid_png(
        pairs, opts.out_path("reconstructions.png"), ncols=8, title="data | recon"
    )
    samples = model.generate(64, seed=opts.seed).numpy().reshape(-1, 8, 8, 1)
    save_grid_png(samples, opts.out_path("samples.png"), title="VAE samples (means)")
    save_curve_png(
        {"train -ELBO (nats)": history.history["loss"]},
        opts.out_path("curve.png"),
        ylabel="-ELBO (nats)",
    )
    model.save_weights(str(opts.out_path("vae.weights.h5")))
    metrics["model"] = "vae"
    print(
        f"vae ({posterior}, T={num_flow_steps}): test ELBO "
        f"{metrics['test_elbo_nats']:.2f} nats, IWAE log p(x) "
        f"{metrics['test_log_px_nats']:.2f} nats (k={metrics['num_iw_samples']})"
    )
    return write_metrics(opts, metrics)
