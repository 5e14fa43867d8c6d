"""Shared pytest set-up: quiet TF logs, small thread pools, seeds."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TFP_FLOWS_FAST", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Note: do not call tf.config.experimental.enable_op_determinism() here:
# Keras then silently turns `compile(jit_compile=True)` off, and the XLA
# training path would go untested.


@pytest.fixture(autouse=True)
def _seed():
    tf.random.set_seed(1234)
    np.random.seed(1234)
    yield
