"""Not public API: the default `tfp-flows` job (Glow or RealNVP on the digits)."""

import json
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from tfp_flows import data as fdata
from tfp_flows import flows
from tfp_flows.internal.keras import keras
from tfp_flows.jobs.common import JobOptions
from tfp_flows.jobs.common import save_curve_png
from tfp_flows.jobs.common import save_grid_png
from tfp_flows.jobs.common import write_metrics
from tfp_flows.layers import FlowModel

__all__ = ["build_flow", "load_trained", "run"]

_EVENT = (8, 8, 1)
DEFAULTS = {
    "glow": dict(num_levels=2, num_steps=4, hidden_units=64),
    "realnvp": dict(num_levels=2, num_couplings=3, hidden_units=64),
}
FAST = {
    "glow": dict(num_levels=2, num_steps=1, hidden_units=8),
    "realnvp": dict(num_levels=2, num_couplings=1, hidden_units=8),
}


def build_flow(model: str, config: dict[str, Any], seed: int) -> Any:
    builders: dict[str, Callable[..., Any]] = {
        "glow": flows.glow,
        "realnvp": flows.realnvp,
    }
    builder = builders[model]
    return builder(_EVENT, seed=seed, **config)


class _Progress(keras.callbacks.Callback):
    """One tqdm bar over all epochs; evaluates test bits/dim each epoch."""

    def __init__(self, epochs, test_x, show):
        super().__init__()
        self.epochs, self.test_x, self.show = epochs, test_x, show
        self.train_bpd, self.test_bpd = [], []
        self._bar = None

    def on_train_begin(self, logs=None):
        if self.show:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.epochs, desc="training", unit="epoch")
        flow = self.model.flow
        self._eval = tf.function(
            lambda x: tf.reduce_mean(fdata.bits_per_dim(flow.log_prob(x), 64)),
            jit_compile=True,
        )

    def on_epoch_end(self, epoch, logs=None):
        train = -logs["loss"]
        self.train_bpd.append(float(fdata.bits_per_dim(train, 64)))
        self.test_bpd.append(float(self._eval(tf.identity(self.test_x))))
        if self._bar is not None:
            self._bar.set_postfix(
                train_bpd=f"{self.train_bpd[-1]:.3f}",
                test_bpd=f"{self.test_bpd[-1]:.3f}",
            )
            self._bar.update(1)

    def on_train_end(self, logs=None):
        if self._bar is not None:
            self._bar.close()


def run(opts: JobOptions) -> dict[str, Any]:
    """Trains, evaluates and saves; returns the metrics it printed."""
    model_name = opts.model
    config = dict((FAST if opts.fast else DEFAULTS)[model_name])
    epochs = opts.epochs or (2 if opts.fast else 60)
    batch_size = opts.batch_size or 64
    keras.utils.set_random_seed(opts.seed)

    train = fdata.load_digits("train")
    test = fdata.load_digits("test")
    if opts.fast:
        train, test = train[:256], test[:64]
    test_x = fdata.dequantize(test, seed=[opts.seed, 1])
    train_k = tf.constant(train)

    flow = build_flow(model_name, config, opts.seed)
    init_x = fdata.dequantize(train_k[:512], seed=[opts.seed, 2])
    flows.initialize_act_norms(flow, init_x)

    # Fresh dequantization noise every epoch; full batches only (one trace).
    ds = (
        tf.data.Dataset.from_tensor_slices(train_k)
        .shuffle(len(train), seed=opts.seed, reshuffle_each_iteration=True)
        .batch(batch_size, drop_remainder=True)
        .map(lambda k: fdata.dequantize(k), num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
    model = FlowModel(flow, name=model_name)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=True)
    n_params = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    print(
        f"tfp-flows: {model_name} on digits 8x8 (train {len(train)}, test {len(test)}), "
        f"{n_params} parameters, {epochs} epochs, batch {batch_size}",
        flush=True,
    )
    progress = _Progress(epochs, test_x, opts.progress)
    t0 = time.time()
    model.fit(ds, epochs=epochs, verbose=0, callbacks=[progress])
    seconds = time.time() - t0

    test_bpd = progress.test_bpd[-1]
    test_nll = float(-tf.reduce_mean(flow.log_prob(tf.identity(test_x))))
    print(
        f"test bits/dim: {test_bpd:.4f}   (test NLL {test_nll:.2f} nats per image "
        f"in [-0.5, 0.5) scale; training {seconds:.0f} s)",
        flush=True,
    )

    weights_path = opts.out_path(f"{model_name}.weights.h5")
    model.save_weights(weights_path)
    with open(opts.out_path(f"{model_name}.config.json"), "w") as f:
        json.dump(
            {"model": model_name, "config": config, "seed": opts.seed}, f, indent=2
        )

    samples = {}
    for t in (1.0, 0.7):
        s = flows.sample_with_temperature(flow, 32, temperature=t, seed=opts.seed)
        samples[t] = np.clip(s.numpy() + 0.5, 0.0, 1.0)
    grid = np.concatenate([samples[1.0], samples[0.7]], axis=0)
    save_grid_png(
        grid,
        opts.out_path("samples.png"),
        ncols=8,
        vmin=0,
        vmax=1,
        title=f"{model_name} samples: rows 1-4 T=1.0, rows 5-8 T=0.7",
    )
    save_curve_png(
        {"train": progress.train_bpd, "test": progress.test_bpd},
        opts.out_path("training_curve.png"),
        ylabel="bits/dim",
        title=f"{model_name} on 8x8 digits",
    )
    metrics = {
        "model": model_name,
        "test_bits_per_dim": test_bpd,
        "test_nll_nats": test_nll,
        "train_bits_per_dim": progress.train_bpd[-1],
        "epochs": epochs,
        "parameters": n_params,
        "train_seconds": seconds,
        "finite_samples": bool(np.all(np.isfinite(grid))),
    }
    write_metrics(opts, metrics)
    print(
        f"saved: {weights_path}, samples.png, training_curve.png, metrics.json "
        f"in {opts.output_dir}/",
        flush=True,
    )
    if not math.isfinite(test_bpd):
        raise RuntimeError("training diverged: test bits/dim is not finite")
    return metrics


def load_trained(output_dir, model="glow"):
    """Rebuilds a flow saved by `run` and loads its weights."""
    import pathlib

    path = pathlib.Path(output_dir)
    with open(path / f"{model}.config.json") as f:
        saved = json.load(f)
    flow = build_flow(saved["model"], saved["config"], saved["seed"])
    m = FlowModel(flow, name=saved["model"])
    m(tf.zeros((1,) + _EVENT))  # build before loading
    m.load_weights(path / f"{model}.weights.h5")
    return flow
