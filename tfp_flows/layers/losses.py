"""Keras losses for models whose output is a log-likelihood."""

from __future__ import annotations

import tensorflow as tf

from tfp_flows.internal.keras import keras
from tfp_flows.internal.types import TensorLike

__all__ = ["negative_log_likelihood"]


@keras.saving.register_keras_serializable(package="tfp_flows")
def negative_log_likelihood(y_true: TensorLike, y_pred: tf.Tensor) -> tf.Tensor:
    """Keras loss for a model whose output is a log-likelihood: `-y_pred`.

    `y_true` is ignored (pass zeros), so a functional model ending in
    `FlowLogProb` trains with `model.compile(loss=negative_log_likelihood)`.
    """
    del y_true
    return -y_pred
