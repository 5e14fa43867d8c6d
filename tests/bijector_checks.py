"""The shared bijector checks every registry entry goes through.

Each function takes a `registry.Entry`, a dtype and a built bijector, and
asserts one property. See STYLE.md section 5 and `tests/test_registry.py`.
"""

import numpy as np
import tensorflow as tf

TOL = {
    tf.float32: dict(rtol=1e-4, atol=1e-4),
    tf.float64: dict(rtol=1e-9, atol=1e-9),
}


def tol(entry, dtype, kind="default"):
    """The tolerance of check `kind`: `TOL`, then `entry.tolerances` keyed by
    `(kind, dtype name)` or by `dtype name`.

    Numerical inverses (`entry.inverse_is_numerical`) get no looser default:
    measured, their round trips are as tight as the exact ones (planar 1e-7,
    Sylvester 3e-7 in float32; 1e-15 in float64).
    """
    t = dict(TOL[dtype])
    override = entry.tolerances.get((kind, dtype.name)) or entry.tolerances.get(
        dtype.name
    )
    if override:
        t.update(override)
    return t


def sample_input(entry, dtype, batch_shape, seed=0):
    shape = tuple(batch_shape) + tuple(entry.event_shape)
    if entry.input_fn is not None:
        return tf.cast(entry.input_fn(shape, seed), dtype)
    rng = np.random.RandomState(seed)
    return tf.constant(rng.normal(size=shape), dtype=dtype)


def perturb_weights(bijector, scale, seed=0):
    """Moves every trainable weight off its (often trivial) initial value."""
    rng = np.random.RandomState(seed)
    for v in bijector.trainable_variables:
        v.assign_add(
            tf.constant(rng.normal(scale=scale, size=v.shape.as_list()), v.dtype)
        )


def fresh(t):
    """A new tensor object: defeats TFP's bijector result cache."""
    return tf.identity(t)


def _n(t):
    return np.asarray(t)


def check_round_trip(entry, dtype, bij):
    x = sample_input(entry, dtype, [3])
    y = bij.forward(x)
    assert y.dtype == dtype
    assert np.all(np.isfinite(_n(y))), "forward produced non-finite values"
    x_rec = bij.inverse(fresh(y))
    np.testing.assert_allclose(_n(x_rec), _n(x), **tol(entry, dtype, "round_trip"))


def check_numerical_inverse_converges(entry, dtype, bij):
    """An iterative inverse reaches float resolution far out too.

    For `entry.inverse_is_numerical`: the round trip on 64 inputs at scales
    1, 10, 100 and 1000 (the far tails, where a Newton/bisection iteration with
    a fixed budget or a bad bracket stops early or diverges), to the exact
    round-trip tolerance relative to each input's size.
    """
    assert entry.inverse_is_numerical, entry.name
    t = tol(entry, dtype, "round_trip")
    for scale in (1.0, 10.0, 100.0, 1000.0):
        x = sample_input(entry, dtype, [64], seed=5) * scale
        x_rec = _n(bij.inverse(fresh(bij.forward(x))))
        assert np.all(np.isfinite(x_rec)), f"non-finite inverse at scale {scale}"
        np.testing.assert_allclose(
            x_rec, _n(x), rtol=t["rtol"], atol=t["atol"], err_msg=f"scale {scale}"
        )


def check_fldj_vs_ildj(entry, dtype, bij):
    nd = len(entry.event_shape)
    x = sample_input(entry, dtype, [3])
    y = bij.forward(fresh(x))
    fldj = bij.forward_log_det_jacobian(fresh(x), event_ndims=nd)
    ildj = bij.inverse_log_det_jacobian(fresh(y), event_ndims=bij.inverse_event_ndims(nd))
    assert fldj.shape == (3,), fldj.shape
    assert np.all(np.isfinite(_n(fldj)))
    np.testing.assert_allclose(_n(fldj), -_n(ildj), **tol(entry, dtype, "ldj"))


