"""Checks for bijectors: run `check_bijector` on your own.

`check_bijector` runs the checks every bijector of this package passes
(round trip, log-det consistency and against the autodiff Jacobian, log-det
shapes, gradients to every weight, eager vs `tf.function` vs XLA); see
`docs/extending.md` for writing a bijector on `tfp_flows.bijectors.FusedBijector`.
"""

from tfp_flows.testing.bijectors import CHECKS
from tfp_flows.testing.bijectors import OPTIONAL_CHECKS
from tfp_flows.testing.bijectors import check_bijector
from tfp_flows.testing.bijectors import perturb_weights

__all__ = [
    "CHECKS",
    "OPTIONAL_CHECKS",
    "check_bijector",
    "perturb_weights",
]
