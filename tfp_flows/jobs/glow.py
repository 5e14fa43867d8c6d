"""Not public API: the `tfp-flows train --model glow|realnvp` job.

Trains a multi-scale Glow (or RealNVP) on images (default: the shipped 8x8
digits; `--data` a name, a folder of PNG/JPEG files or a `.npy`/`.npz`) with
`FlowModel.fit` and the shared callbacks (`tfp_flows.jobs.training`); prints
test bits/dim; saves `MODEL.keras` (reloaded by `load_flow_model`), the
weights, `MODEL.job.json`, a PNG grid of samples, a PNG of the training
curve, `history.csv` and `metrics.json`. With `--conditional` the flow is
class-conditional on the data's labels (one-hot context) and the sample grid
has one row per class.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from typing import Any

import numpy as np

from tfp_flows import flows
from tfp_flows.data.preprocess import as_dataset
from tfp_flows.flows.glow import STACKED_FROM_STEPS
from tfp_flows.internal.keras import keras
from tfp_flows.jobs.common import JobOptions
from tfp_flows.jobs.common import save_curve_png
from tfp_flows.jobs.common import save_grid_png
from tfp_flows.jobs.common import write_metrics
from tfp_flows.jobs.datasets import ImageSplits
from tfp_flows.jobs.datasets import load_image_splits
from tfp_flows.jobs.datasets import to_unit_interval
from tfp_flows.jobs.inference import flow_samples
from tfp_flows.jobs.inference import image_log_probs
from tfp_flows.jobs.inference import one_hot
from tfp_flows.jobs.training import check_finite
from tfp_flows.jobs.training import fit
from tfp_flows.jobs.training import write_job_meta
from tfp_flows.layers import ActNormInitializer
from tfp_flows.layers import FlowModel
from tfp_flows.saving import load_flow_model

__all__ = ["build_flow", "load_trained", "run"]

DEFAULTS = {
    "glow": dict(num_levels=2, num_steps=4, hidden_units=64),
    "realnvp": dict(num_levels=2, num_couplings=3, hidden_units=64),
}
FAST = {
    "glow": dict(num_levels=2, num_steps=1, hidden_units=8),
    "realnvp": dict(num_levels=2, num_couplings=1, hidden_units=8),
}
_STEPS_KEY = {"glow": "num_steps", "realnvp": "num_couplings"}


def build_flow(
    model: str,
    config: dict[str, Any],
    seed: int,
    event_shape: tuple[int, int, int] = (8, 8, 1),
) -> Any:
    """`flows.glow` or `flows.realnvp` on images of `event_shape`."""
    builders: dict[str, Callable[..., Any]] = {
        "glow": flows.glow,
        "realnvp": flows.realnvp,
    }
    return builders[model](event_shape, seed=seed, **config)


def _config(opts: JobOptions, data: ImageSplits) -> dict[str, Any]:
    config: dict[str, Any] = dict((FAST if opts.fast else DEFAULTS)[opts.model])
    if opts.levels is not None:
        config["num_levels"] = opts.levels
    if opts.steps is not None:
        config[_STEPS_KEY[opts.model]] = opts.steps
    if opts.width is not None:
        config["hidden_units"] = opts.width
    if opts.conditional:
        config["context_size"] = data.num_classes
    if opts.dtype_policy is not None:
        config["dtype_policy"] = opts.dtype_policy
    if opts.model == "glow":
        # `flows.glow`'s own rule (stacked from STACKED_FROM_STEPS steps per
        # level: one traced loop per level; reversible gradients from
        # REVERSIBLE_FROM_STEPS, glow's own default), written out so that the
        # saved spec holds the layout, not the rule.
        config["stacked_steps"] = config["num_steps"] >= STACKED_FROM_STEPS
        if opts.keep_hidden:
            config["reversible"] = True
            config["keep_hidden"] = True
    return config


def run(opts: JobOptions) -> dict[str, Any]:
    """Trains, evaluates and saves; returns the metrics it printed."""
    name = opts.model
    keras.utils.set_random_seed(opts.seed)
    data = load_image_splits(
        opts.data,
        image_size=opts.image_size,
        n_bits=opts.n_bits,
        validation_split=opts.validation_split,
        with_labels=opts.conditional,
        fast=opts.fast,
    )
    config = _config(opts, data)
    epochs = opts.epochs or (2 if opts.fast else 60)
    batch_size = min(opts.batch_size or 64, len(data.train))
    k = data.num_classes if opts.conditional else 0

    def context(split: str) -> np.ndarray | None:
        return one_hot(data.labels[split], k) if k else None

    flow = build_flow(name, config, opts.seed, data.image_shape)
    model = FlowModel(flow, name=name)
    # Fresh dequantization noise every epoch; full batches only (one trace).
    train = as_dataset(
        data.train,
        context=context("train"),
        batch_size=batch_size,
        seed=opts.seed,
        drop_remainder=True,
        map_fn=data.preprocess,
    )
    validation = None
    if data.validation is not None:
        val_x = data.preprocess(data.validation, seed=[opts.seed, 3]).numpy()
        validation = as_dataset(
            val_x, context=context("validation"), batch_size=256, shuffle=False
        )
    init_x = data.preprocess(data.train[:512], seed=[opts.seed, 2])
    init: Any = init_x
    if k:
        init = (init_x, one_hot(data.labels["train"][:512], k))
    n_params = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    h, w, c = data.image_shape
    print(
        f"tfp-flows: {name} on {opts.data} {h}x{w}x{c}, {data.num_levels} levels "
        f"(train {len(data.train)}, validation "
        f"{0 if data.validation is None else len(data.validation)}, test "
        f"{len(data.test)}){', conditional on ' + str(k) + ' classes' if k else ''}, "
        f"{n_params} parameters, {epochs} epochs, batch {batch_size}",
        flush=True,
    )

    def grid_for_tensorboard(m: keras.Model) -> np.ndarray:
        ctx = one_hot(np.repeat(np.arange(k), 4), k) if k else None
        return to_unit_interval(
            flow_samples(m, 16 if not k else 4 * k, 0.7, opts.seed, ctx)
        )

    result = fit(
        model,
        train,
        opts,
        epochs=epochs,
        learning_rate=opts.lr or 1e-3,
        validation=validation,
        derived=("bits_per_dim", data.bpd_of_loss),
        # bfloat16 convolutions are fast in TensorFlow's oneDNN kernels, not
        # in XLA's (docs/benchmarks.md, "Mixed precision"); the stacked loop
        # is unrolled by XLA, so its compile time would grow with K again.
        jit_compile=opts.dtype_policy is None
        and not config.get("stacked_steps", False),
        callbacks=[ActNormInitializer(init)],
        sample_images=grid_for_tensorboard,
    )

    test_x = data.preprocess(data.test, seed=[opts.seed, 1]).numpy()
    log_p = image_log_probs(model, test_x, context("test"))
    test_bpd = float(np.mean(data.bits_per_dim(log_p)))
    test_nll = float(-np.mean(log_p))
    print(
        f"test bits/dim: {test_bpd:.4f}   (test NLL {test_nll:.2f} nats per image "
        f"in [-0.5, 0.5) scale; training {result.seconds:.0f} s)",
        flush=True,
    )

    out = pathlib.Path(opts.output_dir)
    model_path = out / f"{name}.keras"
    model.save(model_path)
    weights_path = out / f"{name}.weights.h5"
    model.save_weights(weights_path)
    write_job_meta(
        model_path,
        {
            "job": name,
            **data.meta(),
            "validation_split": opts.validation_split,
            "conditional": bool(k),
            "num_classes": k,
            "config": config,
            "seed": opts.seed,
        },
    )

    if k:
        per_class = 8
        ctx = one_hot(np.repeat(np.arange(k), per_class), k)
        grid = to_unit_interval(flow_samples(model, len(ctx), 0.7, opts.seed, ctx))
        title = f"{name} samples at T=0.7: row i = class i"
        ncols = per_class
    else:
        grid = np.concatenate(
            [
                to_unit_interval(flow_samples(model, 32, t, opts.seed))
                for t in (1.0, 0.7)
            ]
        )
        title = f"{name} samples: rows 1-4 T=1.0, rows 5-8 T=0.7"
        ncols = 8
    save_grid_png(
        grid, opts.out_path("samples.png"), ncols=ncols, vmin=0, vmax=1, title=title
    )
    curves = {"train": result.history["bits_per_dim"]}
    if "val_bits_per_dim" in result.history:
        curves["validation"] = result.history["val_bits_per_dim"]
    save_curve_png(
        curves,
        opts.out_path("training_curve.png"),
        ylabel="bits/dim",
        title=f"{name} on {pathlib.Path(opts.data).name} {h}x{w}x{c}",
    )
    metrics = {
        "model": name,
        "data": opts.data,
        "test_bits_per_dim": test_bpd,
        "test_nll_nats": test_nll,
        "train_bits_per_dim": result.history["bits_per_dim"][-1],
        "validation_bits_per_dim": result.history.get("val_bits_per_dim", [None])[-1],
        "epochs": result.epochs,
        "stopped_early": result.stopped_early,
        "parameters": n_params,
        "train_seconds": result.seconds,
        "first_step_seconds": result.first_step_seconds,
        "finite_samples": bool(np.all(np.isfinite(grid))),
    }
    write_metrics(opts, metrics)
    print(
        f"saved: {model_path}, {weights_path.name}, samples.png, "
        f"training_curve.png, history.csv, metrics.json in {opts.output_dir}/",
        flush=True,
    )
    check_finite(test_bpd, "test bits/dim")
    return metrics


def load_trained(output_dir: str | pathlib.Path, model: str = "glow") -> Any:
    """The flow of `OUTPUT/MODEL.keras` written by `run`."""
    path = pathlib.Path(output_dir) / f"{model}.keras"
    loaded = load_flow_model(path, expected_builder=model)
    if not isinstance(loaded, FlowModel):  # a VAE file fails expected_builder
        raise TypeError(f"{path!r} holds a {type(loaded).__name__}")
    return loaded.flow
