"""tfp_flows: normalizing flows and autoregressive image models for TFP.

Every trainable number is a Keras 3 weight, so flows train with `model.fit`,
and every flow is a `tfd.TransformedDistribution` whose `log_prob` compiles
under XLA.
"""

import importlib
import os
import sys
from typing import Any

__version__ = "0.1.0"

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

_SUBPACKAGES = tuple(n for n in __all__ if n != "__version__")


def _started_as_command() -> bool:
    """True in the `tfp-flows` command (`tfp-flows ...`, `python -m tfp_flows`).

    The command imports the subpackages only when a subcommand runs, so that
    `tfp-flows --help` and argument errors never import TensorFlow.
    """
    name = os.path.basename(sys.argv[0]) if sys.argv else ""
    if name in ("tfp-flows", "tfp-flows.exe", "tfp-flows-script.py"):
        return True
    argv = list(getattr(sys, "orig_argv", []))
    return any(
        a == "-m" and b == "tfp_flows" for a, b in zip(argv[:-1], argv[1:], strict=True)
    )


if not _started_as_command():
    # A library import: every subpackage, so `tfp_flows.flows` etc. exist and
    # every Keras class and flow builder is registered for loading files.
    from tfp_flows import bijectors  # noqa: E402,F401
    from tfp_flows import data  # noqa: E402,F401
    from tfp_flows import distributions  # noqa: E402,F401
    from tfp_flows import flows  # noqa: E402,F401
    from tfp_flows import layers  # noqa: E402,F401
    from tfp_flows import nn  # noqa: E402,F401
    from tfp_flows import saving  # noqa: E402,F401
    from tfp_flows import vae  # noqa: E402,F401


def _import_all() -> None:
    """Imports every subpackage (what a library `import tfp_flows` does)."""
    for name in _SUBPACKAGES:
        importlib.import_module(f"tfp_flows.{name}")


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:  # only reached inside the command
        return importlib.import_module(f"tfp_flows.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
