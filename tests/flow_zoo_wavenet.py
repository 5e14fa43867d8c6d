"""WaveNet in the Keras drop-in zoo (`tests/flow_zoo.py` imports `CASES`).

The data are mu-law levels (0..255, int32) of 32-step chunks of the shipped
speech clip; the conditional case adds chunks of a sum of sines, with a
one-hot global condition saying which signal a chunk comes from.
"""

import numpy as np
import tensorflow as tf

from tests.flow_zoo import FlowCase
from tfp_flows import data as fdata
from tfp_flows import distributions

__all__ = ["CASES"]

_LENGTH = 32


def _speech_chunks(n=96):
    q, _ = fdata.load_speech_clip(mu_law=True)
    start = 8000  # into the speech, past the leading silence
    return q[start : start + n * _LENGTH].reshape(n, _LENGTH)


def _speech():
    return tf.constant(_speech_chunks(), tf.int32)


def _speech_or_tones():
    speech = _speech_chunks(48)
    tone = fdata.sum_of_sines(48 * _LENGTH, [440.0, 1200.0], noise_std=0.01)
    tones = fdata.mu_law_encode(np.clip(tone, -1, 1)).reshape(48, _LENGTH)
    x = np.empty((96, _LENGTH), np.int32)
    x[0::2], x[1::2] = speech, tones  # interleaved: every batch has both
    context = np.tile(np.eye(2, dtype="float32"), (48, 1))
    return tf.constant(x), tf.constant(context)


def _make(context_size=None):
    return distributions.wavenet(
        _LENGTH,
        num_levels=256,
        residual_channels=8,
        skip_channels=16,
        dilations=[1, 2, 4],
        context_size=context_size,
        seed=1,
    )


CASES = [
    FlowCase("wavenet", _make, _speech),
    FlowCase(
        "wavenet_global_conditional",
        lambda: _make(context_size=2),
        _speech_or_tones,
        conditional=True,
    ),
]
