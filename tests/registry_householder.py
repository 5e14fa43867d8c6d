"""Registry entries of the Householder flow (Tomczak & Welling 2016).

The plain bijector owns its vectors (one Keras weight `[K, D]`); the
amortized one is given its vectors (no weights of its own), here one set
`[K, D]` shared by every batch member, so that the shared checks' various
batch shapes broadcast against it. Per-example vectors `[B, K, D]` go through
`check_bijector` in `tests/test_householder.py` (the checks whose inputs have
batch shape `[B]`).
"""

import numpy as np
import tensorflow as tf

from tests.registry import Entry
from tfp_flows.bijectors.householder import Householder


def _vectors(dtype, shape):
    rng = np.random.RandomState(7)
    return tf.constant(rng.normal(size=shape), dtype=dtype)


ENTRIES = [
    Entry(
        "householder",
        lambda dt: Householder(4, 3, seed=1, dtype=dt),
        (4,),
        num_weights=1,
        perturb=0.3,
    ),
    Entry(
        "householder_more_reflections_than_dims",
        lambda dt: Householder(2, 5, seed=2, dtype=dt),
        (2,),
        num_weights=1,
        perturb=0.3,
        slow=True,  # the same code as "householder"; K > D only
    ),
    Entry(
        "householder_given_vectors",
        lambda dt: Householder(4, 3, vectors=_vectors(dt, [3, 4]), dtype=dt),
        (4,),
        num_weights=0,
    ),
]
