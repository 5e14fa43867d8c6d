"""Planar, radial and Sylvester flows in the Keras drop-in zoo (density
estimation through their numerical or exact inverses)."""

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
        "planar_flow", lambda: flows.planar_flow(2, num_layers=2, seed=1), _vectors2
    ),
    FlowCase(
        "radial_flow", lambda: flows.radial_flow(2, num_layers=2, seed=1), _vectors2
    ),
    FlowCase(
        "sylvester_flow",
        lambda: flows.sylvester_flow(2, num_layers=2, seed=1),
        _vectors2,
    ),
]
