"""Not public API: options and output helpers shared by the jobs."""

import json

import numpy as np

from tfp_flows.jobs.options import JobOptions
from tfp_flows.jobs.options import env_fast

__all__ = [
    "JobOptions",
    "env_fast",
    "save_curve_png",
    "save_grid_png",
    "write_metrics",
]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_grid_png(images, path, *, ncols=8, title=None, vmin=None, vmax=None):
    """Saves `[N, H, W, C]` images (C = 1 or 3) as a PNG grid."""
    plt = _plt()
    images = np.asarray(images)
    n = images.shape[0]
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(ncols * 1.0, nrows * 1.0 + (0.4 if title else 0))
    )
    axes = np.atleast_1d(axes).reshape(-1)
    for i, ax in enumerate(axes):
        ax.axis("off")
        if i < n:
            img = images[i]
            if img.shape[-1] == 1:
                ax.imshow(img[..., 0], cmap="gray", vmin=vmin, vmax=vmax)
            else:
                ax.imshow(np.clip(img, 0, 1))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def save_curve_png(curves, path, *, xlabel="epoch", ylabel="loss", title=None):
    """Saves `{label: [values]}` as line plots in one PNG."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for label, values in curves.items():
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def write_metrics(opts, metrics):
    """Writes metrics.json in the output dir and returns the dict."""
    path = opts.out_path("metrics.json")
    with open(path, "w") as f:
        json.dump(metrics, f, indent=2, default=float)
    return metrics
