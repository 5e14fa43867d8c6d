"""GlowSteps: K Glow steps as one loop over stacked weights, reversible gradients."""

import gc

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows import bijectors as fb
from tfp_flows import data as fdata
from tfp_flows import flows
from tfp_flows.internal.keras import keras
from tfp_flows.layers import FlowModel

C, K, WIDTH = 4, 3, 8


@pytest.fixture(scope="module")
def digits():
    return fdata.dequantize(fdata.load_digits("train")[:64], seed=[0, 0])


def _step_values(step, lu):
    """`{GlowSteps weight name: GlowStep weight}` for one `GlowStep`."""
    act, conv, cpl = step.parts
    out = {"shift": act.shift, "log_scale": act.log_scale}
    if lu:
        out.update(
            permutation=conv._permutation,
            sign_s=conv._sign_s,
            lower_upper=conv._lower_upper,
            log_s=conv._log_s,
        )
    else:
        out.update(kernel=conv._kernel)
    first, second, last = cpl.network.layers
    out.update(
        kernel_1=first.kernel,
        bias_1=first.bias,
        kernel_2=second.kernel,
        bias_2=second.bias,
        kernel_3=last.conv.kernel,
        bias_3=last.conv.bias,
        logs=last.logs,
    )
    return out


def _pair(
    lu=True,
    additive=False,
    dtype=tf.float32,
    reversible=True,
    seed=10,
    context_shape=None,
    dtype_policy=None,
):
    """K perturbed `GlowStep`s and a `GlowSteps` holding copies of their weights."""
    common = dict(
        hidden_units=WIDTH,
        lu_decomposition=lu,
        additive=additive,
        context_shape=context_shape,
        dtype=dtype,
        dtype_policy=dtype_policy,
    )
    steps = [
        fb.GlowStep(C, seed=seed + 2 * k, name=f"ref_{k}", **common) for k in range(K)
    ]
    stacked = fb.GlowSteps(C, K, reversible=reversible, seed=seed, **common)
    rng = np.random.RandomState(0)
    weights = stacked.stacked_weights
    for k, step in enumerate(steps):
        for name, w in _step_values(step, lu).items():
            if w.trainable:  # move every trainable weight off its init
                w.assign(w.numpy() + 0.1 * rng.normal(size=w.shape))
            target = weights[name]
            target.assign(tf.tensor_scatter_nd_update(target, [[k]], [w.value]))
    return steps, stacked


def _chain_inverse(steps, x):
    ldj = 0.0
    for step in steps:
        y = step.inverse(x)
        ldj += step.inverse_log_det_jacobian(x, event_ndims=3)
        x = y
    return x, ldj


@pytest.mark.parametrize("lu", [True, False])
@pytest.mark.parametrize("additive", [False, True])
def test_glow_steps_match_k_glow_steps(lu, additive):
    fresh_steps = [
        fb.GlowStep(C, hidden_units=WIDTH, lu_decomposition=lu, seed=10 + 2 * k)
        for k in range(K)
    ]
    fresh = fb.GlowSteps(C, K, hidden_units=WIDTH, lu_decomposition=lu, seed=10)
    # Same initial weights as K GlowSteps seeded seed + 2k.
    for k, step in enumerate(fresh_steps):
        for name, w in _step_values(step, lu).items():
            np.testing.assert_array_equal(
                fresh.stacked_weights[name].numpy()[k], w.numpy(), err_msg=name
            )
    steps, stacked = _pair(lu=lu, additive=additive)
    x = tf.random.stateless_normal([3, 4, 4, C], seed=[1, 2])
    z_ref, ildj_ref = _chain_inverse(steps, x)
    z = stacked.inverse(tf.identity(x))
    ildj = stacked.inverse_log_det_jacobian(tf.identity(x), event_ndims=3)
    np.testing.assert_allclose(z, z_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ildj, ildj_ref, rtol=1e-5, atol=1e-4)
    assert float(tf.reduce_max(tf.abs(ildj))) > 0.1 or additive
    # Sampling direction: the reference runs the steps' forwards in reverse.
    u = tf.random.stateless_normal([3, 4, 4, C], seed=[3, 4])
    x_ref, fldj_ref = u, 0.0
    for step in reversed(steps):
        fldj_ref += step.forward_log_det_jacobian(x_ref, event_ndims=3)
        x_ref = step.forward(x_ref)
    np.testing.assert_allclose(stacked.forward(tf.identity(u)), x_ref, atol=1e-5)
    np.testing.assert_allclose(
        stacked.forward_log_det_jacobian(tf.identity(u), event_ndims=3),
        fldj_ref,
        rtol=1e-5,
        atol=1e-4,
    )


