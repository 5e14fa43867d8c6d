"""Small shipped data sets and helpers (no downloads)."""

from tfp_flows.data.digits import bits_per_dim
from tfp_flows.data.digits import dequantize
from tfp_flows.data.digits import load_digits

__all__ = ["bits_per_dim", "dequantize", "load_digits"]
