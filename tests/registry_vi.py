"""Registry entries of the variational-inference flows (planar, radial, Sylvester)."""

import numpy as np

from tests.registry import Entry
from tfp_flows.bijectors.planar import PlanarFlow
from tfp_flows.bijectors.radial import RadialFlow
from tfp_flows.bijectors.sylvester import SylvesterFlow


def _context(dtype, batch=None, c=3):
    shape = [c] if batch is None else [batch, c]
    return (
        np.linspace(-1.0, 1.0, int(np.prod(shape)))
        .reshape(shape)
        .astype(dtype.as_numpy_dtype)
    )


# `inverse_is_numerical=True` (Newton/bisection inverses) adds the round trip
# far out in the tails (`bijector_checks.check_numerical_inverse_converges`);
# the tolerances are the exact inverses' ones, which these inverses meet.

ENTRIES = [
    Entry(
        "planar_tanh",
        lambda dt: PlanarFlow(4, dtype=dt, seed=1),
        (4,),
        num_weights=3,
        inverse_is_numerical=True,
        perturb=0.5,
    ),
    Entry(
        "planar_leaky_relu",
        lambda dt: PlanarFlow(4, activation="leaky_relu", negative_slope=0.2, dtype=dt),
        (4,),
        num_weights=3,
        perturb=0.5,
    ),
    Entry(
        "planar_amortized_context",
        lambda dt: PlanarFlow(4, context_size=3, dtype=dt).with_context(_context(dt)),
        (4,),
        num_weights=2,
        inverse_is_numerical=True,
        perturb=0.5,
    ),
    Entry("radial", lambda dt: RadialFlow(4, dtype=dt, seed=2), (4,), num_weights=3),
    Entry(
        "radial_amortized_context",
        lambda dt: RadialFlow(4, context_size=3, dtype=dt).with_context(_context(dt)),
        (4,),
        num_weights=2,
    ),
    Entry(
        "sylvester_householder",
        lambda dt: SylvesterFlow(4, num_householder=3, dtype=dt, seed=3),
        (4,),
        num_weights=6,
        inverse_is_numerical=True,
        perturb=0.3,
    ),
    Entry(
        "sylvester_amortized_context",
        lambda dt: SylvesterFlow(4, context_size=3, dtype=dt).with_context(
            _context(dt)
        ),
        (4,),
        num_weights=2,
        inverse_is_numerical=True,
        perturb=0.3,
        slow=True,  # nested while loops: ~20 s of XLA compilation
    ),
]
