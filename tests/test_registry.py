"""Every registered bijector through every shared check, float32 and float64.

The checks are the public `tfp_flows.testing.check_bijector`, one check per
test (through `bijector_checks.run_checks`) so that a failure names it.
"""

import importlib
import pathlib
import zlib

import pytest
import tensorflow as tf

from tests import bijector_checks as checks
from tests import registry
from tests.registry import all_entries
from tfp_flows.internal.keras import keras

# A registry module that fails to import raises here: a collection error.
ENTRIES = all_entries()

# Listed by hand: a module dropped from `registry._ENTRY_MODULES`, or a new
# `registry_*.py` file not added there, fails `test_every_registry_module_*`.
EXPECTED_MODULES = [
    "tests.registry_autoregressive",
    "tests.registry_conditional",
    "tests.registry_ffjord",
    "tests.registry_glow",
    "tests.registry_householder",
    "tests.registry_vi",
]
# The entries whose inverse is an iterative solve (planar tanh, Sylvester).
NUMERICAL_INVERSES = {
    "planar_tanh",
    "planar_amortized_context",
    "sylvester_householder",
    "sylvester_amortized_context",
    "maf_sigmoidal",
    "iaf_sigmoidal_two_layers_conditional",
    "maf_dense_sigmoidal_direct",
    "iaf_dense_sigmoidal_stack",
}

# (check_bijector check, needs an inverse); `fldj_vs_autodiff` runs in
# float64 only, below.
CHECKS = [
    ("round_trip", True),
    ("fldj_vs_ildj", True),
    ("ldj_shapes", False),
    ("gradients", False),
    ("eager_function_xla", False),
]


def _params():
    params = []
    for e in ENTRIES:
        marks = [pytest.mark.slow] if e.slow else []
        for dtype in (tf.float32, tf.float64):
            params.append(
                pytest.param(e, dtype, id=f"{e.name}-{dtype.name}", marks=marks)
            )
    return params


_BUILT = {}


def _bijector(entry, dtype):
    """One perturbed bijector per (entry, dtype), shared by the checks.

    Built under a seed of its own: unseeded Keras initializers (e.g. MADE's
    hidden kernels) draw from Keras' global generator, which Python's unseeded
    `random` seeds, so without it the weights differed from run to run and
    with test order (a float64 `maf_conditional` once drew all-dead ReLU
    units: a zero gradient, a failure no rerun reproduced).
    """
    key = (entry.name, dtype)
    if key not in _BUILT:
        keras.utils.set_random_seed(zlib.crc32(f"{entry.name}-{dtype.name}".encode()))
        bij = entry.factory(dtype)
        checks.perturb_weights(bij, entry.perturb)
        _BUILT[key] = bij
    return _BUILT[key]


@pytest.mark.parametrize("entry,dtype", _params())
@pytest.mark.parametrize("check", [c[0] for c in CHECKS])
def test_bijector(entry, dtype, check):
    if dict(CHECKS)[check] and not entry.has_inverse:
        pytest.skip("no inverse")
    assert checks.run_checks(entry, dtype, _bijector(entry, dtype), check) == [check]


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param(e, id=e.name, marks=[pytest.mark.slow] if e.slow else [])
        for e in ENTRIES
    ],
)
def test_fldj_matches_autodiff_jacobian_float64(entry):
    bij = _bijector(entry, tf.float64)
    assert checks.run_checks(entry, tf.float64, bij, "fldj_vs_autodiff") == [
        "fldj_vs_autodiff"
    ]


def test_every_registry_module_is_listed_and_contributes_its_entries():
    assert sorted(registry._ENTRY_MODULES) == EXPECTED_MODULES
    files = sorted(pathlib.Path(__file__).parent.glob("registry_*.py"))
    assert [f"tests.{f.stem}" for f in files] == EXPECTED_MODULES
    names = [e.name for e in ENTRIES]
    for module_name in EXPECTED_MODULES:
        module_entries = importlib.import_module(module_name).ENTRIES
        assert module_entries, f"{module_name} has no entries"
        for e in module_entries:
            assert names.count(e.name) == 1, (module_name, e.name)
    assert len(names) == sum(
        len(importlib.import_module(m).ENTRIES) for m in EXPECTED_MODULES
    )


def test_inverse_is_numerical_marks_exactly_the_iterative_inverses():
    # The flag selects `test_numerical_inverse_converges_far_out`; it must be
    # set on every iterative inverse and only there.
    numerical = {e.name for e in ENTRIES if e.inverse_is_numerical}
    assert numerical == NUMERICAL_INVERSES
    assert all(e.has_inverse for e in ENTRIES if e.inverse_is_numerical)


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64], ids=lambda d: d.name)
@pytest.mark.parametrize(
    "entry",
    [
        pytest.param(e, id=e.name, marks=[pytest.mark.slow] if e.slow else [])
        for e in ENTRIES
        if e.inverse_is_numerical
    ],
)
def test_numerical_inverse_converges_far_out(entry, dtype):
    checks.check_numerical_inverse_converges(entry, dtype, _bijector(entry, dtype))
