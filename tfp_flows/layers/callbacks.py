"""Keras callbacks for training flows."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfp_flows.bijectors.act_norm import ActNorm
from tfp_flows.internal.keras import keras
from tfp_flows.internal.types import FlowInputs

__all__ = ["ActNormInitializer"]


class ActNormInitializer(keras.callbacks.Callback):
    """Initializes every ActNorm of a `FlowModel` from data when training begins.

    Args:
      data: a batch (array/tensor, or `(x, context)`), or a `tf.data.Dataset`
        whose first element is used. Skipped if the ActNorms are already
        initialized (e.g. restored from a checkpoint), so resuming never
        re-initializes.
    """

    def __init__(self, data: FlowInputs | tf.data.Dataset):
        super().__init__()
        self.data = data

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        acts = [m for m in self.model.flow.submodules if isinstance(m, ActNorm)]
        if acts and all(bool(a.is_initialized) for a in acts):
            return
        data = self.data
        if isinstance(data, tf.data.Dataset):
            data = next(iter(data))
        self.model.initialize_act_norms(data)
