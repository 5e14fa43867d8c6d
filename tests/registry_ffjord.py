"""Registry entries of the continuous flow (FFJORD, Grathwohl et al. 2019).

Outside a Keras training call the bijector uses its evaluation trace (exact),
so these are checks of the exact log-det. The fixed-step RK4 entries run in
the default phase: their inverse integrates the same field backwards with the
same steps, which inverts the forward map to O(h^4) (16 steps: about 1e-8 at
these weights), hence the round-trip tolerances. The Dormand-Prince entry
(adaptive, adjoint gradients) traces an ODE solve per check, about ten times
slower: slow phase. Its round trip and log-dets agree to the solver tolerance
(1e-8 in float64, 1e-5 in float32) times the error growth along the solve.
"""

from tests.registry import Entry
from tfp_flows.bijectors.ffjord import FFJORD

# Measured (float64, perturb 0.3): RK4/16 round trip 2e-9, DP(1e-8) 1e-7.
_RK4_TOL = {
    "float64": dict(rtol=1e-6, atol=1e-6),
    "float32": dict(rtol=1e-4, atol=1e-4),
}
_DP_TOL = {
    "float64": dict(rtol=1e-5, atol=1e-5),
    "float32": dict(rtol=5e-4, atol=5e-4),
}


def _rk4(dtype, **kw):
    return FFJORD(
        2, hidden_units=(8,), solver="rk4", num_steps=16, seed=1, dtype=dtype, **kw
    )


ENTRIES = [
    Entry(
        "ffjord_rk4_concat_squash",
        lambda dt: _rk4(dt),
        (2,),
        num_weights=10,
        perturb=0.3,
        tolerances=_RK4_TOL,
    ),
    Entry(
        "ffjord_rk4_concat_context",
        lambda dt: _rk4(dt, time_conditioning="concat", context_size=3),
        (2,),
        num_weights=4,
        perturb=0.3,
        tolerances=_RK4_TOL,
        context_shape=(3,),
        slow=True,
    ),
    Entry(
        "ffjord_dopri5",
        lambda dt: FFJORD(
            2,
            hidden_units=(8,),
            rtol=1e-8 if dt.name == "float64" else 1e-6,
            atol=1e-8 if dt.name == "float64" else 1e-6,
            seed=2,
            dtype=dt,
        ),
        (2,),
        num_weights=10,
        perturb=0.3,
        tolerances=_DP_TOL,
        slow=True,
    ),
]
