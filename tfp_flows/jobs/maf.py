"""Not public API: the `tfp-flows train --model maf` and `--model iaf` jobs.

Trains a MAF (or an IAF, as a density) with `FlowModel.fit` and the shared
callbacks (`tfp_flows.jobs.training`) on either

- a table (`--data table.csv`, or a `.npy`/`.npz` holding one `[N, D]`
  array): standardized with the training split's statistics (the MAF paper's
  UCI protocol), which are saved as `MODEL.standardizer.json` beside
  `MODEL.keras`; test NLL in nats per row in the data's units
  (`log p(x) = log p(z) + sum(-log std)`);
- or images, flattened (default: scikit-learn's 8x8 digits, 64-D),
  dequantized afresh every epoch; test NLL (nats) and bits/dim.

Writes `MODEL.keras` (reloaded by `load_flow_model`), the weights,
`MODEL.job.json`, a PNG of samples (images), a PNG of the training curve,
`history.csv` and `metrics.json`.
"""

from __future__ import annotations

import math
import pathlib
from typing import Any

import numpy as np

from tfp_flows.data.preprocess import as_dataset
from tfp_flows.data.tabular import Standardizer
from tfp_flows.data.tabular import load_table
from tfp_flows.flows.autoregressive import iaf
from tfp_flows.flows.autoregressive import maf
from tfp_flows.internal.keras import keras
from tfp_flows.jobs.common import JobOptions
from tfp_flows.jobs.common import save_curve_png
from tfp_flows.jobs.common import save_grid_png
from tfp_flows.jobs.common import write_metrics
from tfp_flows.jobs.datasets import FAST_SIZES
from tfp_flows.jobs.datasets import load_image_splits
from tfp_flows.jobs.datasets import to_unit_interval
from tfp_flows.jobs.inference import flow_samples
from tfp_flows.jobs.inference import image_log_probs
from tfp_flows.jobs.training import SPLIT_SEED
from tfp_flows.jobs.training import TEST_FRACTION
from tfp_flows.jobs.training import check_finite
from tfp_flows.jobs.training import fit
from tfp_flows.jobs.training import write_job_meta
from tfp_flows.layers import FlowModel

__all__ = ["is_table", "run"]


def is_table(source: str) -> bool:
    """True for a `.csv`, or a `.npy`/`.npz` whose array has rank 2."""
    path = pathlib.Path(source)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return True
    if suffix not in (".npy", ".npz") or not path.is_file():
        return False
    try:
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                keys = [k for k in ("x", "data") if k in z.files] or z.files
                return len(z.files) >= 1 and z[keys[0]].ndim == 2
        return np.load(path, mmap_mode="r", allow_pickle=False).ndim == 2
    except (OSError, ValueError):
        return False


class _Table:
    """The standardized splits of a table and their `Standardizer`."""

    def __init__(self, source: str, validation_split: float, fast: bool):
        def split(name: str, std: Standardizer | None) -> Any:
            return load_table(
                source,
                split=name,
                validation_fraction=validation_split,
                test_fraction=TEST_FRACTION,
                seed=SPLIT_SEED,
                standardizer=std,
            )

        self.train, std = split("train", None)
        assert std is not None
        self.standardizer: Standardizer = std
        self.test = split("test", std)[0]
        self.validation = None
        if validation_split > 0:
            self.validation = split("validation", std)[0]
        if fast:
            self.train = self.train[: FAST_SIZES["train"]]
            if self.validation is not None:
                self.validation = self.validation[: FAST_SIZES["validation"]]

    def nats_of_loss(self, loss: float) -> float:
        """Mean NLL in the data's units from the loss on standardized rows."""
        return loss - self.standardizer.log_det()