def test_extra_batch_dims_and_trainable_variables():
    _, stacked = _pair()
    x = tf.random.stateless_normal([2, 3, 4, 4, C], seed=[5, 6])
    z = stacked.inverse(x)
    assert z.shape == x.shape
    assert stacked.inverse_log_det_jacobian(x, event_ndims=3).shape == (2, 3)
    np.testing.assert_allclose(
        stacked.inverse(x[1]), z[1], atol=1e-5
    )  # rows are independent
    # As many trainable weights as one GlowStep (11), each with a K axis.
    assert len(stacked.trainable_variables) == 11
    assert all(v.shape[0] == K for v in stacked.trainable_variables)


def _grads(stacked, x, direction, weight, context=None):
    """d loss / d [x, (context,) *weights]; the context is bound under the tape."""
    sources = [x] + ([] if context is None else [context])
    with tf.GradientTape() as tape:
        tape.watch(sources)
        bij = stacked if context is None else stacked.with_context(context)
        if direction == "inverse":
            out = bij.inverse(x)
            ldj = bij.inverse_log_det_jacobian(x, event_ndims=3)
        else:
            out = bij.forward(x)
            ldj = bij.forward_log_det_jacobian(x, event_ndims=3)
        loss = tf.reduce_sum(weight * out) + tf.reduce_sum(ldj * [1.0, -2.0, 0.5])
    return tape.gradient(loss, sources + list(stacked.trainable_variables))


def _assert_close_relative(got, want, rtol):
    """Each gradient within `rtol` of the largest entry of its reference."""
    assert len(got) == len(want)
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        scale = float(tf.reduce_max(tf.abs(b)))
        assert scale > 0.0, i  # every source gets a gradient
        err = float(tf.reduce_max(tf.abs(a - b)))
        assert err <= rtol * scale, (i, err, scale)


@pytest.mark.parametrize(
    "dtype, rtol", [(tf.float32, 1e-5), (tf.float64, 1e-11)], ids=["f32", "f64"]
)
@pytest.mark.parametrize("direction", ["inverse", "forward"])
@pytest.mark.parametrize("lu, additive", [(True, False), (False, True)])
def test_reversible_gradients_equal_plain_autodiff(
    dtype, rtol, direction, lu, additive
):
    _, stacked = _pair(lu=lu, additive=additive, dtype=dtype)
    x = tf.random.stateless_normal([3, 4, 4, C], seed=[7, 8], dtype=dtype)
    weight = tf.random.stateless_normal([3, 4, 4, C], seed=[9, 9], dtype=dtype)
    assert stacked.reversible
    rev = _grads(stacked, tf.identity(x), direction, tf.cast(weight, dtype))
    stacked._reversible = False  # the same weights, plain autodiff of the loop
    plain = _grads(stacked, tf.identity(x), direction, tf.cast(weight, dtype))
    assert len(rev) == len(plain) == 1 + len(stacked.trainable_variables)
    _assert_close_relative(rev, plain, rtol)


