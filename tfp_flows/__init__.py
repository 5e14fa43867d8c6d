"""tfp_flows: normalizing flows and autoregressive image models for TFP.

Every trainable number is a Keras 3 weight, so flows train with `model.fit`,
and every flow is a `tfd.TransformedDistribution` whose `log_prob` compiles
under XLA.
"""

__version__ = "0.1.0"

from tfp_flows import (
    bijectors,  # noqa: E402,F401
    data,  # noqa: E402,F401
    distributions,  # noqa: E402,F401
    flows,  # noqa: E402,F401
    layers,  # noqa: E402,F401
    nn,  # noqa: E402,F401
    saving,  # noqa: E402,F401
    vae,  # noqa: E402,F401
)

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
