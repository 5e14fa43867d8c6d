"""The one context check (`tfp_flows.internal.conditioning`), case by case."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tfp_flows.internal.conditioning import check_context
from tfp_flows.internal.conditioning import check_context_size
from tfp_flows.internal.conditioning import check_finite_context
from tfp_flows.internal.conditioning import check_network_context
from tfp_flows.internal.conditioning import check_no_context
from tfp_flows.internal.conditioning import context_dtype_of
from tfp_flows.internal.conditioning import context_shape_of


def test_flow_form_rejects_integer_and_other_float_dtypes():
    for dtype in (tf.int32, tf.float64):
        with pytest.raises(ValueError, match=r"Owner: argument `context`.*tf\.cast"):
            check_context(tf.zeros([2, 3], dtype), [3], tf.float32, "Owner")
    out = check_context(np.zeros([2, 3]), [3], tf.float32, "Owner")
    assert out.dtype == tf.float32


def test_cast_form_casts_integer_labels_and_rejects_bool_and_strings():
    labels = np.eye(3, dtype="int32")
    out = check_context(labels, [3], tf.float32, "Owner", cast=True)
    assert out.dtype == tf.float32
    np.testing.assert_array_equal(out.numpy(), np.eye(3))
    for bad in (tf.zeros([2, 3], tf.bool), tf.constant([["a", "b", "c"]])):
        with pytest.raises(
            ValueError,
            match=r"`context` must be a real tensor.*one_hot\(labels, 3\).*got dtype",
        ):
            check_context(bad, [3], tf.float32, "Owner", cast=True)


def test_event_shape_and_batch_broadcast_name_both_arguments():
    with pytest.raises(
        ValueError, match=r"must have shape \[\.\.\., 3\]; got shape \[2, 4\]"
    ):
        check_context(tf.zeros([2, 4]), [3], tf.float32, "Owner")
    with pytest.raises(
        ValueError,
        match=r"`context` has batch shape \[4\] \(shape \[4, 3\]\).*\[5\] of `y`",
    ):
        check_context(
            tf.zeros([4, 3]), [3], tf.float32, "O", batch_shape=[5], values_name="y"
        )
    # Broadcasting batches pass.
    check_context(tf.zeros([1, 3]), [3], tf.float32, "O", batch_shape=[5])
    check_context(tf.zeros([3]), [3], tf.float32, "O", batch_shape=[5])


def test_missing_context_names_the_size():
    with pytest.raises(
        ValueError,
        match=r"`context` is required: this model is conditional "
        r"\(context_size=3, context shape \[batch, 3\]\); got None",
    ):
        check_network_context(None, 3, tf.float32, "Net")


def test_network_form_needs_one_row_per_row():
    with pytest.raises(
        ValueError,
        match=r"must have shape \[batch, 3\] \(batch 4, the batch size of `images`\); "
        r"got shape \[2, 3\]",
    ):
        check_network_context(tf.zeros([2, 3]), 3, tf.float32, "Net", rows=4)
    with pytest.raises(ValueError, match=r"\[batch, 3\]; got shape \[3\]"):
        check_network_context(tf.zeros([3]), 3, tf.float32, "Net")
    out = check_network_context(np.ones([4, 3], "int64"), 3, tf.float32, "Net", rows=4)
    assert out.dtype == tf.float32 and out.shape == (4, 3)
    with pytest.raises(
        ValueError, match=r"`context` was given.*this model is unconditional"
    ):
        check_network_context(tf.zeros([4, 3]), None, tf.float32, "Net")
    assert check_network_context(None, None, tf.float32, "Net") is None
    with pytest.raises(ValueError, match=r"\[3\] or \[batch, 3\] \(batch 4"):
        check_context(
            tf.zeros([2, 3]),
            [3],
            tf.float32,
            "O",
            per_row=True,
            rows=4,
            unbatched_ok=True,
            values_name="images",
        )


def test_no_context_finite_and_size_checks():
    with pytest.raises(
        ValueError,
        match=r"O: argument `context` was given \(got shape \[2\]\), but "
        r"this WaveNet has no global condition",
    ):
        check_no_context(
            tf.zeros([2]),
            "O",
            noun="WaveNet",
            detail="has no global condition",
            hint="",
        )
    check_no_context(None, "O")
    with pytest.raises(ValueError, match=r"`context` \(shape \[1, 2\]\) contains NaN"):
        check_finite_context(tf.constant([[np.nan, 0.0]]), "O")
    assert check_context_size(None, "O") is None
    assert check_context_size(3, "O") == 3
    with pytest.raises(ValueError, match=r"`context_size`.*got 0"):
        check_context_size(0, "O")


def test_protocol_only_no_attribute_guessing():
    class OldStyle:  # context_size and condition, but not the protocol
        context_size = 3
        context = None
        dtype = tf.int32

        def condition(self, c):
            return c

    assert context_shape_of(OldStyle()) is None
    normal = tfd.Normal(0.0, 1.0)
    assert context_shape_of(normal) is None
    with pytest.raises(TypeError, match=r"`flow` must be a conditional family.*Normal"):
        context_dtype_of(normal)
