"""tfp_flows.distributions."""

from tfp_flows.distributions.pixel_rnn import PixelRNNDistribution

__all__ = ["PixelRNNDistribution"]
