"""Not public API: `tfp-flows sample` and `tfp-flows eval` on saved models.

Both read `MODEL.keras` (with `tfp_flows.saving.load_flow_model`, which also
loads the VAE job's file) and the `MODEL.job.json` beside it,
which says how the training data were prepared (source, image size, n-bit
reduction, standardization), so that a split is re-created exactly.
"""

from __future__ import annotations

import math
import pathlib
from typing import Any

import numpy as np
import tensorflow as tf

from tfp_flows import flows
from tfp_flows.data.preprocess import as_dataset
from tfp_flows.data.preprocess import preprocess_images
from tfp_flows.jobs.options import EvalOptions
from tfp_flows.jobs.options import SampleOptions
from tfp_flows.jobs.options import UsageError
from tfp_flows.jobs.training import SPLIT_SEED
from tfp_flows.jobs.training import TEST_FRACTION
from tfp_flows.jobs.training import read_job_meta

__all__ = [
    "evaluate",
    "flow_samples",
    "image_log_probs",
    "load_model",
    "one_hot",
    "sample",
]


def one_hot(labels: Any, num_classes: int) -> np.ndarray:
    """float32 one-hot rows `[N, num_classes]`."""
    return np.eye(num_classes, dtype=np.float32)[np.asarray(labels, np.int64)]


def flow_samples(
    model: Any,
    n: int,
    temperature: float,
    seed: int,
    context: np.ndarray | None = None,
) -> np.ndarray:
    """`n` samples of a `FlowModel`'s flow at a temperature (one per context row)."""
    flow = model.flow
    if context is not None:
        cond = flow.condition(tf.constant(context))
        s = flows.sample_with_temperature(cond, temperature=temperature, seed=seed)
    else:
        s = flows.sample_with_temperature(flow, n, temperature=temperature, seed=seed)
    return s.numpy()


def image_log_probs(
    model: Any, x: np.ndarray, context: np.ndarray | None = None, batch: int = 256
) -> np.ndarray:
    """Per-example `log_prob` of a `FlowModel` (compiled `predict`, batched)."""
    ds = as_dataset(x, context=context, batch_size=batch, shuffle=False)
    return np.asarray(model.predict(ds, verbose=0), np.float64).reshape(-1)


def load_model(path: str | pathlib.Path, meta: dict[str, Any]) -> Any:
    """The saved model: a `FlowModel`, or a `VAE` for the vae job."""
    from tfp_flows.saving import load_flow_model

    try:
        return load_flow_model(path)
    except ValueError as e:
        raise UsageError(str(e)) from e


# -- sample ----------------------------------------------------------------------


