"""The job's backup survives a kill while it is written (the `--resume` path).

`tests/test_cli_resume.py` kills a real run with SIGKILL at a random point;
these tests hit the two windows that matter on purpose: a kill while the
weights file is written, and a `history.csv` row cut short.
"""

import csv

import numpy as np
import pytest

from tfp_flows.internal.keras import keras
from tfp_flows.jobs import training


class _Killed(Exception):
    pass


def _model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model


def _interrupt_save(model, monkeypatch):
    """`save_weights` writes half a file, then the process 'dies'."""

    def save_weights(filepath, overwrite=True):
        with open(filepath, "wb") as f:
            f.write(b"\x89HDF\r\n\x1a\n" + b"\0" * 88)  # 96 bytes, as seen in CI
        raise _Killed

    monkeypatch.setattr(model, "save_weights", save_weights)


def _restore(folder, cls):
    model = _model()
    backup = cls(str(folder))
    backup.set_model(model)
    backup.on_train_begin()
    return model


def test_a_kill_while_saving_leaves_the_previous_epoch_readable(tmp_path, monkeypatch):
    model = _model()
    backup = training._AtomicBackupAndRestore(str(tmp_path / "backup"))
    backup.set_model(model)
    backup.on_epoch_end(0)
    saved = [w.numpy() for w in model.weights]

    model.weights[0].assign(model.weights[0] + 1.0)
    _interrupt_save(model, monkeypatch)
    with pytest.raises(_Killed):
        backup.on_epoch_end(1)

    restored = _restore(tmp_path / "backup", training._AtomicBackupAndRestore)
    assert restored._initial_epoch == 1
    for a, b in zip(restored.weights, saved, strict=True):
        np.testing.assert_array_equal(a.numpy(), b)


def test_keras_own_backup_is_corrupted_by_the_same_kill(tmp_path, monkeypatch):
    # Why the subclass exists: the same interruption breaks Keras's callback.
    model = _model()
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    backup.set_model(model)
    backup.on_epoch_end(0)
    _interrupt_save(model, monkeypatch)
    with pytest.raises(_Killed):
        backup.on_epoch_end(1)
    with pytest.raises(OSError):
        _restore(tmp_path / "backup", keras.callbacks.BackupAndRestore)


def test_a_history_row_cut_by_a_kill_is_dropped_on_resume(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss,val_loss\n0,4.2,4.3\n1,4.1,4.2\n2,4.0")
    model = _model()
    model._initial_epoch = 2
    trim = training._TrimHistory(path)
    trim.set_model(model)
    trim.on_train_begin()
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows == [
        ["epoch", "loss", "val_loss"],
        ["0", "4.2", "4.3"],
        ["1", "4.1", "4.2"],
    ]
    assert not (tmp_path / "history.csv.partial").exists()