def test_reversible_gradient_under_xla_with_unknown_batch():
    _, stacked = _pair()
    x = tf.random.stateless_normal([5, 4, 4, C], seed=[1, 1])
    variables = list(stacked.trainable_variables)

    def loss_grads(x):
        with tf.GradientTape() as tape:
            z = stacked.inverse(x)
            loss = tf.reduce_sum(z**2) - tf.reduce_sum(
                stacked.inverse_log_det_jacobian(x, event_ndims=3)
            )
        return [loss] + tape.gradient(loss, variables)

    spec = [tf.TensorSpec([None, 4, 4, C], tf.float32)]
    xla = tf.function(loss_grads, input_signature=spec, jit_compile=True)
    got = xla(tf.identity(x))
    want = loss_grads(tf.identity(x))
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "dtype, rtol", [(tf.float32, 1e-5), (tf.float64, 1e-11)], ids=["f32", "f64"]
)
@pytest.mark.parametrize("direction", ["inverse", "forward"])
@pytest.mark.parametrize(
    "lu, additive, context_shape",
    [(True, False, None), (False, True, None), (True, False, (3,))],
    ids=["affine", "additive", "context"],
)
def test_kept_hidden_gradients_equal_plain_autodiff(
    dtype, rtol, direction, lu, additive, context_shape
):
    """`keep_hidden`: the backward reuses each step's kept last activation."""
    _, stacked = _pair(
        lu=lu, additive=additive, dtype=dtype, context_shape=context_shape
    )
    x = tf.random.stateless_normal([3, 4, 4, C], seed=[7, 8], dtype=dtype)
    weight = tf.random.stateless_normal([3, 4, 4, C], seed=[9, 9], dtype=dtype)
    c = None if context_shape is None else tf.cast(_context(context_shape, 5), dtype)
    stacked._keep_hidden = True
    kept = _grads(stacked, tf.identity(x), direction, weight, c)
    stacked._keep_hidden = False
    stacked._reversible = False
    plain = _grads(stacked, tf.identity(x), direction, weight, c)
    _assert_close_relative(kept, plain, rtol)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_kept_hidden_gradients_under_a_mixed_policy(policy):
    _, stacked = _pair(dtype_policy=policy)
    x = tf.random.stateless_normal([3, 4, 4, C], seed=[7, 8])
    weight = tf.random.stateless_normal([3, 4, 4, C], seed=[9, 9])
    stacked._reversible = False
    plain = _grads(stacked, tf.identity(x), "inverse", weight)
    stacked._reversible = True
    stacked._keep_hidden = True
    kept = _grads(stacked, tf.identity(x), "inverse", weight)
    assert all(g.dtype == tf.float32 for g in kept)
    _assert_close_relative(kept, plain, _MIXED_RTOL[policy])


def test_kept_hidden_gradients_under_xla_with_unknown_batch():
    _, stacked = _pair()
    stacked._keep_hidden = True
    x = tf.random.stateless_normal([3, 4, 4, C], seed=[7, 8])
    weight = tf.random.stateless_normal([3, 4, 4, C], seed=[9, 9])
    spec = [tf.TensorSpec([None, 4, 4, C], tf.float32)]
    xla = tf.function(
        lambda t: _grads(stacked, t, "inverse", weight),
        input_signature=spec,
        jit_compile=True,
    )
    graph = tf.function(
        lambda t: _grads(stacked, t, "inverse", weight), input_signature=spec
    )
    eager = _grads(stacked, tf.identity(x), "inverse", weight)
    _assert_close_relative(xla(tf.identity(x)), eager, 1e-5)
    _assert_close_relative(graph(tf.identity(x)), eager, 1e-5)


def test_keep_hidden_needs_reversible_gradients():
    with pytest.raises(ValueError, match=r"GlowSteps.*`keep_hidden=True`.*reversible"):
        fb.GlowSteps(C, K, reversible=False, keep_hidden=True)
    kw = dict(num_levels=1, hidden_units=4)
    with pytest.raises(
        ValueError, match=r"glow.*`keep_hidden=True`.*reversible=False.*num_steps=8"
    ):
        flows.glow((4, 4, 1), num_steps=8, keep_hidden=True, **kw)
    with pytest.raises(ValueError, match=r"glow.*`keep_hidden`.*'yes'"):
        flows.glow((4, 4, 1), num_steps=16, keep_hidden="yes", **kw)
    flow = flows.glow((4, 4, 1), num_steps=16, keep_hidden=True, **kw)
    assert flow.bijector.levels[0].steps[0].keep_hidden


