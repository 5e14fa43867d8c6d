"""Not public API: the options of the `tfp-flows` subcommands.

Standard library only: `tfp_flows.cli` imports this module to parse the
command line, and `tfp-flows --help` must not import TensorFlow.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from typing import Any

__all__ = [
    "EvalOptions",
    "JobOptions",
    "SampleOptions",
    "UsageError",
    "env_fast",
]


class UsageError(ValueError):
    """A bad option or input file: the command prints one line and exits 2."""


@dataclasses.dataclass
class JobOptions:
    """Options of `tfp-flows train` (every job receives them).

    Attributes:
      model: job name (e.g. 'glow').
      data: data set name ('digits', 'rgb_patches', 'tfds:NAME') or a path.
      epochs: passes over the training data (None: the job's default).
      batch_size: minibatch size (None: the job's default).
      output_dir: where the model, PNGs, history.csv and metrics.json go.
      seed: integer seed for weights, data split, data noise and sampling.
      fast: shrink everything to a smoke run (tests, colabs).
      progress: show a progress bar.
      image_size: None, or `(H, W)` to resize and crop images to.
      n_bits: None, or Glow's reduction of 8-bit images to `n_bits` bits.
      lr: Adam learning rate (None: the job's default).
      validation_split: fraction of the data held out for validation (early
        stopping, the validation columns of history.csv); 0: none.
      levels: Glow/RealNVP levels (None: default).
      steps: Glow steps (RealNVP couplings) per level (None: default).
      width: hidden channels of the coupling networks (None: default).
      layers: MAF/IAF layers, PixelRNN LSTM layers (None: default).
      hidden: MAF/IAF MADE hidden sizes, PixelRNN LSTM units (None: default).
      patience: early stopping patience in epochs on the validation loss
        (None: no early stopping).
      tensorboard: also write TensorBoard logs (with sample grids).
      conditional: class-conditional Glow/RealNVP on the data's labels.
      dtype_policy: None, or `'mixed_bfloat16'` / `'mixed_float16'`: Glow's
        and RealNVP's coupling networks in 16 bits over float32 weights (the
        train step then runs without XLA, whose CPU convolutions gain nothing
        from bfloat16).
      keep_hidden: Glow with reversible gradients that keep each step's
        last hidden activation (`flows.glow(..., reversible=True,
        keep_hidden=True)`): a faster training step, activation memory
        growing with the depth; needs stacked steps (8 or more per level).
      resume: continue the interrupted run in `output_dir`.
      verbose: show TensorFlow's start-up log lines and tracebacks.
    """

    model: str = "glow"
    data: str = "digits"
    epochs: int | None = None
    batch_size: int | None = None
    output_dir: str = "tfp_flows_out"
    seed: int = 0
    fast: bool = False
    progress: bool = True
    image_size: tuple[int, int] | None = None
    n_bits: int | None = None
    lr: float | None = None
    validation_split: float = 0.1
    levels: int | None = None
    steps: int | None = None
    width: int | None = None
    layers: int | None = None
    hidden: tuple[int, ...] | None = None
    patience: int | None = None
    tensorboard: bool = False
    conditional: bool = False
    dtype_policy: str | None = None
    keep_hidden: bool = False
    resume: bool = False
    verbose: bool = False

    def out_path(self, name: str) -> pathlib.Path:
        """`output_dir / name`, creating `output_dir`."""
        path = pathlib.Path(self.output_dir)
        path.mkdir(parents=True, exist_ok=True)
        return path / name

    # The options a resumed run takes from the interrupted one.
    _RUN_FILE = "run.json"
    _NOT_SAVED = ("resume", "verbose", "progress", "output_dir")

    def save_run(self) -> pathlib.Path:
        """Writes the options to `output_dir/run.json` (read by `--resume`)."""
        d = {
            k: v
            for k, v in dataclasses.asdict(self).items()
            if k not in self._NOT_SAVED
        }
        path = self.out_path(self._RUN_FILE)
        path.write_text(json.dumps(d, indent=2) + "\n")
        return path

    def resumed(self) -> JobOptions:
        """The options of the interrupted run in `output_dir`, to resume it.

        Raises:
          UsageError: `output_dir` holds no interrupted run.
        """
        path = pathlib.Path(self.output_dir) / self._RUN_FILE
        backup = pathlib.Path(self.output_dir) / "backup"
        if not path.is_file() or not backup.is_dir():
            raise UsageError(
                f"--resume: no interrupted run in {self.output_dir!r} (need "
                f"{self._RUN_FILE} and backup/ from a run that did not finish)"
            )
        saved: dict[str, Any] = json.loads(path.read_text())
        for key in ("image_size", "hidden"):
            if saved.get(key) is not None:
                saved[key] = tuple(saved[key])
        keep = {k: getattr(self, k) for k in self._NOT_SAVED}
        return dataclasses.replace(JobOptions(**saved), **keep)


@dataclasses.dataclass
class SampleOptions:
    """Options of `tfp-flows sample`.

    Attributes:
      model_path: the `.keras` file written by `tfp-flows train`.
      n: number of samples.
      temperature: Glow's temperature (scale of the base noise).
      out: `.png` (a grid) or `.npy` (the samples, in data units).
      seed: sampling seed.
      ncols: columns of the PNG grid.
      verbose: show TensorFlow's start-up log lines and tracebacks.
    """

    model_path: str
    n: int = 64
    temperature: float = 1.0
    out: str = "samples.png"
    seed: int = 0
    ncols: int = 8
    verbose: bool = False


@dataclasses.dataclass
class EvalOptions:
    """Options of `tfp-flows eval`.

    Attributes:
      model_path: the `.keras` file written by `tfp-flows train`.
      data: None (the training data), a name or a path.
      split: 'train', 'validation', 'test' or 'all'.
      batch_size: evaluation batch size.
      seed: seed of the dequantization noise.
      verbose: show TensorFlow's start-up log lines and tracebacks.
    """

    model_path: str
    data: str | None = None
    split: str = "test"
    batch_size: int = 256
    seed: int = 0
    verbose: bool = False


def env_fast() -> bool:
    """True when the environment asks for a fast (smoke) run."""
    return os.environ.get("TFP_FLOWS_FAST", "0") not in ("", "0", "false", "False")
