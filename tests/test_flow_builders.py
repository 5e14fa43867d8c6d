"""The plumbing the builders share (`tfp_flows/flows/_base.py`).

`maf` and `iaf` are one implementation behind two explicit signatures, and
every builder puts its bijectors on the same default base, a standard
normal over the event, or on the user's base after the same check.
"""

import inspect
import json

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows import flows
from tfp_flows.internal import specs

tfd = tfp.distributions

_VECTOR_BUILDERS = {
    "maf": lambda **kw: flows.maf(3, num_layers=2, hidden_units=[8], **kw),
    "iaf": lambda **kw: flows.iaf(3, num_layers=2, hidden_units=[8], **kw),
    "coupling_flow": lambda **kw: flows.coupling_flow(
        3, num_layers=2, hidden_units=8, **kw
    ),
    "planar_flow": lambda **kw: flows.planar_flow(3, num_layers=2, **kw),
    "radial_flow": lambda **kw: flows.radial_flow(3, num_layers=2, **kw),
    "sylvester_flow": lambda **kw: flows.sylvester_flow(3, num_layers=2, **kw),
}


def _parameters(fn):
    return inspect.signature(fn).parameters


def test_maf_and_iaf_take_the_same_arguments():
    maf, iaf = _parameters(flows.maf), _parameters(flows.iaf)
    assert list(maf) == list(iaf)
    differ = {
        name
        for name in maf
        if maf[name].default is not iaf[name].default
        and maf[name].default != iaf[name].default
    }
    assert differ == {"transform", "name"}
    assert (maf["transform"].default, iaf["transform"].default) == ("affine", "gated")
    for name, p in maf.items():
        assert p.kind == iaf[name].kind, name
        if name != "event_size":
            assert p.kind is inspect.Parameter.KEYWORD_ONLY, name


def test_maf_and_iaf_record_their_own_arguments():
    spec = json.loads(specs.spec_of(flows.iaf(3, num_layers=2, hidden_units=[8])))
    assert spec == {
        "builder": "iaf",
        "arguments": {"event_size": 3, "num_layers": 2, "hidden_units": [8]},
    }


def _assert_standard_normal(base, event_shape, dtype):
    assert isinstance(base, tfd.Sample)
    assert base.event_shape == event_shape
    assert base.batch_shape == []
    assert base.dtype == dtype
    x = tf.cast(np.linspace(-2.0, 2.0, int(np.prod(event_shape))), dtype)
    x = tf.reshape(x, event_shape)
    want = np.sum(-0.5 * x.numpy() ** 2 - 0.5 * np.log(2 * np.pi))
    np.testing.assert_allclose(base.log_prob(x), want, rtol=1e-6)


@pytest.mark.parametrize("name", sorted(_VECTOR_BUILDERS))
def test_default_base_is_a_standard_normal(name):
    flow = _VECTOR_BUILDERS[name](dtype=tf.float64)
    _assert_standard_normal(flow.distribution, [3], tf.float64)


@pytest.mark.parametrize(
    "build",
    [
        lambda: flows.glow((4, 4, 1), num_levels=1, num_steps=1, hidden_units=4),
        lambda: flows.realnvp((4, 4, 1), num_levels=1, num_couplings=1, hidden_units=4),
    ],
)
def test_image_flows_sit_on_a_standard_normal(build):
    _assert_standard_normal(build().distribution, [4, 4, 1], tf.float32)


@pytest.mark.parametrize("name", sorted(_VECTOR_BUILDERS))
def test_a_given_base_is_used_and_checked(name):
    base = tfd.Sample(tfd.Laplace(0.0, 1.0), sample_shape=[3])
    assert _VECTOR_BUILDERS[name](base_distribution=base).distribution is base
    wrong = tfd.Sample(tfd.Laplace(0.0, 1.0), sample_shape=[2])
    with pytest.raises(
        ValueError, match=rf"{name}: argument `base_distribution` must have event shape"
    ):
        _VECTOR_BUILDERS[name](base_distribution=wrong)
