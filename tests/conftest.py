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


def pytest_xdist_auto_num_workers(config):
    """Workers for `-n auto` (pyproject's addopts): a core each, at most 4.

    TensorFlow's tracing and XLA's compiles run mostly on one thread, so two
    workers on CI's 2 cores finish the suites about 1.5x sooner (docs/ci.md);
    each worker holds its own TensorFlow (1-3 GB), hence the cap. Set
    `PYTEST_XDIST_AUTO_NUM_WORKERS`, or pass `-n N` (`-n 0`: no workers), to
    choose.
    """
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # pytest-xdist's own hook reads it
    return max(1, min(len(os.sched_getaffinity(0)), 4))
