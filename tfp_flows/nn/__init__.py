"""Keras 3 networks that live inside a bijector or a distribution.

MADE (the MAF/IAF conditioner), the PixelRNN network and its LSTM layers,
and the masked convolution they are built from.
"""

from tfp_flows.nn.made import MADE
from tfp_flows.nn.masked_conv import MaskedConv2D
from tfp_flows.nn.pixel_rnn import DiagonalBiLSTM
from tfp_flows.nn.pixel_rnn import PixelRNN
from tfp_flows.nn.pixel_rnn import RowLSTM

__all__ = ["MADE", "DiagonalBiLSTM", "MaskedConv2D", "PixelRNN", "RowLSTM"]
