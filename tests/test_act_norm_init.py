"""`flows.initialize_act_norms` on hand-made chains, walked through public API.

TFP 0.25 turns `tfb.Chain(...)` / `tfb.Invert(...)` of non-CompositeTensor
bijectors (ours hold Keras layers) into its private `_Chain` / `_Invert`,
base classes of the public ones; the walk must still see inside them.
"""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_probability import bijectors as tfb

from tfp_flows import flows
from tfp_flows.bijectors import ActNorm
from tfp_flows.flows import act_norm_init


def _data():
    return tf.constant(
        np.random.RandomState(0).normal(3.0, 2.0, (64, 2)).astype("float32")
    )


def test_chain_of_our_bijectors_is_recognized_as_a_chain():
    chain = tfb.Chain([ActNorm(2, event_ndims=1), ActNorm(2, event_ndims=1)])
    inverted = tfb.Invert(ActNorm(2, event_ndims=1))
    # If TFP ever returns the public classes here, the tuples still hold.
    assert isinstance(chain, act_norm_init._CHAINS)
    assert isinstance(inverted, act_norm_init._INVERTS)
    for cls in act_norm_init._CHAINS + act_norm_init._INVERTS:
        assert issubclass(cls, tfb.Bijector)
    assert issubclass(tfb.Chain, act_norm_init._CHAINS[1])
    assert issubclass(tfb.Invert, act_norm_init._INVERTS[1])


def test_nested_chains_initialize_each_act_norm_on_what_reaches_it():
    first, second = ActNorm(2, event_ndims=1), ActNorm(2, event_ndims=1)
    shift = tfb.Shift(tf.constant([5.0, -5.0]))
    # `tfb.Chain([f, g])` is `f(g(z))`: data side first, so the data meets
    # `first` (inside a nested chain), then the shift, then `second`.
    chain = tfb.Chain([tfb.Chain([first]), shift, second])
    x = _data()
    z = flows.initialize_act_norms(chain, x)
    assert bool(first.is_initialized) and bool(second.is_initialized)
    np.testing.assert_allclose(np.mean(z, axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(np.std(z, axis=0), 1.0, atol=1e-3)
    h = first.inverse(tf.identity(x))
    np.testing.assert_allclose(np.mean(h, axis=0), 0.0, atol=1e-4)


def test_act_norm_inside_an_invert_is_refused():
    act = ActNorm(2, event_ndims=1)
    with pytest.raises(ValueError, match="inside tfb.Invert"):
        flows.initialize_act_norms(tfb.Chain([tfb.Invert(act)]), _data())
    assert not bool(act.is_initialized)


def test_invert_without_act_norm_is_passed_through():
    act = ActNorm(2, event_ndims=1)
    # The data meets the inverted shift (its inverse adds 1) before `act`.
    chain = tfb.Chain([tfb.Invert(tfb.Shift(tf.constant([1.0, 1.0]))), act])
    x = _data()
    z = flows.initialize_act_norms(chain, x)
    assert bool(act.is_initialized)
    np.testing.assert_allclose(np.mean(z, axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(np.std(z, axis=0), 1.0, atol=1e-3)
    np.testing.assert_allclose(act.inverse(x + 1.0), z, atol=1e-5)