def check_fldj_vs_autodiff(entry, dtype, bij):
    """fldj against slogdet of the autodiff Jacobian on the flattened event."""
    assert dtype == tf.float64
    nd = len(entry.event_shape)
    x = sample_input(entry, dtype, [2], seed=1)
    size = int(np.prod(entry.event_shape))
    x_flat = tf.reshape(x, [2, size])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x_flat)
        y = bij.forward(tf.reshape(x_flat, [2] + list(entry.event_shape)))
        y_flat = tf.reshape(y, [2, -1])
    jac = tape.batch_jacobian(y_flat, x_flat, experimental_use_pfor=False)
    assert jac.shape == (2, size, size), jac.shape
    _, logabsdet = np.linalg.slogdet(_n(jac))
    fldj = bij.forward_log_det_jacobian(fresh(x), event_ndims=nd)
    np.testing.assert_allclose(_n(fldj), logabsdet, rtol=1e-6, atol=1e-6)


def check_ldj_shapes(entry, dtype, bij):
    """Extra batch dims are kept; extra event dims are summed over."""
    nd = len(entry.event_shape)
    x = sample_input(entry, dtype, [2, 3], seed=2)
    ldj = bij.forward_log_det_jacobian(fresh(x), event_ndims=nd)
    assert tuple(ldj.shape) == (2, 3), ldj.shape
    ldj_more = bij.forward_log_det_jacobian(fresh(x), event_ndims=nd + 1)
    assert tuple(ldj_more.shape) == (2,), ldj_more.shape
    np.testing.assert_allclose(
        _n(ldj_more), _n(ldj).sum(axis=1), **tol(entry, dtype, "ldj")
    )
    y = bij.forward(fresh(x))
    ildj = bij.inverse_log_det_jacobian(fresh(y), event_ndims=nd)
    assert tuple(ildj.shape) == (2, 3), ildj.shape


def check_gradients_reach_every_weight(entry, dtype, bij):
    variables = bij.trainable_variables
    assert len(variables) == entry.num_weights, (
        f"expected {entry.num_weights} trainable variables, "
        f"got {[v.name for v in variables]}"
    )
    nd = len(entry.event_shape)
    x = sample_input(entry, dtype, [4], seed=3)
    with tf.GradientTape() as tape:
        y = bij.forward(fresh(x))
        loss = tf.reduce_sum(tf.sin(y)) + tf.reduce_sum(
            bij.forward_log_det_jacobian(fresh(x), event_ndims=nd)
        )
        if entry.has_inverse:
            loss += tf.reduce_sum(
                bij.inverse_log_det_jacobian(fresh(y) + 0.0, event_ndims=nd)
            )
    grads = tape.gradient(loss, variables)
    for v, g in zip(variables, grads):
        assert g is not None, f"no gradient reaches {v.name}"
        g = _n(tf.convert_to_tensor(g))
        assert np.all(np.isfinite(g)), f"non-finite gradient for {v.name}"
        assert np.any(g != 0), f"zero gradient for {v.name}"


def check_eager_function_xla(entry, dtype, bij):
    """Eager, tf.function and XLA agree, with an unknown batch dimension."""
    nd = len(entry.event_shape)
    x = sample_input(entry, dtype, [3], seed=4)

    def run(x):
        y = bij.forward(x)
        fldj = bij.forward_log_det_jacobian(x, event_ndims=nd)
        out = [y, fldj]
        if entry.has_inverse:
            y2 = tf.identity(y) * 1.0
            out += [bij.inverse(y2), bij.inverse_log_det_jacobian(y2, event_ndims=nd)]
        return out

    spec = tf.TensorSpec([None] + list(entry.event_shape), dtype)
    eager = run(fresh(x))
    graph = tf.function(run, input_signature=[spec])(fresh(x))
    xla = tf.function(run, input_signature=[spec], jit_compile=True)(fresh(x))
    t = tol(entry, dtype, "xla")
    for e, g, c in zip(eager, graph, xla):
        np.testing.assert_allclose(_n(g), _n(e), **t)
        np.testing.assert_allclose(_n(c), _n(e), **t)
