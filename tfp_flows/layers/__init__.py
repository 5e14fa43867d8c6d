"""Keras 3 layers a user puts in a model."""

from tfp_flows.layers.flow_layers import ActNormInitializer
from tfp_flows.layers.flow_layers import FlowLogProb
from tfp_flows.layers.flow_layers import FlowModel
from tfp_flows.layers.iaf_posterior import DiagonalGaussianPosterior
from tfp_flows.layers.iaf_posterior import FlowPosterior
from tfp_flows.layers.iaf_posterior import IAFPosterior
from tfp_flows.layers.iaf_posterior import PlanarPosterior
from tfp_flows.layers.flow_layers import FlowSample
from tfp_flows.layers.flow_layers import export_saved_model
from tfp_flows.layers.flow_layers import load_flow_model
from tfp_flows.layers.flow_layers import negative_log_likelihood
from tfp_flows.layers.masked_conv import MaskedConv2D
from tfp_flows.layers.pixel_rnn import DiagonalBiLSTM
from tfp_flows.layers.pixel_rnn import PixelRNN
from tfp_flows.layers.pixel_rnn import RowLSTM


__all__ = [
    "ActNormInitializer",
    "FlowLogProb",
    "FlowModel",
    "DiagonalGaussianPosterior",
    "FlowPosterior",
    "IAFPosterior",
    "PlanarPosterior",
    "FlowSample",
    "export_saved_model",
    "load_flow_model",
    "negative_log_likelihood",
    "DiagonalBiLSTM",
    "MaskedConv2D",
    "PixelRNN",
    "RowLSTM",
]
