"""tfp_flows.distributions."""

from tfp_flows.distributions.gated_pixel_cnn import GatedPixelCNNDistribution
from tfp_flows.distributions.gated_pixel_cnn import gated_pixel_cnn
from tfp_flows.distributions.pixel_rnn import AutoregressiveImageDistribution
from tfp_flows.distributions.pixel_rnn import PixelRNNDistribution
from tfp_flows.distributions.pixel_rnn import pixel_rnn
from tfp_flows.distributions.wavenet import WaveNetDistribution
from tfp_flows.distributions.wavenet import discretized_logistic_mixture_log_prob
from tfp_flows.distributions.wavenet import wavenet

__all__ = [
    "AutoregressiveImageDistribution",
    "GatedPixelCNNDistribution",
    "PixelRNNDistribution",
    "gated_pixel_cnn",
    "pixel_rnn",
    "WaveNetDistribution",
    "discretized_logistic_mixture_log_prob",
    "wavenet",
]