def test_stacked_glow_equals_glow_after_act_norm_init(digits):
    kw = dict(num_levels=2, num_steps=2, hidden_units=8, seed=3)
    ref = flows.glow((8, 8, 1), **kw)
    new = flows.glow((8, 8, 1), stacked_steps=True, **kw)
    # 2 levels x 11 stacked weights (2 x 2 x 11 unstacked) + split prior 3 + top 2.
    assert len(new.trainable_variables) == 27 and len(ref.trainable_variables) == 49
    sizes = [
        sum(int(np.prod(v.shape)) for v in f.trainable_variables) for f in (new, ref)
    ]
    assert sizes[0] == sizes[1]
    x = digits[:8]
    np.testing.assert_allclose(
        new.log_prob(tf.identity(x)), ref.log_prob(tf.identity(x)), rtol=1e-5
    )
    # Data-dependent init: step k from the output of steps 0..k-1.
    flows.initialize_act_norms(ref, digits)
    flows.initialize_act_norms(new, digits)
    acts = [m for m in new.submodules if isinstance(m, fb.ActNorm)]
    assert len(acts) == 4 and all(bool(a.is_initialized) for a in acts)
    for level in new.bijector.levels:
        assert bool(tf.reduce_all(level.steps[0].is_initialized))
    for name in ("shift", "log_scale"):
        ref_value = getattr(ref.bijector.levels[1].steps[1].act_norm, name).numpy()
        new_value = getattr(new.bijector.levels[1].steps[0].act_norms[1], name)
        np.testing.assert_allclose(new_value, ref_value, rtol=1e-4, atol=1e-5)
    assert np.abs(ref_value).max() > 1e-2  # log_scale: not the identity
    np.testing.assert_allclose(
        new.log_prob(tf.identity(x)), ref.log_prob(tf.identity(x)), rtol=1e-5
    )


# -- conditional GlowSteps ----------------------------------------------------
CONTEXTS = [(3,), (8, 8, 1), (2, 2, 3)]
CONTEXT_IDS = ["vector", "image_pooled", "image_repeated"]


def _context(shape, seed, batch=3):
    return tf.random.stateless_normal([batch, *shape], seed=[seed, 7])


