"""`tfp_flows.testing.check_bijector`: passes a correct user bijector, and
catches broken ones with messages that name the check, the values and the
tolerance."""

import re

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows.bijectors import FusedBijector
from tfp_flows.internal.keras import keras
from tfp_flows.testing import CHECKS
from tfp_flows.testing import check_bijector
from tfp_flows.testing import perturb_weights


class _Weights(keras.layers.Layer):
    def __init__(self, size, unused=False, **kwargs):
        super().__init__(**kwargs)
        self.shift = self.add_weight(shape=(size,), initializer="zeros", name="shift")
        self.log_scale = self.add_weight(
            shape=(size,), initializer="zeros", name="log_scale"
        )
        if unused:
            self.unused = self.add_weight(shape=(), initializer="zeros", name="unused")
        self.built = True


class Affine(FusedBijector):
    """`y = x * exp(log_scale) + shift` on vectors, optionally broken."""

    def __init__(self, size, *, bug=None, dtype="float64", track=True, name=None):
        parameters = dict(locals())
        with tf.name_scope(name or "affine") as name:
            super().__init__(
                forward_min_event_ndims=1, parameters=parameters, name=name
            )
            self.bug = bug
            self.layer = _Weights(size, unused=bug == "unused_weight", dtype=dtype)
            if track:
                self.track_keras_layer(self.layer)

    def _forward_and_log_det(self, x):
        s, b = self.layer.log_scale, self.layer.shift
        y = x * tf.exp(s) + b
        ldj = tf.zeros_like(x[..., 0]) + tf.reduce_sum(s)
        if self.bug == "fldj_off":
            ldj = ldj + 1.0
        if self.bug == "both_ldj_doubled":
            ldj = 2.0 * ldj
        if self.bug == "scalar_ldj":
            ldj = tf.reduce_sum(s)
        if self.bug == "eager_only" and tf.executing_eagerly():
            y = y + 0.5
        return y, ldj

    def _inverse_and_log_det(self, y):
        s, b = self.layer.log_scale, self.layer.shift
        if self.bug == "no_inverse":
            raise NotImplementedError("Affine: no inverse written yet")
        x = (y - b) * tf.exp(-s)
        if self.bug == "not_inverse":
            x = (y - b) * tf.exp(s)
        ldj = tf.zeros_like(y[..., 0]) - tf.reduce_sum(s)
        if self.bug == "both_ldj_doubled":
            ldj = 2.0 * ldj
        if self.bug == "scalar_ldj":
            ldj = -tf.reduce_sum(s)
        return x, ldj


def _affine(bug=None, **kwargs):
    bij = Affine(3, bug=bug, **kwargs)
    perturb_weights(bij, 0.5)
    return bij


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_correct_bijector_passes_every_check(dtype):
    bij = _affine(dtype=dtype)
    assert check_bijector(bij, [3]) == list(CHECKS)
    # Extra event dims: the same bijector on [2, 3] events.
    assert check_bijector(bij, [2, 3], checks=["ldj_shapes", "fldj_vs_autodiff"])


def _fails(bij, check, *patterns, **kwargs):
    """check_bijector(bij, [3], checks=[check]) raises; the message matches."""
    with pytest.raises(AssertionError) as info:
        check_bijector(bij, [3], checks=[check], **kwargs)
    message = str(info.value)
    assert message.startswith(
        f"check_bijector: check '{check}' failed for Affine 'affine'"
    ), message
    for p in patterns:
        assert re.search(p, message), (p, message)
    return info.value


def test_a_wrong_forward_log_det_fails_fldj_vs_ildj():
    _fails(
        _affine("fldj_off"),
        "fldj_vs_ildj",
        re.escape("forward_log_det_jacobian(x) != -inverse_log_det_jacobian"),
        r"3 of 3 values differ",
        r"rtol=1e-09, atol=1e-09",
        r"\|difference\|=1\b",
        r"fldj: \[",
        r"-ildj: \[",
    )


def test_a_log_det_wrong_in_both_directions_fails_the_autodiff_jacobian():
    bij = _affine("both_ldj_doubled")
    check_bijector(bij, [3], checks=["fldj_vs_ildj"])  # consistent: not caught
    _fails(
        bij,
        "fldj_vs_autodiff",
        re.escape("!= log|det| of the autodiff Jacobian"),
        r"rtol=1e-06, atol=1e-06",
        r"slogdet\(jacobian\)=",
    )


def test_a_non_inverse_fails_the_round_trip():
    _fails(
        _affine("not_inverse"),
        "round_trip",
        re.escape("inverse(forward(x)) != x"),
        r"of 9 values differ",
        r"worst at index \(\d, \d\)",
    )


def test_a_weight_without_gradient_fails_gradients():
    _fails(
        _affine("unused_weight"),
        "gradients",
        r"no gradient reaches the trainable variable '.*unused.*' \(shape \[\]\)",
        r"does not use it",
    )


