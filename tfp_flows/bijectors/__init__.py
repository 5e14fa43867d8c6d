"""tfp_flows.bijectors."""

from tfp_flows.bijectors.maf import IAF
from tfp_flows.bijectors.maf import MAF

__all__ = ["IAF", "MAF"]
