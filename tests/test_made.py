"""MADE: autoregressive property (Jacobian sparsity), masks, ensembles, errors."""

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows.internal.keras import as_tf_variable
from tfp_flows.internal.keras import keras
from tfp_flows.nn import made_solve
from tfp_flows.nn.made import MADE
from tfp_flows.nn.made import made_degrees

D = 5
ORDERS = ["left-to-right", "right-to-left", "random", [3, 0, 4, 1, 2]]


def _jacobian_dependence(made, context=None, n=4, seed=0):
    """`dep[d, j]` = sum over rows and params of |d out[d] / d x[j]|."""
    x = tf.constant(
        np.random.RandomState(seed).normal(size=(n, D)), made.variable_dtype
    )
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = made(x, context=context)
    jac = tape.batch_jacobian(out, x)  # [n, D, P, D]
    return np.abs(jac.numpy()).sum(axis=(0, 2))


def _made(**kwargs):
    kwargs.setdefault("hidden_units", [10, 10])
    kwargs.setdefault("output_initializer", "glorot_uniform")
    kwargs.setdefault("num_params", 2)
    kwargs.setdefault("seed", 3)
    kwargs.setdefault("activation", "tanh")  # no dead units: connectivity is visible
    return MADE(D, **kwargs)


@pytest.mark.parametrize("order", ORDERS, ids=lambda o: str(o))
@pytest.mark.parametrize("hidden_degrees", ["equal", "random"])
@pytest.mark.parametrize("direct", [False, True])
def test_jacobian_is_autoregressive_in_the_ordering(order, hidden_degrees, direct):
    made = _made(
        input_order=order, hidden_degrees=hidden_degrees, direct_connections=direct
    )
    dep = _jacobian_dependence(made)
    position = made.input_order  # position of each input in the ordering
    before = position[None, :] < position[:, None]  # [out d, in j]
    assert np.all(dep[~before] == 0), "output depends on an input at/after it"
    if hidden_degrees == "equal" or direct:
        # Full connectivity: every allowed dependence is present.
        assert np.all(dep[before] > 0)
    if not isinstance(order, str):
        np.testing.assert_array_equal(position, order)
    if order == "right-to-left":
        np.testing.assert_array_equal(position, np.arange(D)[::-1])


def test_no_hidden_layers_and_context_keep_the_property():
    made = _made(hidden_units=[], direct_connections=True, input_order="random")
    dep = _jacobian_dependence(made)
    pos = made.input_order
    before = pos[None, :] < pos[:, None]
    assert np.all(dep[~before] == 0) and np.all(dep[before] > 0)
    cmade = _made(context_size=3, input_order="random")
    c = tf.constant(np.random.RandomState(1).normal(size=(4, 3)), tf.float32)
    dep = _jacobian_dependence(cmade, context=c)
    pos = cmade.input_order
    assert np.all(dep[~(pos[None, :] < pos[:, None])] == 0)
    # The context reaches every output (including the first in the ordering).
    x = tf.zeros([4, D])
    with tf.GradientTape() as tape:
        tape.watch(c)
        out = cmade(x, context=c)
    g = tape.batch_jacobian(out, c).numpy()
    assert np.all(np.abs(g).sum(axis=(0, 2, 3)) > 0)


def test_degrees_follow_germain():
    deg = made_degrees(4, [6, 3], hidden_degrees="equal")
    np.testing.assert_array_equal(deg[0], [1, 2, 3, 4])
    np.testing.assert_array_equal(deg[1], [1, 2, 3, 1, 2, 3])
    deg = made_degrees(
        6, [20, 20], hidden_degrees="random", rng=np.random.default_rng(0)
    )
    for prev, cur in zip(deg[1:-1], deg[2:], strict=True):
        assert cur.min() >= prev.min() and cur.max() <= 5


def test_too_few_hidden_units_is_an_error():
    with pytest.raises(
        ValueError, match=r"hidden_units\[1\]` = 3 .*4 hidden degrees 1..4"
    ):
        MADE(5, hidden_units=[8, 3])