def test_untracked_keras_weights_and_wrong_counts_fail_gradients():
    _fails(
        Affine(3, track=False),
        "gradients",
        r"lists no trainable variables",
        r"track_keras_layer",
    )
    _fails(
        _affine(),
        "gradients",
        r"expected 3 trainable variables, got 2",
        num_weights=3,
    )
    # A parameter-free bijector passes with num_weights=0.
    assert check_bijector(tfp.bijectors.Exp(), [3], checks=["gradients"], num_weights=0)


def test_a_log_det_without_batch_shape_fails_ldj_shapes():
    _fails(
        _affine("scalar_ldj"),
        "ldj_shapes",
        re.escape("forward_log_det_jacobian(x, event_ndims=1) for batch shape"),
        re.escape("has shape []; expected [2, 3]"),
    )


def test_eager_only_behaviour_fails_eager_function_xla():
    _fails(
        _affine("eager_only"),
        "eager_function_xla",
        re.escape("forward(x) under tf.function != eager"),
        r"\|difference\|=0.5\b",
        r"rtol=1e-09",
    )


def test_an_exception_in_a_check_is_reported_with_the_check():
    error = _fails(
        _affine("no_inverse"),
        "round_trip",
        r"raised NotImplementedError: Affine: no inverse written yet",
    )
    assert isinstance(error.__cause__, NotImplementedError)
    # has_inverse=False skips the inverse checks by default.
    assert "round_trip" not in check_bijector(
        _affine("no_inverse"), [3], has_inverse=False, checks=["ldj_shapes"]
    )


def test_tolerances_loosen_a_check():
    bij = _affine("fldj_off")
    assert check_bijector(
        bij, [3], checks=["fldj_vs_ildj"], tolerances={"fldj_vs_ildj": {"atol": 1.5}}
    ) == ["fldj_vs_ildj"]
    _fails(bij, "fldj_vs_ildj", r"rtol=0.1, atol=0.1", rtol=0.1, atol=0.1)


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        ((object(), [3]), {}, TypeError, "must be a tfb.Bijector"),
        ((None, 3), {}, ValueError, r"`event_shape` must be a sequence"),
        ((None, [3, 0]), {}, ValueError, r"`event_shape` must be a sequence"),
        ((None, [3]), dict(checks=["roundtrip"]), ValueError, r"unknown names"),
        (
            (None, [3]),
            dict(checks=["round_trip"], has_inverse=False),
            ValueError,
            r"need an inverse",
        ),
        ((None, [3]), dict(dtype=tf.int32), ValueError, r"floating dtype"),
        ((None, [3]), dict(num_weights=-1), ValueError, r"`num_weights`"),
        (
            (None, [3]),
            dict(tolerances={"xla": {"rtol": 1.0}}),
            ValueError,
            r"`tolerances` has unknown check names \['xla'\]",
        ),
        (
            (None, [3]),
            dict(tolerances={"round_trip": {"rel": 1.0}}),
            ValueError,
            r"keys 'rtol' and/or 'atol'",
        ),
    ],
)
def test_bad_arguments(args, kwargs, error, match):
    bij = args[0] if args[0] is not None else _affine()
    with pytest.raises(error, match=match):
        check_bijector(bij, args[1], **kwargs)


def test_perturb_weights_moves_every_trainable_weight():
    bij = Affine(3)
    before = [np.asarray(v) for v in bij.trainable_variables]
    perturb_weights(bij, 0.1, seed=1)
    for b, v in zip(before, bij.trainable_variables, strict=True):
        assert np.all(np.asarray(v) != b)


# -- conditional bijectors (issue #14) ------------------------------------------
def test_a_conditional_coupling_passes_every_check_with_its_context():
    from tfp_flows.bijectors import AffineCoupling

    bij = AffineCoupling(
        4, event_ndims=1, hidden_units=4, context_shape=(2,), seed=0, dtype=tf.float64
    )
    perturb_weights(bij, 0.3)
    assert check_bijector(bij, [4], context_shape=[2]) == list(CHECKS)


def test_a_bound_but_unused_context_fails_the_gradient_check():
    from tfp_flows.bijectors import AffineCoupling

    class IgnoresContext(AffineCoupling):
        def _call_network(self, flat, ctx=None):
            # The context's values never reach the network: zeros instead.
            return super()._call_network(
                flat, None if ctx is None else tf.zeros_like(ctx)
            )

    bij = IgnoresContext(4, event_ndims=1, hidden_units=4, context_shape=(2,), seed=0)
    perturb_weights(bij, 0.3)
    with pytest.raises(AssertionError, match=r"do not depend on the bound context"):
        check_bijector(bij, [4], checks=["gradients"], context_shape=[2])


def test_context_shape_for_a_bijector_without_with_context_raises():
    with pytest.raises(TypeError, match=r"has no `with_context` method"):
        check_bijector(tfp.bijectors.Exp(), [2], context_shape=[3])
    from tfp_flows.bijectors import AffineCoupling

    bij = AffineCoupling(4, event_ndims=1, hidden_units=4, context_shape=(2,))
    with pytest.raises(ValueError, match=r"`context_shape` must be a sequence"):
        check_bijector(bij, [4], context_shape=[0])
