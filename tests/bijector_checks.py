"""The registry's side of the shared bijector checks.

The checks themselves are the public `tfp_flows.testing.check_bijector`; this
module turns a `registry.Entry` (event shape, inverse, domain, weight count,
tolerance overrides) into its arguments. See STYLE.md section 5 and
`tests/test_registry.py`.
"""

import tensorflow as tf

from tfp_flows.testing import check_bijector
from tfp_flows.testing import perturb_weights

__all__ = [
    "TOL",
    "check_numerical_inverse_converges",
    "perturb_weights",
    "run_checks",
    "tol",
]

TOL = {
    tf.float32: dict(rtol=1e-4, atol=1e-4),
    tf.float64: dict(rtol=1e-9, atol=1e-9),
}

# `Entry.tolerances` kinds -> the `check_bijector` checks they tune.
_KIND_OF_CHECK = {
    "round_trip": "round_trip",
    "round_trip_far_out": "round_trip",
    "fldj_vs_ildj": "ldj",
    "ldj_shapes": "ldj",
    "eager_function_xla": "xla",
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


def run_checks(entry, dtype, bij, *checks):
    """`check_bijector` on a registry entry's bijector, for the named checks.

    The autodiff-Jacobian check (`fldj_vs_autodiff`) keeps its own fixed
    tolerance (1e-6, float64 only), as before.
    """
    tolerances = {
        name: tol(entry, dtype, kind)
        for name, kind in _KIND_OF_CHECK.items()
        if name in checks
    }
    return check_bijector(
        bij,
        entry.event_shape,
        checks=list(checks),
        dtype=dtype,
        has_inverse=entry.has_inverse,
        num_weights=entry.num_weights,
        input_fn=entry.input_fn,
        tolerances=tolerances,
        context_shape=entry.context_shape,
        far_out_scales=entry.far_out_scales,
    )


def check_numerical_inverse_converges(entry, dtype, bij):
    """An iterative inverse reaches float resolution far out too.

    For `entry.inverse_is_numerical`: the round trip on 64 inputs at scales
    1, 10, 100 and 1000 (the far tails, where a Newton/bisection iteration with
    a fixed budget or a bad bracket stops early or diverges), to the exact
    round-trip tolerance relative to each input's size.
    """
    assert entry.inverse_is_numerical, entry.name
    run_checks(entry, dtype, bij, "round_trip_far_out")