def test_resample_masks_changes_ordering_and_keeps_the_property():
    made = _made(input_order="random", hidden_degrees="random", num_masks=3)
    orders = {tuple(made.input_order)}
    for k in range(3):
        made.set_mask_index(k)
        orders.add(tuple(made.input_order))
        dep = _jacobian_dependence(made)
        pos = made.input_order
        assert np.all(dep[~(pos[None, :] < pos[:, None])] == 0)
    assert len(orders) > 1, "the mask sets should use different orderings"
    made.set_mask_index(0)
    before = made.input_order.copy()
    made.resample_masks(seed=123)
    assert tuple(made.input_order) != tuple(before)
    dep = _jacobian_dependence(made)
    pos = made.input_order
    assert np.all(dep[~(pos[None, :] < pos[:, None])] == 0)
    made.next_mask()
    assert int(made.mask_index.numpy()) == 1
    made.set_mask_index(2)
    made.next_mask()
    assert int(made.mask_index.numpy()) == 0


def test_mask_index_works_inside_tf_function():
    made = _made(input_order="random", num_masks=2)
    x = tf.random.normal([3, D])
    eager = [None, None]
    for k in range(2):
        made.set_mask_index(k)
        eager[k] = made(x).numpy()

    @tf.function
    def step(x):
        made.next_mask()
        return made(x)

    made.set_mask_index(0)
    np.testing.assert_allclose(step(x).numpy(), eager[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(step(x).numpy(), eager[0], rtol=1e-5, atol=1e-6)


def test_keras_model_sees_exactly_the_trainable_weights():
    made = _made(context_size=2, direct_connections=True)
    x_in = keras.Input((D,))
    c_in = keras.Input((2,))
    model = keras.Model([x_in, c_in], made(x_in, context=c_in))
    assert len(model.trainable_weights) == 2 * 3 + 2 + 1  # kernels, biases, ctx
    assert {id(as_tf_variable(w)) for w in model.trainable_weights} == {
        id(as_tf_variable(w)) for w in made.trainable_weights
    }
    assert all(not w.trainable for w in made.non_trainable_weights)
    out = model([np.zeros((2, D), "float32"), np.ones((2, 2), "float32")])
    assert tuple(out.shape) == (2, D, 2)


def test_config_round_trip():
    made = _made(input_order=[3, 0, 4, 1, 2], context_size=2)
    clone = MADE.from_config(made.get_config())
    assert clone.event_size == D and clone.context_size == 2
    np.testing.assert_array_equal(clone.input_order, made.input_order)
    # The solve options: defaults, and non-defaults kept by the config.
    assert (made.solve_strategy, made.unroll_blocks_up_to, made.full_pass_up_to) == (
        "auto",
        8,
        16,
    )
    tuned = _made(
        solve_strategy="incremental", unroll_blocks_up_to=2, full_pass_up_to=3
    )
    config = tuned.get_config()
    assert (
        config["solve_strategy"],
        config["unroll_blocks_up_to"],
        config["full_pass_up_to"],
    ) == ("incremental", 2, 3)
    clone = MADE.from_config(config)
    assert (clone.solve_strategy, clone.unroll_blocks_up_to, clone.full_pass_up_to) == (
        "incremental",
        2,
        3,
    )


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(input_order="middle-out"), "input_order"),
        (dict(input_order=[0, 1, 1, 2, 3]), r"permutation of 0..4"),
        (dict(hidden_degrees="spread"), "hidden_degrees"),
        (dict(num_params=0), "num_params"),
        (dict(num_masks=0), "num_masks"),
        (dict(solve_strategy="fastest"), r"`solve_strategy` must be one of"),
        (dict(solve_strategy="blocks", num_masks=2), r"'blocks' needs fixed masks"),
        (
            dict(solve_strategy="blocks", input_order="random"),
            r"'blocks' needs fixed masks",
        ),
        (
            dict(unroll_blocks_up_to=-1),
            r"`unroll_blocks_up_to` must be an integer >= 0",
        ),
        (dict(full_pass_up_to=2.5), r"`full_pass_up_to` must be an integer >= 0"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _made(**kwargs)


def test_bad_call_arguments():
    made = _made()
    with pytest.raises(
        ValueError, match=r"`inputs` must have shape \[\.\.\., 5\].*\[3, 4\]"
    ):
        made.params(tf.zeros([3, 4]))
    with pytest.raises(ValueError, match="`context` was given.*unconditional"):
        made.params(tf.zeros([3, D]), context=tf.zeros([3, 2]))
    with pytest.raises(ValueError, match="floating-point"):
        made.params(tf.zeros([3, D], tf.int32))
    cmade = _made(context_size=2)
    with pytest.raises(ValueError, match="`context` is required.*context_size=2"):
        cmade.params(tf.zeros([3, D]))
    with pytest.raises(
        ValueError, match=r"`context` must have shape \[\.\.\., 2\].*\[3, 4\]"
    ):
        cmade.params(tf.zeros([3, D]), context=tf.zeros([3, 4]))
    with pytest.raises(ValueError, match=r"batch shape of `inputs`.*\[4, 2\]"):
        cmade.params(tf.zeros([3, D]), context=tf.zeros([4, 2]))
    # A context may broadcast to the inputs' batch, never enlarge it.
    with pytest.raises(ValueError, match=r"broadcasts to the batch shape.*\[2, 3, 2\]"):
        cmade.params(tf.zeros([3, D]), context=tf.zeros([2, 3, 2]))
    with pytest.raises(ValueError, match=r"`index` must be in 0..0"):
        made.set_mask_index(1)


def test_context_broadcasts_over_leading_dims():
    """A `[N, C]` context serves inputs `[S, N, D]` (e.g. S posterior samples
    per encoder output), in `params` and in the sequential `solve`, under XLA."""
    made = _made(context_size=2, hidden_units=[16], output_initializer="glorot_uniform")
    rng = np.random.RandomState(0)
    x = tf.constant(rng.normal(size=(3, 4, D)), tf.float32)
    c = tf.constant(rng.normal(size=(4, 2)), tf.float32)
    tiled = tf.broadcast_to(c, [3, 4, 2])
    expected = made.params(x, context=tiled)
    got = tf.function(lambda x, c: made.params(x, context=c), jit_compile=True)(x, c)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # Middle-dim broadcasting ([3, 1, C]) too.
    c31 = tf.constant(rng.normal(size=(3, 1, 2)), tf.float32)
    got = made.params(x, context=c31)
    want = made.params(x, context=tf.broadcast_to(c31, [3, 4, 2]))
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-6)

    def step(known_d, params_d):
        return known_d * tf.exp(params_d[1]) + params_d[0], params_d[1]

    w, ldj = made.solve(step, x, context=c)
    w_ref, ldj_ref = made.solve(step, x, context=tiled)
    np.testing.assert_allclose(w, w_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ldj, ldj_ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "order, conditional, hidden",
    [
        ("left-to-right", True, [16, 16]),
        ([3, 0, 4, 1, 2], True, [16, 16]),
        ("right-to-left", False, [13, 7]),  # uneven degree blocks: padding
        ([1, 4, 0, 2, 3], False, [9]),
    ],
)
def test_solve_strategies_agree(order, conditional, hidden, monkeypatch):
    """`solve` has three strategies (`solve_strategy`): by degree blocks (fixed
    masks; what 'auto' runs under XLA), whole-network passes ('auto' elsewhere
    for D <= `full_pass_up_to`) and the per-dimension incremental update. All
    give the same fixed point and the same gradients."""
    made = _made(
        context_size=2 if conditional else None,
        direct_connections=True,
        input_order=order,
        hidden_units=hidden,
        output_initializer="glorot_uniform",
    )
    assert made._degrees_fixed  # fixed masks: blocks is the default under XLA
    rng = np.random.RandomState(1)
    x = tf.constant(rng.normal(size=(3, 2, D)), tf.float32)
    c = tf.constant(rng.normal(size=(3, 2, 2)), tf.float32) if conditional else None

    def clone(**solve_options):
        # The same weights, other solve options (through the config).
        other = MADE.from_config({**made.get_config(), **solve_options})
        other.set_weights(made.get_weights())
        return other

    def step(known_d, params_d):
        log_scale = tf.tanh(params_d[1])
        return known_d * tf.exp(log_scale) + params_d[0], log_scale

    def solver(layer):
        def solve_with_grads(x, c):
            with tf.GradientTape() as tape:
                w, ldj = layer.solve(step, x, context=c)
                loss = tf.reduce_sum(w**2) + tf.reduce_sum(ldj)
            grads = tape.gradient(loss, layer.trainable_weights)
            return w, ldj, [tf.convert_to_tensor(g) for g in grads]

        return solve_with_grads

    def xla(layer):
        return tf.function(solver(layer), jit_compile=True)

    block_calls = []
    solve_blocks = made_solve._solve_blocks
    monkeypatch.setattr(
        made_solve,
        "_solve_blocks",
        lambda *a: block_calls.append(1) or solve_blocks(*a),
    )
    # 'auto' under XLA: the block strategy, unrolled (static slices) and as a
    # while loop.
    results = {"blocks": xla(clone(unroll_blocks_up_to=64))(x, c)}
    results["blocks_loop"] = xla(clone(unroll_blocks_up_to=0))(x, c)
    assert len(block_calls) == 2, "the block strategy did not run under XLA"
    results["full"] = solver(made)(x, c)  # 'auto' eagerly, D <= 16
    results["incremental"] = solver(clone(full_pass_up_to=0))(x, c)
    results["xla_incremental"] = xla(clone(solve_strategy="incremental"))(x, c)
    assert len(block_calls) == 2, "'auto' eagerly or an explicit strategy ran blocks"
    # The block strategy asked for explicitly also runs eagerly.
    results["eager_blocks"] = solver(clone(solve_strategy="blocks"))(x, c)
    assert len(block_calls) == 3
    w, ldj, _ = results["blocks"]
    assert w.shape == x.shape and ldj.shape == x.shape[:-1]
    for name in (
        "blocks_loop",
        "full",
        "incremental",
        "xla_incremental",
        "eager_blocks",
    ):
        np.testing.assert_allclose(w, results[name][0], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(ldj, results[name][1], rtol=1e-5, atol=1e-5)
        for g, g_ref in zip(results["blocks"][2], results[name][2], strict=True):
            np.testing.assert_allclose(g, g_ref, rtol=1e-4, atol=1e-4)
    # And it is the fixed point: w = step(x, params(w)).
    shift, raw = made.params(w, context=c)
    np.testing.assert_allclose(
        w, x * tf.exp(tf.tanh(raw)) + shift, rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(
        ldj, tf.reduce_sum(tf.tanh(raw), -1), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize(
    "strategy, masks_fixed, event_size, in_xla, expected",
    [
        ("auto", True, 8, True, "blocks"),
        ("auto", False, 8, True, "full"),
        ("auto", True, 16, False, "full"),
        ("auto", True, 17, False, "incremental"),
        ("auto", False, 17, True, "incremental"),
        ("blocks", True, 64, False, "blocks"),
        ("full", True, 64, True, "full"),
        ("incremental", True, 4, True, "incremental"),
    ],
)
def test_auto_strategy_is_the_former_default(
    strategy, masks_fixed, event_size, in_xla, expected
):
    # 'auto' = blocks under XLA with fixed masks, else full passes up to
    # `full_pass_up_to` (16), else the incremental update.
    chosen = made_solve.choose_strategy(
        strategy,
        masks_fixed=masks_fixed,
        event_size=event_size,
        full_pass_up_to=16,
        in_xla=in_xla,
    )
    assert chosen == expected


def test_dynamic_update_slice_gradient_is_registered_once():
    """The block solve's in-place writes need the gradient `made_solve`
    registers for `XlaDynamicUpdateSlice`: the window of `grad` for the update,
    `grad` with the window zeroed for the operand."""
    import importlib

    from tensorflow.compiler.tf2xla.python import xla

    # Importing the solver again (a reload) must not register twice (TF
    # raises KeyError on a second registration; the module catches it).
    importlib.reload(made_solve)
    operand = tf.constant(np.arange(12.0).reshape(3, 4))
    update = tf.constant([[10.0, 20.0]], tf.float64)
    weights = tf.constant(np.arange(1.0, 13.0).reshape(3, 4))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([operand, update])
        out = xla.dynamic_update_slice(operand, update, tf.constant([1, 2]))
        loss = tf.reduce_sum(out * weights)
    d_operand, d_update = tape.gradient(loss, [operand, update])
    want = weights.numpy().copy()
    want[1, 2:4] = 0.0
    np.testing.assert_array_equal(d_operand, want)
    np.testing.assert_array_equal(d_update, [[7.0, 8.0]])
