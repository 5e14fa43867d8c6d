"""tfp_flows.distributions."""

from tfp_flows.distributions.pixel_rnn import PixelRNNDistribution
from tfp_flows.distributions.pixel_rnn import pixel_rnn

__all__ = ["PixelRNNDistribution", "pixel_rnn"]
