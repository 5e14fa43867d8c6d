"""Not public API: the old home of `FusedBijector`, kept for old imports.

The class is public as `tfp_flows.bijectors.FusedBijector`
(`tfp_flows/bijectors/base.py`); this module re-exports it unchanged.
"""

from tfp_flows.bijectors.base import FusedBijector

__all__ = ["FusedBijector"]