@pytest.mark.parametrize("context_shape", CONTEXTS, ids=CONTEXT_IDS)
def test_conditional_glow_steps_match_k_conditional_glow_steps(context_shape):
    # Same initial weights as K GlowStep(context_shape=...)s: the first
    # kernel has C_a + C_c input channels.
    fresh = fb.GlowSteps(C, K, hidden_units=WIDTH, context_shape=context_shape, seed=4)
    assert fresh.conditional and fresh.context_shape == context_shape
    for k in range(K):
        ref = fb.GlowStep(
            C, hidden_units=WIDTH, context_shape=context_shape, seed=4 + 2 * k
        )
        for name, w in _step_values(ref, True).items():
            np.testing.assert_array_equal(
                fresh.stacked_weights[name].numpy()[k], w.numpy(), err_msg=name
            )
    assert fresh.stacked_weights["kernel_1"].shape[-2] == C // 2 + context_shape[-1]
    steps, stacked = _pair(context_shape=context_shape)
    c = _context(context_shape, 1)
    x = tf.random.stateless_normal([3, 4, 4, C], seed=[1, 2])
    z_ref, ildj_ref = _chain_inverse([s.with_context(c) for s in steps], x)
    bound = stacked.with_context(c)
    z = bound.inverse(tf.identity(x))
    ildj = bound.inverse_log_det_jacobian(tf.identity(x), event_ndims=3)
    np.testing.assert_allclose(z, z_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ildj, ildj_ref, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(bound.forward(tf.identity(z)), x, atol=1e-5)
    # The context matters (the perturbed networks see it).
    other = stacked.with_context(c + 1.0).inverse(tf.identity(x))
    assert float(tf.reduce_max(tf.abs(other - z))) > 1e-3
    assert stacked.context is None  # binding returned a copy


def test_context_batch_broadcasts_as_in_affine_coupling():
    _, stacked = _pair(context_shape=(3,))
    x = tf.random.stateless_normal([2, 3, 4, 4, C], seed=[5, 6])
    c = _context((3,), 2, batch=1)[0]
    # One context for every row, a row per inner batch member, one per row.
    z_one = stacked.with_context(c).inverse(tf.identity(x))
    ldj = stacked.with_context(c).inverse_log_det_jacobian(x, event_ndims=3)
    assert z_one.shape == x.shape and ldj.shape == (2, 3)
    z_rows = stacked.with_context(tf.broadcast_to(c, [3, 3])).inverse(tf.identity(x))
    np.testing.assert_allclose(z_rows, z_one, atol=1e-6)
    full = tf.broadcast_to(c, [2, 3, 3])
    np.testing.assert_allclose(
        stacked.with_context(full).inverse(tf.identity(x)), z_one, atol=1e-6
    )
    # A context row per example broadcasts a single image the other way.
    many = _context((3,), 3, batch=4)
    z_many = stacked.with_context(many).inverse(tf.identity(x[0, 0]))
    assert z_many.shape == (4, 4, 4, C)
    with pytest.raises(ValueError, match=r"GlowSteps.*`context`.*broadcast.*`y`"):
        stacked.with_context(many).inverse(tf.identity(x))
    with pytest.raises(ValueError, match=r"GlowSteps.*with_context"):
        stacked.inverse(tf.identity(x))
    with pytest.raises(ValueError, match=r"GlowSteps.*`context`.*\[\.\.\., 3\]"):
        stacked.with_context(tf.zeros([2, 4]))
    with pytest.raises(ValueError, match=r"GlowSteps.*unconditional"):
        fb.GlowSteps(C, K, hidden_units=WIDTH).with_context(c)
    with pytest.raises(ValueError, match="context_shape"):
        fb.GlowSteps(C, K, context_shape=(4, 4))


@pytest.mark.parametrize("direction", ["inverse", "forward"])
@pytest.mark.parametrize("context_shape", CONTEXTS[:2], ids=CONTEXT_IDS[:2])
def test_reversible_gradients_reach_the_context_as_plain_autodiff(
    context_shape, direction
):
    _, stacked = _pair(context_shape=context_shape)
    x = tf.random.stateless_normal([3, 4, 4, C], seed=[7, 8])
    weight = tf.random.stateless_normal([3, 4, 4, C], seed=[9, 9])
    c = _context(context_shape, 5)
    rev = _grads(stacked, tf.identity(x), direction, weight, tf.identity(c))
    stacked._reversible = False
    plain = _grads(stacked, tf.identity(x), direction, weight, tf.identity(c))
    assert rev[1].shape == c.shape  # the context's gradient
    assert len(rev) == 2 + len(stacked.trainable_variables)
    _assert_close_relative(rev, plain, 1e-5)


def test_a_bound_copy_outlives_its_unbound_original():
    bound = fb.GlowSteps(
        C, K, hidden_units=WIDTH, context_shape=(3,), seed=0
    ).with_context(_context((3,), 1, batch=1)[0])
    gc.collect()
    # The ActNorm views read the original's weights: still there.
    assert bound.act_norms[1].shift.shape == (C,)
    assert len(bound.trainable_variables) == 11


# -- mixed precision ------------------------------------------------------------
@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_matches_k_mixed_glow_steps_and_round_trips(policy):
    steps, stacked = _pair(dtype_policy=policy, context_shape=(3,))
    assert stacked.dtype_policy == policy
    assert {v.dtype for v in stacked.trainable_variables} == {tf.float32}
    c = _context((3,), 1)
    x = tf.random.stateless_normal([3, 4, 4, C], seed=[1, 2])
    bound = stacked.with_context(c)
    z = bound.inverse(tf.identity(x))
    ildj = bound.inverse_log_det_jacobian(tf.identity(x), event_ndims=3)
    assert z.dtype == ildj.dtype == tf.float32
    # The same 16-bit network as K mixed GlowSteps (same casts, same ops).
    z_ref, ildj_ref = _chain_inverse([s.with_context(c) for s in steps], x)
    np.testing.assert_allclose(z, z_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ildj, ildj_ref, rtol=1e-5, atol=1e-4)
    # Exact round trip: both directions run the network on the same h_a.
    np.testing.assert_allclose(bound.forward(tf.identity(z)), x, atol=2e-5)
    np.testing.assert_allclose(
        bound.forward_log_det_jacobian(tf.identity(z), event_ndims=3),
        -ildj,
        rtol=1e-5,
        atol=1e-4,
    )
    # The networks do compute in 16 bits: the float32 network on the same
    # weights differs, by about the 16-bit rounding.
    _, full = _pair(context_shape=(3,))
    z_full = full.with_context(c).inverse(tf.identity(x))
    diff = float(tf.reduce_max(tf.abs(z_full - z)))
    assert 1e-6 < diff < 0.1, diff


# Reversible and plain gradients run the same 16-bit network on the same
# weights, but not the same numbers: the reversible one on inputs rebuilt from
# the outputs (float32 rounding, ~1e-7 relative, can cross a 16-bit rounding
# boundary) and through its own backward ops, whose 16-bit reductions may be
# ordered differently (measured: with K=1 and h_a bit-identical, the first
# kernel's float16 gradient still differed by 1.7e-4 of its largest entry).
# Measured at this test's shapes: max |rev - plain| / max |plain| <= 6e-7 for
# both policies and directions; the 16-bit compute's own error, the plain
# mixed gradient against the float32 network on the same weights, is
# 0.12-0.23 (bfloat16) and 1.2e-3-0.23 (float16). The tolerances sit between
# the two: far above the measured differences (at K=6, C=8, width 32, batch
# 16 x 8x8 they grow to 0.3-1.2% per weight), far below a missing or wrong
# vjp term (an O(1) error).
_MIXED_RTOL = {"mixed_bfloat16": 1e-2, "mixed_float16": 2e-3}


@pytest.mark.parametrize("direction", ["inverse", "forward"])
@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_reversible_gradients_equal_plain_autodiff(policy, direction):
    _, stacked = _pair(dtype_policy=policy, context_shape=(3,))
    x = tf.random.stateless_normal([3, 4, 4, C], seed=[7, 8])
    weight = tf.random.stateless_normal([3, 4, 4, C], seed=[9, 9])
    c = _context((3,), 5)
    rev = _grads(stacked, tf.identity(x), direction, weight, tf.identity(c))
    assert all(g.dtype == tf.float32 for g in rev)
    stacked._reversible = False
    plain = _grads(stacked, tf.identity(x), direction, weight, tf.identity(c))
    _assert_close_relative(rev, plain, _MIXED_RTOL[policy])


def test_bad_policies_are_errors():
    with pytest.raises(ValueError, match=r"GlowSteps.*`dtype_policy`.*'float16'"):
        fb.GlowSteps(C, K, dtype_policy="float16")
    with pytest.raises(ValueError, match=r"GlowSteps.*`dtype`.*float64"):
        fb.GlowSteps(C, K, dtype=tf.float64, dtype_policy="mixed_bfloat16")


# -- flows.glow -------------------------------------------------------------------
def _perturb_last_layers_alike(ref, new, seed=0):
    """Moves the zero-initialized last coupling layers off zero, alike in both.

    `ref`, `new`: the `MultiScale`s of an unstacked and a stacked Glow.
    """
    rng = np.random.RandomState(seed)
    for lv_ref, lv_new in zip(ref.levels, new.levels, strict=True):
        weights = lv_new.steps[0].stacked_weights
        for k, step in enumerate(lv_ref.steps):
            last = step.coupling.network.layers[-1]
            for name, w in (("kernel_3", last.conv.kernel), ("bias_3", last.conv.bias)):
                w.assign(0.05 * rng.normal(size=w.shape))
                target = weights[name]
                target.assign(tf.tensor_scatter_nd_update(target, [[k]], [w.value]))


@pytest.mark.parametrize(
    "context",
    [dict(context_size=3), dict(context_shape=(4, 4, 1))],
    ids=["class", "image"],
)
def test_stacked_conditional_glow_equals_unstacked(digits, context):
    kw = dict(num_levels=2, num_steps=2, hidden_units=8, seed=3, **context)
    ref = flows.glow((8, 8, 1), stacked_steps=False, **kw)
    new = flows.glow((8, 8, 1), stacked_steps=True, **kw)
    assert isinstance(new.bijectors[0].levels[0].steps[0], fb.GlowSteps)
    x = digits[:8]
    if "context_size" in context:
        c = tf.one_hot(np.arange(8) % 3, 3)
    else:
        c = tf.image.resize(x, [4, 4], "area")
    flows.initialize_act_norms(ref, digits[:32], context=_repeat_rows(c, 4))
    flows.initialize_act_norms(new, digits[:32], context=_repeat_rows(c, 4))
    _perturb_last_layers_alike(ref.bijectors[0], new.bijectors[0])
    lp_ref = ref.log_prob(tf.identity(x), context=c)
    lp_new = new.log_prob(tf.identity(x), context=c)
    np.testing.assert_allclose(lp_new, lp_ref, rtol=1e-5)
    other = new.log_prob(tf.identity(x), context=tf.reverse(c, [0]))
    assert float(tf.reduce_max(tf.abs(other - lp_new))) > 1e-3  # it conditions


def _repeat_rows(c, times):
    return tf.concat([c] * times, axis=0)


def test_mixed_precision_stacked_glow_is_close_to_unstacked(digits):
    kw = dict(num_levels=2, num_steps=2, hidden_units=8, seed=3)
    ref = flows.glow(
        (8, 8, 1), stacked_steps=False, dtype_policy="mixed_bfloat16", **kw
    )
    new = flows.glow((8, 8, 1), stacked_steps=True, dtype_policy="mixed_bfloat16", **kw)
    assert new.bijector.levels[0].steps[0].dtype_policy == "mixed_bfloat16"
    flows.initialize_act_norms(ref, digits)
    flows.initialize_act_norms(new, digits)
    _perturb_last_layers_alike(ref.bijector, new.bijector)
    x = digits[:8]
    np.testing.assert_allclose(
        new.log_prob(tf.identity(x)), ref.log_prob(tf.identity(x)), rtol=1e-5
    )


def test_stacking_is_the_default_from_eight_steps():
    from tfp_flows.flows.glow import STACKED_FROM_STEPS

    assert STACKED_FROM_STEPS == 8
    kw = dict(num_levels=1, hidden_units=4)
    deep = flows.glow((4, 4, 1), num_steps=8, **kw)
    shallow = flows.glow((4, 4, 1), num_steps=7, **kw)
    assert [type(s) for s in deep.bijector.levels[0].steps] == [fb.GlowSteps]
    assert all(isinstance(s, fb.GlowStep) for s in shallow.bijector.levels[0].steps)
    assert len(shallow.bijector.levels[0].steps) == 7
    forced = flows.glow((4, 4, 1), num_steps=8, stacked_steps=False, **kw)
    assert len(forced.bijector.levels[0].steps) == 8
    cond = flows.glow((4, 4, 1), num_steps=8, context_size=2, **kw)
    assert isinstance(cond.bijectors[0].levels[0].steps[0], fb.GlowSteps)
    with pytest.raises(ValueError, match=r"glow.*`stacked_steps`.*'yes'"):
        flows.glow((4, 4, 1), stacked_steps="yes")


def test_reversible_is_the_default_from_sixteen_steps():
    from tfp_flows.flows.glow import REVERSIBLE_FROM_STEPS

    assert REVERSIBLE_FROM_STEPS == 16
    kw = dict(num_levels=1, hidden_units=4)

    def level_steps(flow):
        return flow.bijector.levels[0].steps[0]

    assert level_steps(flows.glow((4, 4, 1), num_steps=16, **kw)).reversible
    assert not level_steps(flows.glow((4, 4, 1), num_steps=15, **kw)).reversible
    forced = flows.glow((4, 4, 1), num_steps=8, reversible=True, **kw)
    assert level_steps(forced).reversible
    off = flows.glow((4, 4, 1), num_steps=16, reversible=False, **kw)
    assert not level_steps(off).reversible
    # Reversible gradients need the stacked loop: never silently dropped.
    with pytest.raises(
        ValueError, match=r"glow.*`reversible=True`.*stacked_steps=False.*num_steps=4"
    ):
        flows.glow((4, 4, 1), num_steps=4, reversible=True, **kw)
    with pytest.raises(ValueError, match=r"glow.*`reversible`.*'yes'"):
        flows.glow((4, 4, 1), num_steps=16, reversible="yes", **kw)


def test_a_spec_without_stacked_steps_rebuilds_unstacked():
    import json

    from tfp_flows.internal.specs import build_from_spec
    from tfp_flows.internal.specs import spec_of

    flow = flows.glow((4, 4, 1), num_levels=1, num_steps=8, hidden_units=4)
    spec = json.loads(spec_of(flow))
    assert "stacked_steps" in spec["arguments"]  # new specs record it
    assert isinstance(build_from_spec(spec).bijector.levels[0].steps[0], fb.GlowSteps)
    # A spec saved before the default changed holds no `stacked_steps`.
    del spec["arguments"]["stacked_steps"]
    old = build_from_spec(spec)
    assert [type(s) for s in old.bijector.levels[0].steps] == [fb.GlowStep] * 8
    spec["arguments"]["stacked_steps"] = True
    steps = build_from_spec(spec).bijector.levels[0].steps
    assert [type(s) for s in steps] == [fb.GlowSteps]


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="num_channels"):
        fb.GlowSteps(1, 2)
    with pytest.raises(ValueError, match="num_steps"):
        fb.GlowSteps(4, 0)
    _, stacked = _pair()
    with pytest.raises(ValueError, match=r"GlowSteps.*`y`"):
        stacked.inverse(tf.zeros([2, 4, 4, C + 1]))