def run(opts: JobOptions) -> dict[str, Any]:
    """Trains, evaluates and writes the outputs; returns the metrics."""
    keras.utils.set_random_seed(opts.seed)
    fast = opts.fast
    name = opts.model
    epochs = opts.epochs or (1 if fast else (30 if name == "maf" else 10))
    layers = opts.layers or (2 if fast else 5)
    hidden = list(opts.hidden or ((64,) if fast else (256, 256)))
    table = is_table(opts.data)
    out = pathlib.Path(opts.output_dir)
    model_path = out / f"{name}.keras"
    meta: dict[str, Any] = {"job": name, "validation_split": opts.validation_split}
    t: Any = None
    data: Any = None
    if table:
        t = _Table(opts.data, opts.validation_split, fast)
        dim = t.train.shape[1]
        batch = min(opts.batch_size or 128, len(t.train))
        train = as_dataset(t.train, batch_size=batch, seed=opts.seed)
        validation = (
            None
            if t.validation is None
            else as_dataset(t.validation, batch_size=512, shuffle=False)
        )
        derived = ("nats", t.nats_of_loss)
        sizes = (len(t.train), 0 if t.validation is None else len(t.validation))
        meta.update(
            kind="table",
            data=str(pathlib.Path(opts.data).resolve()),
            num_columns=dim,
            standardizer=Standardizer.path_for(model_path).name,
        )
    else:
        data = load_image_splits(
            opts.data,
            image_size=opts.image_size,
            n_bits=opts.n_bits,
            validation_split=opts.validation_split,
            fast=fast,
        )
        dim = data.num_dims
        batch = min(opts.batch_size or 128, len(data.train))
        train = as_dataset(
            data.train.reshape(len(data.train), dim),
            batch_size=batch,
            seed=opts.seed,
            map_fn=data.preprocess,
        )
        validation = None
        if data.validation is not None:
            val_x = data.preprocess(data.validation, seed=[opts.seed, 3]).numpy()
            validation = as_dataset(
                val_x.reshape(len(val_x), dim), batch_size=512, shuffle=False
            )
        derived = ("bits_per_dim", data.bpd_of_loss)
        sizes = (
            len(data.train),
            0 if data.validation is None else len(data.validation),
        )
        meta.update(data.meta())
    builder = maf if name == "maf" else iaf
    flow = builder(dim, num_layers=layers, hidden_units=hidden, seed=opts.seed)
    model = FlowModel(flow, name=name)
    n_params = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    print(
        f"tfp-flows: {name} on {opts.data} ({dim}-D{', table' if table else ''}; "
        f"train {sizes[0]}, validation {sizes[1]}), {layers} layers, hidden "
        f"{hidden}, {n_params} parameters, {epochs} epochs, batch {batch}",
        flush=True,
    )
    result = fit(
        model,
        train,
        opts,
        epochs=epochs,
        learning_rate=opts.lr or 1e-3,
        validation=validation,
        global_clipnorm=100.0,
        derived=derived,
    )
    metrics: dict[str, Any] = {
        "model": name,
        "data": opts.data,
        "num_layers": layers,
        "hidden_units": hidden,
        "epochs": result.epochs,
        "stopped_early": result.stopped_early,
        "parameters": n_params,
        "train_seconds": result.seconds,
    }
    if table:
        log_p = image_log_probs(model, t.test) + t.standardizer.log_det()
        nll = float(-np.mean(log_p))
        metrics["test_nll_nats"] = nll
        print(
            f"{name}: test NLL {nll:.4f} nats per row (data units, {len(t.test)} rows)",
            flush=True,
        )
        t.standardizer.save(Standardizer.path_for(model_path))
        curve = {"train NLL (nats)": result.history["nats"]}
        if "val_nats" in result.history:
            curve["validation NLL (nats)"] = result.history["val_nats"]
    else:
        test_x = data.preprocess(data.test, seed=[opts.seed, 1]).numpy()
        log_p = image_log_probs(model, test_x.reshape(len(test_x), dim))
        nll = float(-np.mean(log_p))
        bpd = float(np.mean(data.bits_per_dim(log_p)))
        metrics.update(test_nll_nats=nll, test_bits_per_dim=bpd)
        print(f"{name}: test NLL {nll:.2f} nats, {bpd:.3f} bits/dim", flush=True)
        samples = flow_samples(model, 64, 1.0, opts.seed)
        images = to_unit_interval(samples.reshape(-1, *data.image_shape))
        save_grid_png(images, opts.out_path("samples.png"), title=f"{name} samples")
        curve = {"train bits/dim": result.history["bits_per_dim"]}
        if "val_bits_per_dim" in result.history:
            curve["validation bits/dim"] = result.history["val_bits_per_dim"]
    save_curve_png(
        curve,
        opts.out_path("curve.png"),
        ylabel="NLL (nats)" if table else "bits/dim",
    )
    model.save(model_path)
    model.save_weights(out / f"{name}.weights.h5")
    meta.update(num_layers=layers, hidden_units=hidden, seed=opts.seed)
    write_job_meta(model_path, meta)
    check_finite(metrics["test_nll_nats"], "test NLL")
    if math.isfinite(metrics["test_nll_nats"]):
        print(f"saved: {model_path} and outputs in {opts.output_dir}/", flush=True)
    return write_metrics(opts, metrics)
