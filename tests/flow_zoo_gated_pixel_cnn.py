"""Gated PixelCNN in the Keras drop-in zoo (`tests/flow_zoo.py` imports `CASES`).

The digits' integer levels 0..16 as int32 (the distribution's dtype), and a
class-conditional model on the same digits with one-hot labels as context.
"""

import tensorflow as tf

from tests.flow_zoo import FlowCase
from tfp_flows import data as fdata
from tfp_flows import distributions

__all__ = ["CASES"]


def _digit_levels():
    return tf.constant(fdata.load_digits("train")[:96], tf.int32)


def _digit_levels_with_labels():
    x, y = fdata.load_digits("train", with_labels=True)
    return tf.constant(x[:96], tf.int32), tf.one_hot(y[:96], 10)


CASES = [
    FlowCase(
        "gated_pixel_cnn",
        lambda: distributions.gated_pixel_cnn(
            (8, 8, 1),
            num_levels=17,  # the digits: levels 0..16
            num_layers=3,
            filters=8,
            output_units=16,
            seed=1,
        ),
        _digit_levels,
    ),
    FlowCase(
        "gated_pixel_cnn_class_conditional",
        lambda: distributions.gated_pixel_cnn(
            (8, 8, 1),
            num_levels=17,
            num_layers=3,
            filters=8,
            output_units=16,
            context_size=10,  # one-hot digit classes
            seed=2,
        ),
        _digit_levels_with_labels,
        conditional=True,
    ),
]