@pytest.mark.slow  # fit, .keras round trip and a SavedModel export (~20 s)
def test_fit_keras_file_and_saved_model(digits, tmp_path):
    from tfp_flows.saving import export_saved_model

    flow = flows.glow(
        (8, 8, 1),
        num_levels=2,
        num_steps=2,
        hidden_units=8,
        seed=1,
        stacked_steps=True,
        reversible=True,
    )
    model = FlowModel(flow)
    model.initialize_act_norms(digits)
    assert len(model.trainable_weights) == len(flow.trainable_variables)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=False)
    hist = model.fit(digits, batch_size=16, epochs=3, verbose=0, shuffle=False)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    model.save(tmp_path / "g.keras")
    loaded = keras.saving.load_model(tmp_path / "g.keras", safe_mode=True)
    x = digits[:4]
    np.testing.assert_allclose(
        loaded.flow.log_prob(tf.identity(x)), flow.log_prob(tf.identity(x)), rtol=1e-6
    )
    export_saved_model(model, tmp_path / "sm")
    served = tf.saved_model.load(str(tmp_path / "sm"))
    lp = served.signatures["log_prob"](x=x)["log_prob"]
    np.testing.assert_allclose(lp, flow.log_prob(tf.identity(x)), rtol=1e-5)


_SHARDED = r"""
import json
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from tfp_flows import data, flows, layers
from tfp_flows.internal.keras import as_tf_variable
x = data.dequantize(data.load_digits("train")[:64], seed=[0, 0])
def build():
    return flows.glow((8, 8, 1), num_levels=2, num_steps=2, hidden_units=8, seed=1,
                      stacked_steps=True, reversible=True)
def stats(flow):
    return [np.concatenate([lv.steps[0]._shift.numpy().ravel(),
                            lv.steps[0]._log_scale.numpy().ravel()]).tolist()
            for lv in flow.bijector.levels]
ref, half = build(), build()
flows.initialize_act_norms(ref, x)
flows.initialize_act_norms(half, x[:32])
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    flow = build()
    model = layers.FlowModel(flow)
model.initialize_act_norms(tf.data.Dataset.from_tensor_slices(x).batch(64))
replicas = [
    [np.concatenate([s.numpy().ravel(), l.numpy().ravel()]).tolist()
     for s, l in zip(*[strategy.experimental_local_results(as_tf_variable(w))
                       for w in (lv.steps[0]._shift, lv.steps[0]._log_scale)])]
    for lv in flow.bijector.levels]
print(json.dumps({"ref": stats(ref), "half": stats(half), "replicas": replicas}))
"""


