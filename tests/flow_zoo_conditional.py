"""Conditional image and vector flows in the Keras drop-in zoo (issue #14).

`tests/flow_zoo.py` imports `CASES`. Contexts are float32: one-hot digit
labels for the class-conditional flows, the 4x4 average-pooled digit for the
super-resolution Glow (an image context).
"""

import tensorflow as tf

from tests.flow_zoo import FlowCase
from tfp_flows import data as fdata
from tfp_flows import flows

__all__ = ["CASES"]


def _digits_and_labels():
    x, y = fdata.load_digits("train", with_labels=True)
    return fdata.dequantize(x[:96], seed=[0, 0]), tf.one_hot(y[:96], 10)


def _digits_and_low_res():
    x = fdata.dequantize(fdata.load_digits("train")[:96], seed=[0, 0])
    return x, tf.nn.avg_pool2d(x, 2, 2, "VALID")


def _vectors_and_context():
    x, labels = _digits_and_labels()
    return tf.reshape(x, [96, 64])[:, ::8], labels


CASES = [
    FlowCase(
        "glow_class_conditional",
        lambda: flows.glow(
            (8, 8, 1),
            num_levels=2,
            num_steps=1,
            hidden_units=8,
            context_size=10,
            seed=1,
        ),
        _digits_and_labels,
        conditional=True,
        has_act_norm=True,
    ),
    FlowCase(
        "glow_super_resolution",
        lambda: flows.glow(
            (8, 8, 1),
            num_levels=2,
            num_steps=1,
            hidden_units=8,
            context_shape=(4, 4, 1),
            seed=1,
        ),
        _digits_and_low_res,
        conditional=True,
        has_act_norm=True,
    ),
    # Stacked steps with reversible gradients (issue #16): the context's
    # gradient flows through the custom gradient; the networks in bfloat16.
    FlowCase(
        "glow_stacked_super_resolution_mixed",
        lambda: flows.glow(
            (8, 8, 1),
            num_levels=2,
            num_steps=2,
            hidden_units=8,
            context_shape=(4, 4, 1),
            stacked_steps=True,
            reversible=True,
            dtype_policy="mixed_bfloat16",
            seed=1,
        ),
        _digits_and_low_res,
        conditional=True,
        has_act_norm=True,
    ),
    FlowCase(
        "realnvp_class_conditional",
        lambda: flows.realnvp(
            (8, 8, 1),
            num_levels=2,
            num_couplings=1,
            hidden_units=8,
            context_size=10,
            seed=1,
        ),
        _digits_and_labels,
        conditional=True,
        has_act_norm=True,
    ),
    FlowCase(
        "coupling_flow_conditional",
        lambda: flows.coupling_flow(
            8, num_layers=2, hidden_units=16, actnorm=True, context_size=10, seed=1
        ),
        _vectors_and_context,
        conditional=True,
        has_act_norm=True,
    ),
    FlowCase(
        "planar_flow_amortized",
        lambda: flows.planar_flow(8, num_layers=2, context_size=10, seed=1),
        _vectors_and_context,
        conditional=True,
    ),
]
