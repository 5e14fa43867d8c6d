"""The `tfp-flows` command (also `python -m tfp_flows`).

With no arguments it trains a small multi-scale Glow on scikit-learn's shipped
8x8 digits, prints test bits/dim, saves the model and writes PNGs of samples
and of the training curve into `tfp_flows_out/`.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

from tfp_flows.jobs.common import JobOptions
from tfp_flows.jobs.common import env_fast

__all__ = ["JOBS", "main", "parse_args"]

# --model choice -> module in tfp_flows.jobs with `run(JobOptions) -> dict`.
JOBS = {
    "glow": "tfp_flows.jobs.glow",
    "realnvp": "tfp_flows.jobs.glow",
    "maf": "tfp_flows.jobs.maf",
    "iaf": "tfp_flows.jobs.maf",
    "pixelrnn": "tfp_flows.jobs.pixelrnn",
    "vae": "tfp_flows.jobs.vae",
}


def _available_jobs() -> dict[str, str]:
    jobs = {}
    for name, module in JOBS.items():
        try:
            importlib.util.find_spec(module)
        except ModuleNotFoundError:  # pragma: no cover
            continue
        jobs[name] = module
    return jobs


def parse_args(argv: Sequence[str] | None = None) -> JobOptions:
    """Parses command-line options into a `JobOptions`."""
    parser = argparse.ArgumentParser(
        prog="tfp-flows",
        description="Train a flow on shipped data; print test metrics; save the "
        "model, a PNG grid of samples and a PNG of the training curve.",
    )
    parser.add_argument("--model", default="glow", choices=sorted(_available_jobs()))
    parser.add_argument("--data", default="digits", choices=["digits"])
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--output-dir", default="tfp_flows_out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--fast", action="store_true", help="tiny smoke run (also TFP_FLOWS_FAST=1)"
    )
    parser.add_argument("--no-progress", action="store_true")
    a = parser.parse_args(argv)
    for flag in ("epochs", "batch_size"):
        value = getattr(a, flag)
        if value is not None and value < 1:
            parser.error(f"--{flag.replace('_', '-')} must be >= 1; got {value}")
    return JobOptions(
        model=a.model,
        data=a.data,
        epochs=a.epochs,
        batch_size=a.batch_size,
        output_dir=a.output_dir,
        seed=a.seed,
        fast=a.fast or env_fast(),
        progress=not a.no_progress,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    opts = parse_args(argv)
    module = importlib.import_module(JOBS[opts.model])
    module.run(opts)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