@pytest.mark.slow  # a subprocess with two logical CPUs (~1 min)
def test_sharded_act_norm_init_under_mirrored_strategy():
    import json
    import pathlib
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-c", _SHARDED],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=pathlib.Path(__file__).parent.parent,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    for ref, replicas in zip(out["ref"], out["replicas"], strict=True):
        assert len(replicas) == 2  # every replica got the global statistics
        for values in replicas:
            np.testing.assert_allclose(values, ref, rtol=1e-5, atol=1e-5)
    assert not np.allclose(out["half"][0], out["ref"][0], atol=1e-3)


@pytest.mark.slow
def test_the_glow_job_stacks_levels_of_eight_steps_or_more(tmp_path, capsys):
    import json

    from tfp_flows import cli
    from tfp_flows.saving import load_flow_model

    out = tmp_path / "out"
    argv = ["--fast", "--no-progress", "--steps", "8", "--output-dir", str(out)]
    assert cli.main(argv) == 0
    assert "first training step took" in capsys.readouterr().out
    model = load_flow_model(out / "glow.keras")
    spec = json.loads(model.get_config()["flow_spec"])
    assert spec["arguments"]["stacked_steps"] is True
    assert spec["arguments"]["num_steps"] == 8
    assert not model.jit_compile  # XLA would unroll the loop
    levels = model.flow.bijector.levels
    assert len(levels) == 2  # the fast job's levels, one GlowSteps each
    assert all(
        len(lv.steps) == 1 and isinstance(lv.steps[0], fb.GlowSteps) for lv in levels
    )