def sample(opts: SampleOptions) -> dict[str, Any]:
    """Draws `opts.n` samples and writes them as a PNG grid or a `.npy` file."""
    from tfp_flows.jobs.common import save_grid_png

    meta = read_job_meta(opts.model_path)
    model = load_model(opts.model_path, meta)
    job, kind = meta["job"], meta.get("kind")
    to_png = opts.out.lower().endswith(".png")
    ncols = opts.ncols
    title = f"{job} samples, T={opts.temperature:g}"
    if job == "vae":
        if opts.temperature != 1.0:
            raise UsageError(
                "--temperature applies to flows; the VAE samples z ~ N(0, I)"
            )
        means = model.generate(opts.n, seed=opts.seed).numpy()
        images = means.reshape(-1, *meta["image_shape"])
        values: np.ndarray = images if to_png else means
        title = "VAE samples (Bernoulli means)"
    elif job == "pixelrnn":
        if opts.temperature != 1.0:
            raise UsageError("--temperature applies to flows; PixelRNN samples at T=1")
        levels = model.flow.sample(opts.n, seed=opts.seed).numpy()
        images = levels / float(meta["num_levels"] - 1)
        values = images if to_png else levels.astype(np.uint8)
        title = "PixelRNN samples"
    elif kind == "table":
        if to_png:
            raise UsageError(
                "a table model's samples are rows, not images: use --out samples.npy"
            )
        from tfp_flows.data.tabular import Standardizer

        z = flow_samples(model, opts.n, opts.temperature, opts.seed)
        std = Standardizer.load(
            pathlib.Path(opts.model_path).parent / meta["standardizer"]
        )
        values = std.invert(z).astype(np.float32)
    else:
        from tfp_flows.jobs.datasets import levels_of
        from tfp_flows.jobs.datasets import to_unit_interval

        context = None
        if meta.get("conditional"):
            k = int(meta["num_classes"])
            per_class = max(1, -(-opts.n // k))
            context = one_hot(np.repeat(np.arange(k), per_class), k)
            ncols = per_class
            title += ": row i = class i"
        x = flow_samples(model, opts.n, opts.temperature, opts.seed, context)
        x = x.reshape(-1, *meta["image_shape"])
        values = (
            to_unit_interval(x)
            if to_png
            else levels_of(x, meta["num_levels"], meta["raw_levels"])
        )
    out = pathlib.Path(opts.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if to_png:
        save_grid_png(values, out, ncols=ncols, vmin=0, vmax=1, title=title)
    else:
        np.save(out, values)
    finite = bool(np.all(np.isfinite(np.asarray(values, np.float64))))
    print(
        f"tfp-flows sample: {len(values)} samples of {job} "
        f"(T={opts.temperature:g}) -> {out}",
        flush=True,
    )
    return {"out": str(out), "count": int(len(values)), "finite": finite}


# -- eval ------------------------------------------------------------------------


def evaluate(opts: EvalOptions) -> dict[str, Any]:
    """Mean NLL of a split: bits/dim for images, nats (data units) for tables."""
    meta = read_job_meta(opts.model_path)
    model = load_model(opts.model_path, meta)
    source = opts.data or meta["data"]
    job, kind = meta["job"], meta.get("kind")
    val = float(meta.get("validation_split", 0.1))
    if job == "vae":
        from tfp_flows.jobs.vae import binarized_digits

        if source != "digits":
            raise UsageError("--model vae was trained on the digits; use --data digits")
        if opts.split not in ("train", "test"):
            raise UsageError("the VAE's digits have a train and a test split only")
        x = binarized_digits()[0 if opts.split == "train" else 1]
        bounds = model.evaluate_bounds(x, num_samples=1000, seed=opts.seed)
        result = {"elbo_nats": bounds["elbo"], "log_px_nats": bounds["log_px"]}
        print(
            f"{opts.split} ELBO: {bounds['elbo']:.4f} nats, IWAE log p(x) "
            f"{bounds['log_px']:.4f} nats (k=1000, {len(x)} images)",
            flush=True,
        )
        return result
    if kind == "table":
        from tfp_flows.data.tabular import Standardizer
        from tfp_flows.data.tabular import load_table

        std = Standardizer.load(
            pathlib.Path(opts.model_path).parent / meta["standardizer"]
        )
        z, _ = load_table(
            source,
            split=opts.split,
            validation_fraction=val,
            test_fraction=TEST_FRACTION,
            seed=SPLIT_SEED,
            standardizer=std,
        )
        if z.shape[1] != int(meta["num_columns"]):
            raise UsageError(
                f"--data {source!r} has {z.shape[1]} columns; the model was trained "
                f"on {meta['num_columns']}"
            )
        log_p = image_log_probs(model, z, batch=opts.batch_size) + std.log_det()
        nats = float(-np.mean(log_p))
        print(
            f"{opts.split} NLL: {nats:.4f} nats per row ({len(z)} rows, "
            f"{z.shape[1]} columns, data units)",
            flush=True,
        )
        return {"nll_nats": nats, "rows": int(len(z))}
    from tfp_flows.jobs.datasets import load_image_split

    image_size = meta.get("image_size")
    images, labels = load_image_split(
        source,
        opts.split,
        image_size=None if image_size is None else tuple(image_size),
        validation_split=val,
        with_labels=bool(meta.get("conditional")),
    )
    shape = list(images.shape[1:])
    if shape != list(meta["image_shape"]):
        raise UsageError(
            f"--data {source!r} holds {'x'.join(map(str, shape))} images; the model "
            f"was trained on {'x'.join(map(str, meta['image_shape']))}"
        )
    d = int(np.prod(shape))
    if job == "pixelrnn":
        log_p = image_log_probs(model, images.astype(np.int32), batch=opts.batch_size)
        bpd = float(-np.mean(log_p) / (d * math.log(2.0)))
    else:
        x = preprocess_images(
            images,
            num_levels=int(meta["raw_levels"]),
            n_bits=meta.get("n_bits"),
            seed=[opts.seed, 1],
        ).numpy()
        if job in ("maf", "iaf"):
            x = x.reshape(len(x), -1)
        context = None
        if meta.get("conditional"):
            context = one_hot(labels, int(meta["num_classes"]))
        log_p = image_log_probs(model, x, context, batch=opts.batch_size)
        levels = int(meta["num_levels"])
        bpd = float(np.mean((-log_p + d * math.log(levels)) / (d * math.log(2.0))))
    print(
        f"{opts.split} bits/dim: {bpd:.4f} ({len(images)} images "
        f"{'x'.join(map(str, shape))})",
        flush=True,
    )
    return {"bits_per_dim": bpd, "images": int(len(images))}
