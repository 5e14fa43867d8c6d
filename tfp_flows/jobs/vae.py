"""Not public API: the `tfp-flows --model vae` job.

Trains a VAE with an IAF posterior (T = 2 steps whose MADEs receive the
encoder's context h) on scikit-learn's 8x8 digits, binarized at the fixed
threshold 8 of 0..16, with the VAE's own Keras `fit` (loss: negative ELBO)
and the shared callbacks of `tfp_flows.jobs.training` (backup for
`--resume`, history.csv, progress, TensorBoard); prints the test ELBO and the
importance-weighted log p(x) (k = 1000); saves `vae.keras` (reloaded by
`tfp_flows.saving.load_flow_model`, or `keras.saving.load_model`), the weights,
`vae.job.json`, PNGs of reconstructions, samples and the training curve, and
metrics.json. `train_vae` (used by the benchmark and the colab) fits one
VAE without writing files.
"""

from __future__ import annotations

import pathlib
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from tfp_flows.data.digits import load_digits
from tfp_flows.data.preprocess import as_dataset
from tfp_flows.internal.keras import keras
from tfp_flows.jobs.common import JobOptions
from tfp_flows.jobs.common import save_curve_png
from tfp_flows.jobs.common import save_grid_png
from tfp_flows.jobs.common import write_metrics
from tfp_flows.jobs.training import check_finite
from tfp_flows.jobs.training import fit
from tfp_flows.jobs.training import write_job_meta
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
    """Trains (the shared `training.fit`), evaluates and writes the outputs."""
    keras.utils.set_random_seed(opts.seed)
    fast = opts.fast
    epochs = opts.epochs or (1 if fast else 200)
    train_x, test = binarized_digits()
    hidden_units: Sequence[int] = (128, 128)
    num_samples = 1000
    if fast:
        train_x, test = train_x[:128], test[:40]
        hidden_units, num_samples = (32,), 16
    model = VAE(
        64,
        latent_size=8,
        posterior=posterior,
        num_flow_steps=num_flow_steps,
        hidden_units=hidden_units,
        made_hidden_units=[32] if fast else [64, 64],
        seed=opts.seed,
    )
    batch = min(opts.batch_size or 64, len(train_x))
    train = as_dataset(train_x, batch_size=batch, seed=opts.seed)
    result = fit(
        model,
        train,
        opts,
        epochs=epochs,
        learning_rate=opts.lr or 1e-3,
        jit_compile="auto",  # Keras' default, as `train_vae`
    )
    bounds = model.evaluate_bounds(test, num_samples=num_samples, seed=opts.seed + 1)
    metrics = {
        "model": "vae",
        "posterior": posterior,
        "num_flow_steps": num_flow_steps,
        "latent_size": 8,
        "epochs": result.epochs,
        "seed": opts.seed,
        "num_iw_samples": num_samples,
        "test_elbo_nats": bounds["elbo"],
        "test_log_px_nats": bounds["log_px"],
        "train_seconds": result.seconds,
    }
    originals = test[:16]
    recon = model.reconstruct(originals, seed=opts.seed).numpy()
    pairs = np.stack([originals, recon], 1).reshape(-1, 8, 8, 1)
    save_grid_png(
        pairs, opts.out_path("reconstructions.png"), ncols=8, title="data | recon"
    )
    samples = model.generate(64, seed=opts.seed).numpy().reshape(-1, 8, 8, 1)
    save_grid_png(samples, opts.out_path("samples.png"), title="VAE samples (means)")
    save_curve_png(
        {"train -ELBO (nats)": result.history["loss"]},
        opts.out_path("curve.png"),
        ylabel="-ELBO (nats)",
    )
    out = pathlib.Path(opts.output_dir)
    model_path = out / "vae.keras"
    model.save(model_path)
    model.save_weights(str(out / "vae.weights.h5"))
    write_job_meta(
        model_path,
        {
            "job": "vae",
            "kind": "binary",
            "data": "digits",
            "image_shape": [8, 8, 1],
            "posterior": posterior,
            "seed": opts.seed,
        },
    )
    print(
        f"vae ({posterior}, T={num_flow_steps}): test ELBO "
        f"{metrics['test_elbo_nats']:.2f} nats, IWAE log p(x) "
        f"{metrics['test_log_px_nats']:.2f} nats (k={metrics['num_iw_samples']})"
    )
    check_finite(metrics["test_elbo_nats"], "test ELBO")
    return write_metrics(opts, metrics)
