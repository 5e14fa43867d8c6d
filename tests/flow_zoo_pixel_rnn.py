"""PixelRNN in the Keras drop-in zoo (`tests/flow_zoo.py` imports `CASES`).

The data are the digits' integer levels 0..16 as int32: the distribution's
dtype is int32, which is also what `FlowLogProb` casts inputs to and what the
served SavedModel signature takes.
"""

import tensorflow as tf

from tests.flow_zoo import FlowCase
from tfp_flows import data as fdata
from tfp_flows import distributions

__all__ = ["CASES"]


def _digit_levels():
    return tf.constant(fdata.load_digits("train")[:96], tf.int32)


CASES = [
    FlowCase(
        "pixel_rnn",
        lambda: distributions.pixel_rnn(
            (8, 8, 1),
            num_levels=17,  # the digits: levels 0..16
            layer_type="diagonal",
            num_layers=1,
            hidden_units=8,
            output_units=16,
            seed=1,
        ),
        _digit_levels,
    ),
]
