"""Every flow the package has, for the Keras drop-in tests.

A new flow is one more `FlowCase` in `ZOO` (or in a module listed in
`_MORE`, which defines `CASES`). Each case builds a small flow with a
registered builder (so it can be saved as config) and gives a data batch.
"""

import dataclasses
import importlib
from typing import Callable

import numpy as np
import tensorflow as tf

from tfp_flows import data as fdata
from tfp_flows import flows


@dataclasses.dataclass(frozen=True)
class FlowCase:
    name: str
    make: Callable  # () -> flow (built by a registered builder)
    data: Callable  # () -> x or (x, context), float32
    conditional: bool = False
    has_act_norm: bool = False
    lr: float = 3e-3


def _digits():
    return fdata.dequantize(fdata.load_digits("train")[:96], seed=[0, 0])


def _vectors():
    rng = np.random.RandomState(0)
    z = rng.normal(size=(96, 4)).astype("float32")
    return tf.constant(z @ np.triu(np.ones((4, 4), "float32")) * 0.5 + 1.0)


def _digits_with_labels():
    x, y = fdata.load_digits("train", with_labels=True)
    x = fdata.dequantize(x[:96], seed=[0, 0])
    flat = tf.reshape(x, [96, 64])[:, ::4]  # 16-D for speed
    return flat, tf.one_hot(y[:96], 10)


ZOO = [
    FlowCase(
        "glow",
        lambda: flows.glow(
            (8, 8, 1), num_levels=2, num_steps=1, hidden_units=8, seed=1
        ),
        _digits,
        has_act_norm=True,
    ),
    FlowCase(
        "glow_stacked_reversible",
        lambda: flows.glow(
            (8, 8, 1),
            num_levels=2,
            num_steps=2,
            hidden_units=8,
            stacked_steps=True,
            reversible=True,
            seed=1,
        ),
        _digits,
        has_act_norm=True,
    ),
    FlowCase(
        "realnvp",
        lambda: flows.realnvp(
            (8, 8, 1), num_levels=2, num_couplings=1, hidden_units=8, seed=1
        ),
        _digits,
        has_act_norm=True,
    ),
    FlowCase(
        "maf",
        lambda: flows.maf(4, num_layers=2, hidden_units=(16,), actnorm=True, seed=1),
        _vectors,
        has_act_norm=True,
    ),
    FlowCase(
        "iaf", lambda: flows.iaf(4, num_layers=2, hidden_units=(16,), seed=1), _vectors
    ),
    FlowCase(
        "coupling_flow",
        lambda: flows.coupling_flow(
            4, num_layers=2, hidden_units=16, actnorm=True, seed=1
        ),
        _vectors,
        has_act_norm=True,
    ),
    FlowCase(
        "maf_spline",
        lambda: flows.maf(
            4, num_layers=2, hidden_units=(16,), transform="spline", num_bins=4, seed=1
        ),
        _vectors,
    ),
    FlowCase(
        "coupling_flow_spline",
        lambda: flows.coupling_flow(
            4, num_layers=2, hidden_units=16, transform="spline", num_bins=4, seed=1
        ),
        _vectors,
    ),
    FlowCase(
        "maf_class_conditional",
        lambda: flows.maf(
            16, num_layers=2, hidden_units=(32,), context_size=10, seed=1
        ),
        _digits_with_labels,
        conditional=True,
    ),
]

_MORE = [
    "tests.flow_zoo_conditional",
    "tests.flow_zoo_ffjord",
    "tests.flow_zoo_gated_pixel_cnn",
    "tests.flow_zoo_householder",
    "tests.flow_zoo_naf",
    "tests.flow_zoo_pixel_rnn",
    "tests.flow_zoo_vi",
    "tests.flow_zoo_wavenet",
]
# No try/except: a zoo module that does not import is an error (at collection
# of `test_keras_dropin.py`), not a few flows silently left out;
# `test_keras_dropin.py` checks that every `tests/flow_zoo_*.py` is listed.
for _name in _MORE:
    ZOO.extend(importlib.import_module(_name).CASES)
