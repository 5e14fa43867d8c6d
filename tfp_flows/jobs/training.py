"""Not public API: the one training path of every `tfp-flows train` job.

`fit` compiles and fits a Keras model (a `tfp_flows.layers.FlowModel`, or
the VAE) with the callbacks the jobs share:

- `keras.callbacks.BackupAndRestore` in `OUTPUT/backup/` (deleted when a run
  finishes), so `--resume` continues a killed run from its last finished
  epoch, with the optimizer's state; its files are written to temporary names
  and renamed into place, so a kill while it writes leaves the previous
  epoch's backup whole;
- derived columns (bits/dim, or nats in data units) added to the epoch logs;
- `keras.callbacks.CSVLogger` writing `OUTPUT/history.csv` (appended to on
  resume, after dropping rows of epochs that are trained again);
- `keras.callbacks.EarlyStopping` on the validation loss (`--patience`),
  keeping the best weights;
- with `--tensorboard`, `keras.callbacks.TensorBoard` and
  `tfp_flows.layers.SampleGridLogger` in `OUTPUT/tensorboard/`;
- a progress bar over the epochs.

The file helpers here also write and read `MODEL.job.json`, the metadata
beside each saved `.keras` file that `tfp-flows sample` and `tfp-flows eval`
need (which data, how it was pre-processed).
"""

from __future__ import annotations

import csv
import json
import math
import os
import pathlib
import shutil
import time
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from tfp_flows.internal.keras import keras
from tfp_flows.jobs.options import JobOptions
from tfp_flows.jobs.options import UsageError
from tfp_flows.layers.callbacks import SampleGridLogger

__all__ = [
    "TEST_FRACTION",
    "FitResult",
    "fit",
    "job_meta_path",
    "read_job_meta",
    "write_job_meta",
]

#: Fraction of every data set held out as the test split (fixed, split seed 0).
TEST_FRACTION = 0.1
#: Seed of the train/validation/test permutation (the same for every run).
SPLIT_SEED = 0
HISTORY = "history.csv"
BACKUP = "backup"


class FitResult:
    """What `fit` returns: the full per-epoch history and the timing.

    Attributes:
      history: `{column: [one value per epoch]}` from `history.csv` (all
        epochs, also those of an interrupted run that was resumed).
      epochs_run: epochs trained by this call.
      seconds: wall time of this call's `fit`.
      stopped_early: True if early stopping ended the run.
      first_step_seconds: wall time from the start of training to the end of
        the first step (tracing and compiling included); None if no step ran.
    """

    def __init__(self, history, epochs_run, seconds, stopped_early):
        self.history = history
        self.epochs_run = epochs_run
        self.seconds = seconds
        self.stopped_early = stopped_early
        self.first_step_seconds: float | None = None

    @property
    def epochs(self) -> int:
        """Epochs in the history."""
        return len(self.history.get("epoch", []))


class _DerivedColumns(keras.callbacks.Callback):
    """Adds `name` (and `val_name`) computed from `loss` to the epoch logs."""

    def __init__(self, name: str, fn: Callable[[float], float]):
        super().__init__()
        self.name, self.fn = name, fn

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        for prefix in ("", "val_"):
            if prefix + "loss" in logs:
                logs[prefix + self.name] = float(self.fn(float(logs[prefix + "loss"])))


