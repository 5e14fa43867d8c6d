"""What the first training step costs: one trace, an optimizer built beforehand.

Issue #16: at Glow's CIFAR size half of the time to the first step was a
second trace of the train function, because Keras builds the optimizer's
slot variables inside the first trace (a `tf.function` that creates
variables on its first call is traced again). `FlowModel.make_train_function`
builds the optimizer first; these tests count the traces.
"""

import json

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows import flows
from tfp_flows.internal import specs
from tfp_flows.internal.keras import keras
from tfp_flows.layers import FlowModel


class _CountingFlowModel(FlowModel):
    """A FlowModel whose `train_step` counts its Python calls (= traces)."""

    traces = 0

    def train_step(self, data):
        type(self).traces += 1
        return super().train_step(data)


@pytest.fixture
def counting_model():
    _CountingFlowModel.traces = 0
    flow = flows.maf(3, num_layers=1, hidden_units=[8], seed=0)
    return _CountingFlowModel(flow, name="counting_flow_model")


@pytest.mark.parametrize("jit", [False, True])
def test_train_on_batch_traces_the_train_step_once(counting_model, jit):
    model = counting_model
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit)
    assert not model.optimizer.built
    x = np.random.RandomState(0).normal(size=(8, 3)).astype("float32")
    first = float(model.train_on_batch(x))
    assert model.optimizer.built
    assert _CountingFlowModel.traces == 1
    second = float(model.train_on_batch(x))
    assert _CountingFlowModel.traces == 1
    assert np.isfinite(first) and second < first  # it trains


def test_fit_traces_the_train_step_once_and_trains_every_weight(counting_model):
    model = counting_model
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    before = [np.array(w) for w in model.trainable_weights]
    x = np.random.RandomState(1).normal(size=(32, 3)).astype("float32")
    model.fit(x, batch_size=16, epochs=2, verbose=0)
    assert _CountingFlowModel.traces == 1
    moved = [
        not np.allclose(b, np.array(w))
        for b, w in zip(before, model.trainable_weights, strict=True)
    ]
    assert all(moved)
    # One slot pair per trainable weight: built on exactly the model's weights.
    ids = {id(w) for w in model.trainable_weights}
    assert len(model.optimizer._trainable_variables) == len(ids)


def test_recompiling_with_a_new_optimizer_builds_it_too(counting_model):
    model = counting_model
    x = np.random.RandomState(2).normal(size=(8, 3)).astype("float32")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False)
    model.train_on_batch(x)
    model.compile(optimizer=keras.optimizers.SGD(1e-3), jit_compile=False)
    model.train_on_batch(x)
    assert model.optimizer.built
    assert _CountingFlowModel.traces == 2  # one per compile, none doubled


# -- builder specs whose defaults changed ------------------------------------------


def _spec_without(flow, key):
    parsed = json.loads(specs.spec_of(flow))
    parsed["arguments"].pop(key, None)
    return parsed


def test_a_legacy_default_is_recorded_and_used_for_old_specs():
    calls = []

    @specs.register_builder("_test_legacy_default", legacy_defaults={"layout": "old"})
    def build(size, layout="new"):
        calls.append(layout)
        return tf.Module(name=f"m_{layout}")

    made = build(3)
    spec = json.loads(specs.spec_of(made))
    assert spec["arguments"] == {"size": 3, "layout": "new"}  # always recorded
    specs.build_from_spec(spec)
    spec["arguments"].pop("layout")  # as written before the default changed
    specs.build_from_spec(spec)
    assert calls == ["new", "new", "old"]


def test_a_legacy_default_must_name_an_argument():
    with pytest.raises(TypeError, match="'layot'"):

        @specs.register_builder("_test_bad_legacy", legacy_defaults={"layot": 1})
        def build(size, layout=0):
            return tf.Module()
