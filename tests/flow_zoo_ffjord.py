"""FFJORD (a continuous normalizing flow) in the Keras drop-in zoo.

Fixed-step RK4 keeps the zoo's compiled train steps short; the adaptive
Dormand-Prince solver under Keras' XLA train step is checked in
`tests/test_ffjord.py` (slow phase).
"""

import numpy as np
import tensorflow as tf

from tests.flow_zoo import FlowCase
from tfp_flows import flows


def _vectors2():
    rng = np.random.RandomState(0)
    z = rng.normal(size=(96, 2)).astype("float32")
    return tf.constant(np.stack([z[:, 0], 0.5 * z[:, 1] + 0.3 * z[:, 0] ** 2], -1))


CASES = [
    FlowCase(
        "ffjord",
        lambda: flows.ffjord(2, hidden_units=(16,), solver="rk4", num_steps=4, seed=1),
        _vectors2,
        lr=1e-2,
    ),
]
