"""tfp_flows.nn."""

from tfp_flows.nn.made import MADE

__all__ = ["MADE"]
