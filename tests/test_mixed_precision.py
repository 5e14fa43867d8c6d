"""Mixed precision in the coupling networks (`dtype_policy=`, issue #16).

The networks compute in bfloat16 (or float16) over float32 weights; the
shift/scale are cast back to float32 before the affine map and its log-det,
and ActNorm, the 1x1 convolutions and the base density stay in float32. The
tests check what that promises: float32 in and out, an exact round trip (both
directions evaluate the same 16-bit network on the same kept half),
`fldj == -ildj(f(x))`, results within bfloat16 rounding of the float32
network on the same weights, gradients in float32 reaching every weight, and
clear errors for what cannot work.
"""

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows.bijectors import AffineCoupling
from tfp_flows.bijectors import GlowStep
from tfp_flows.nn.coupling_nets import apply_coupling_net
from tfp_flows.nn.coupling_nets import is_default_coupling_net


def _randomize(bijector, seed=0):
    for i, w in enumerate(bijector.trainable_variables):
        w.assign(0.3 * tf.random.stateless_normal(w.shape, seed=[seed, i]))


def _pair(**kwargs):
    """A float32 step and a mixed-bfloat16 step holding the same weights."""
    full = GlowStep(4, hidden_units=16, seed=1, **kwargs)
    mixed = GlowStep(
        4, hidden_units=16, seed=1, dtype_policy="mixed_bfloat16", **kwargs
    )
    _randomize(full)
    for a, b in zip(mixed.trainable_variables, full.trainable_variables, strict=True):
        a.assign(b)
    return full, mixed


@pytest.fixture(scope="module")
def x():
    return tf.random.stateless_normal([5, 4, 4, 4], seed=[3, 4])


def test_the_network_computes_in_bfloat16_over_float32_weights(x):
    _, mixed = _pair()
    net = mixed.coupling._network
    assert is_default_coupling_net(net)  # the fast tf.nn path is kept
    assert {tf.as_dtype(w.dtype) for w in mixed.trainable_variables} == {tf.float32}
    assert net.layers[0].compute_dtype == "bfloat16"
    assert apply_coupling_net(net, x[..., :2]).dtype == tf.bfloat16
    y, ldj = mixed.forward(x), mixed.forward_log_det_jacobian(x, event_ndims=3)
    assert y.dtype == tf.float32 and ldj.dtype == tf.float32


def test_round_trip_and_log_dets_are_exact_in_float32(x):
    _, mixed = _pair()
    y = mixed.forward(x)
    np.testing.assert_allclose(mixed.inverse(y), x, atol=2e-5)
    fldj = mixed.forward_log_det_jacobian(x, event_ndims=3)
    ildj = mixed.inverse_log_det_jacobian(tf.identity(y), event_ndims=3)
    np.testing.assert_allclose(fldj, -ildj, rtol=1e-5, atol=1e-5)


def test_results_are_within_bfloat16_rounding_of_float32(x):
    full, mixed = _pair()
    y_full, y_mixed = full.forward(x), mixed.forward(x)
    scale = float(tf.reduce_max(tf.abs(y_full)))
    err = float(tf.reduce_max(tf.abs(y_full - y_mixed)))
    assert 0 < err < 3e-2 * scale  # bfloat16 has 8 significant bits
    l_full = full.forward_log_det_jacobian(x, event_ndims=3)
    l_mixed = mixed.forward_log_det_jacobian(x, event_ndims=3)
    np.testing.assert_allclose(l_mixed, l_full, rtol=3e-2, atol=3e-2)


def test_gradients_are_float32_and_reach_every_weight(x):
    _, mixed = _pair()
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(mixed.forward_log_det_jacobian(x, event_ndims=3))
        loss += tf.reduce_sum(mixed.forward(x) ** 2)
    grads = tape.gradient(loss, mixed.trainable_variables)
    assert all(g is not None and g.dtype == tf.float32 for g in grads)
    assert all(float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)


def test_compiled_with_xla_matches_eager(x):
    _, mixed = _pair()
    f = tf.function(mixed.forward, jit_compile=True)
    np.testing.assert_allclose(f(x), mixed.forward(x), rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dtype_policy": "bfloat16"}, "must be None or one of"),
        ({"dtype_policy": "mixed_bfloat16", "dtype": tf.float64}, "must be float32"),
    ],
)
def test_bad_policies_are_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AffineCoupling(4, **kwargs)


def test_a_user_network_takes_its_own_policy():
    from tfp_flows.nn.coupling_nets import conv_coupling_net

    net = conv_coupling_net(2, 4, 8)
    with pytest.raises(ValueError, match="applies to the default network only"):
        AffineCoupling(4, network=net, dtype_policy="mixed_bfloat16")


@pytest.mark.slow
def test_the_glow_job_trains_in_mixed_precision_and_reloads(tmp_path, capsys):
    import json

    from tfp_flows import cli
    from tfp_flows.saving import load_flow_model

    out = tmp_path / "out"
    argv = ["--fast", "--no-progress", "--dtype-policy", "mixed_bfloat16"]
    assert cli.main([*argv, "--output-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "first training step took" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert np.isfinite(metrics["test_bits_per_dim"]) and metrics["finite_samples"]
    assert metrics["first_step_seconds"] > 0
    model = load_flow_model(out / "glow.keras")
    spec = json.loads(model.get_config()["flow_spec"])
    assert spec["arguments"]["dtype_policy"] == "mixed_bfloat16"
    convs = [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if type(layer).__name__ == "Conv2D"
    ]
    # The fast job: 2 levels x 1 step, three convs per coupling network in
    # bfloat16; the split prior's conv stays in float32.
    mixed = [layer for layer in convs if layer.compute_dtype == "bfloat16"]
    assert len(mixed) == 6, [(c.name, c.compute_dtype) for c in convs]
    assert all(layer.variable_dtype == "float32" for layer in convs)
