"""Every registered bijector through every shared check, float32 and float64."""

import pytest
import tensorflow as tf

from tests import bijector_checks as checks
from tests.registry import all_entries

ENTRIES = all_entries()

CHECKS = [
    ("round_trip", checks.check_round_trip, True),
    ("fldj_vs_ildj", checks.check_fldj_vs_ildj, True),
    ("ldj_shapes", checks.check_ldj_shapes, False),
    ("gradients", checks.check_gradients_reach_every_weight, False),
    ("eager_function_xla", checks.check_eager_function_xla, False),
]


def _params():
    params = []
    for e in ENTRIES:
        marks = [pytest.mark.slow] if e.slow else []
        for dtype in (tf.float32, tf.float64):
            params.append(pytest.param(e, dtype, id=f"{e.name}-{dtype.name}", marks=marks))
    return params


_BUILT = {}


def _bijector(entry, dtype):
    """One perturbed bijector per (entry, dtype), shared by the checks."""
    key = (entry.name, dtype)
    if key not in _BUILT:
        bij = entry.factory(dtype)
        checks.perturb_weights(bij, entry.perturb)
        _BUILT[key] = bij
    return _BUILT[key]


@pytest.mark.parametrize("entry,dtype", _params())
@pytest.mark.parametrize("check", [c[0] for c in CHECKS])
def test_bijector(entry, dtype, check):
    fn, needs_inverse = {c[0]: (c[1], c[2]) for c in CHECKS}[check]
    if needs_inverse and not entry.has_inverse:
        pytest.skip("no inverse")
    fn(entry, dtype, _bijector(entry, dtype))


@pytest.mark.parametrize(
    "entry",
    [pytest.param(e, id=e.name, marks=[pytest.mark.slow] if e.slow else []) for e in ENTRIES],
)
def test_fldj_matches_autodiff_jacobian_float64(entry):
    checks.check_fldj_vs_autodiff(entry, tf.float64, _bijector(entry, tf.float64))
