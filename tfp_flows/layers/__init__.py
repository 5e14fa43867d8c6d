"""Keras 3 layers a user puts in a model."""

from tfp_flows.layers.flow_layers import FlowLogProb
from tfp_flows.layers.flow_layers import FlowModel
from tfp_flows.layers.masked_conv import MaskedConv2D
from tfp_flows.layers.pixel_rnn import DiagonalBiLSTM
from tfp_flows.layers.pixel_rnn import PixelRNN
from tfp_flows.layers.pixel_rnn import RowLSTM


__all__ = [
    "FlowLogProb",
    "FlowModel",
    "DiagonalBiLSTM",
    "MaskedConv2D",
    "PixelRNN",
    "RowLSTM",
]
