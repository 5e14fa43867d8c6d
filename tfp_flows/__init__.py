"""tfp_flows: normalizing flows and autoregressive image models for TFP.

Every trainable number is a Keras 3 weight, so flows train with `model.fit`,
and every flow is a `tfd.TransformedDistribution` whose `log_prob` compiles
under XLA.
"""

__version__ = "0.1.0"

from tfp_flows import bijectors  # noqa: E402,F401
from tfp_flows import data  # noqa: E402,F401
from tfp_flows import distributions  # noqa: E402,F401
from tfp_flows import flows  # noqa: E402,F401
from tfp_flows import layers  # noqa: E402,F401
from tfp_flows import nn  # noqa: E402,F401
from tfp_flows import saving  # noqa: E402,F401
from tfp_flows import vae  # noqa: E402,F401

__all__ = [
    "bijectors",
    "data",
    "distributions",
    "flows",
    "layers",
    "nn",
    "saving",
    "vae",
    "__version__",
]