class _AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` whose files are replaced atomically.

    Keras writes `latest.weights.h5` in place: a process killed while the
    file is written (SIGKILL, out of memory, a pre-empted machine) leaves a
    truncated HDF5 file that `--resume` cannot read. Here each file is
    written under a temporary name in the same folder, flushed to disk and
    renamed over the old one (`os.replace`, atomic on POSIX and Windows), so
    the backup on disk is always a whole epoch's. The weights are replaced
    before the metadata: a kill between the two renames (microseconds) leaves
    the weights one epoch ahead of the recorded epoch, so that epoch is
    trained again from them, never from a corrupt file.
    """

    _PARTIAL_WEIGHTS = "partial.weights.h5"
    _PARTIAL_META = "training_metadata.json.partial"

    def _save_model(self):
        folder = pathlib.Path(self.backup_dir)
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / self._PARTIAL_WEIGHTS
        self.model.save_weights(filepath=str(partial), overwrite=True)
        _replace_durably(partial, pathlib.Path(self._weights_path))
        meta = folder / self._PARTIAL_META
        meta.write_text(
            json.dumps({"epoch": self._current_epoch, "batch": self._last_batch_seen})
        )
        _replace_durably(meta, pathlib.Path(self._training_metadata_path))


def _replace_durably(partial: pathlib.Path, final: pathlib.Path) -> None:
    """Flushes `partial` to disk, then renames it over `final` in one step."""
    fd = os.open(partial, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(partial, final)


class _TrimHistory(keras.callbacks.Callback):
    """On resume: drops rows of `history.csv` for epochs that run again.

    Runs after `BackupAndRestore.on_train_begin` has set the first epoch. A
    last row cut short by a kill while `CSVLogger` wrote it (fewer cells
    than the header) is dropped too; the file is rewritten atomically.
    """

    def __init__(self, path: pathlib.Path):
        super().__init__()
        self.path = path

    def on_train_begin(self, logs=None):
        start = int(getattr(self.model, "_initial_epoch", None) or 0)
        if not self.path.is_file():
            return
        with open(self.path, newline="") as f:
            rows = list(csv.reader(f))
        if not rows:
            return
        width = len(rows[0])
        kept = [rows[0]] + [
            r
            for r in rows[1:]
            if len(r) == width and r[0].isdigit() and int(r[0]) < start
        ]
        partial = self.path.with_name(self.path.name + ".partial")
        with open(partial, "w", newline="") as f:
            csv.writer(f).writerows(kept)
        _replace_durably(partial, self.path)


class _FirstStep(keras.callbacks.Callback):
    """Prints how long the first training step took (tracing and compiling).

    At Glow's paper sizes this is the one long silence of a run; saying what
    it was lets a user tell compile time from step time.
    """

    def __init__(self) -> None:
        super().__init__()
        self._start: float | None = None
        self.seconds: float | None = None

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self.seconds is None and self._start is not None:
            self.seconds = time.perf_counter() - self._start
            print(
                f"tfp-flows: first training step took {self.seconds:.1f} s "
                "(tracing and compiling included)",
                flush=True,
            )


class _Progress(keras.callbacks.Callback):
    """One tqdm bar over the epochs, showing the chosen log columns."""

    def __init__(self, epochs: int, columns: Sequence[str]):
        super().__init__()
        self.epochs, self.columns = epochs, list(columns)
        self._bar: Any = None

    def on_train_begin(self, logs=None):
        from tqdm.auto import tqdm

        start = int(getattr(self.model, "_initial_epoch", None) or 0)
        self._bar = tqdm(
            total=self.epochs, initial=start, desc="training", unit="epoch"
        )

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        shown = {c: f"{logs[c]:.4g}" for c in self.columns if c in logs}
        self._bar.set_postfix(shown)
        self._bar.update(1)

    def on_train_end(self, logs=None):
        if self._bar is not None:
            self._bar.close()


def prepare_output(opts: JobOptions) -> None:
    """A fresh run clears a stale backup and history; a resumed one keeps them."""
    out = pathlib.Path(opts.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not opts.resume:
        shutil.rmtree(out / BACKUP, ignore_errors=True)
        (out / HISTORY).unlink(missing_ok=True)
        opts.save_run()


def read_history(path: pathlib.Path) -> dict[str, list[float]]:
    """`history.csv` as `{column: values}` (the epoch column as ints)."""
    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    out: dict[str, list[float]] = {}
    for row in rows:
        for k, v in row.items():
            out.setdefault(k, []).append(_number(v))
    if "epoch" in out:
        out["epoch"] = [int(e) for e in out["epoch"]]
    return out


def _number(text: str | None) -> float:
    """A CSV cell as a float; CSVLogger writes 'NA' for a missing value."""
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def fit(
    model: keras.Model,
    train: tf.data.Dataset,
    opts: JobOptions,
    *,
    epochs: int,
    learning_rate: float,
    validation: Any = None,
    jit_compile: bool | str = True,
    global_clipnorm: float | None = None,
    derived: tuple[str, Callable[[float], float]] | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    sample_images: Callable[[keras.Model], Any] | None = None,
) -> FitResult:
    """Compiles and fits `model` with the shared callbacks (module docs).

    Args:
      model: a `FlowModel` (or another Keras model whose `compute_loss`
        needs no targets and scales by the replica count).
      train: the training `tf.data.Dataset` (batched).
      opts: the job's options (output folder, patience, TensorBoard, ...).
      epochs: total epochs (a resumed run trains the rest).
      learning_rate: Adam's learning rate.
      validation: None or `validation_data` for `fit` (a batched dataset).
      jit_compile: compile the train step with XLA.
      global_clipnorm: optional clipping of the global gradient norm.
      derived: optional `(name, fn)`: a column `name = fn(loss)` (and
        `val_name`) in the logs, the progress bar and `history.csv`.
      callbacks: more callbacks, run after the backup is restored (e.g.
        `ActNormInitializer`, which then skips initialized ActNorms).
      sample_images: with `--tensorboard`, `model -> images in [0, 1]` for
        the sample grids.

    Returns:
      A `FitResult`.
    """
    out = pathlib.Path(opts.output_dir)
    prepare_output(opts)
    optimizer = keras.optimizers.Adam(learning_rate, global_clipnorm=global_clipnorm)
    model.compile(optimizer=optimizer, jit_compile=jit_compile)
    history_path = out / HISTORY
    cbs: list[keras.callbacks.Callback] = [
        _AtomicBackupAndRestore(str(out / BACKUP)),
        _TrimHistory(history_path),
        *callbacks,
    ]
    first_step = _FirstStep()
    cbs.append(first_step)
    if derived is not None:
        cbs.append(_DerivedColumns(*derived))
    cbs.append(keras.callbacks.CSVLogger(str(history_path), append=True))
    early = None
    if opts.patience is not None and validation is not None:
        early = keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=opts.patience, restore_best_weights=True
        )
        cbs.append(early)
    if opts.tensorboard:
        log_dir = out / "tensorboard"
        cbs.append(keras.callbacks.TensorBoard(str(log_dir), write_graph=False))
        if sample_images is not None:
            cbs.append(SampleGridLogger(log_dir, sample_images))
    if opts.progress:
        shown = ["loss", "val_loss"]
        if derived is not None:
            shown = [derived[0], "val_" + derived[0]]
        cbs.append(_Progress(epochs, shown))
    t0 = time.time()
    keras_history = model.fit(
        train,
        epochs=epochs,
        validation_data=validation,
        callbacks=cbs,
        verbose=0,
        shuffle=False,  # the datasets shuffle themselves
    )
    seconds = time.time() - t0
    stopped = bool(early is not None and early.stopped_epoch > 0)
    history = read_history(history_path)
    if not history:
        raise RuntimeError(f"training wrote no history to {history_path}")
    result = FitResult(
        history, len(keras_history.history.get("loss", [])), seconds, stopped
    )
    result.first_step_seconds = first_step.seconds
    return result


# -- metadata beside the saved model --------------------------------------------


def job_meta_path(model_path: str | pathlib.Path) -> pathlib.Path:
    """`out/glow.keras` -> `out/glow.job.json`."""
    path = pathlib.Path(model_path)
    return path.with_name(path.stem + ".job.json")


def write_job_meta(model_path: pathlib.Path, meta: dict[str, Any]) -> pathlib.Path:
    """Writes the job metadata JSON beside `model_path`."""
    path = job_meta_path(model_path)
    path.write_text(json.dumps(meta, indent=2, default=_plain) + "\n")
    return path


def read_job_meta(model_path: str | pathlib.Path) -> dict[str, Any]:
    """The metadata beside a model written by `tfp-flows train`.

    Raises:
      UsageError: no metadata file (the model was not written by the command).
    """
    path = job_meta_path(model_path)
    if not path.is_file():
        raise UsageError(
            f"{str(model_path)!r} has no {path.name} beside it (written by "
            "`tfp-flows train`); cannot tell how its data were prepared"
        )
    return json.loads(path.read_text())


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (np.ndarray, tuple)):
        return list(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def check_finite(value: float, what: str) -> None:
    """RuntimeError if training diverged."""
    if not math.isfinite(value):
        raise RuntimeError(f"training diverged: {what} is not finite ({value})")
