"""The Householder flow (a learned diagonal affine and K reflections: a
full-covariance Gaussian) in the Keras drop-in zoo (`tests/flow_zoo.py`
imports `CASES`)."""

import numpy as np
import tensorflow as tf

from tests.flow_zoo import FlowCase
from tfp_flows import flows

__all__ = ["CASES"]


def _correlated():
    # A correlated Gaussian: the rotation has something to learn.
    rng = np.random.RandomState(0)
    z = rng.normal(size=(96, 3)).astype("float32") * [2.0, 1.0, 0.3]
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return tf.constant((z @ q.T + [1.0, -0.5, 0.2]).astype("float32"))


CASES = [
    FlowCase(
        "householder_flow",
        lambda: flows.householder_flow(3, num_reflections=3, seed=1),
        _correlated,
        has_act_norm=True,
        lr=1e-2,
    ),
]
