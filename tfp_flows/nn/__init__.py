"""Keras 3 networks that live inside a bijector or a distribution.

MADE (the MAF/IAF conditioner), the PixelRNN network and its LSTM layers,
the Gated PixelCNN, and the masked convolution they are built from.
"""

from tfp_flows.nn.gated_pixel_cnn import GatedPixelCNN
from tfp_flows.nn.made import MADE
from tfp_flows.nn.masked_conv import MaskedConv2D
from tfp_flows.nn.pixel_rnn import DiagonalBiLSTM
from tfp_flows.nn.pixel_rnn import PixelRNN
from tfp_flows.nn.pixel_rnn import RowLSTM
from tfp_flows.nn.wavenet import CausalConv1D
from tfp_flows.nn.wavenet import WaveNet
from tfp_flows.nn.wavenet import WaveNetResidualBlock

__all__ = [
    "MADE",
    "DiagonalBiLSTM",
    "GatedPixelCNN",
    "MaskedConv2D",
    "PixelRNN",
    "RowLSTM",
    "CausalConv1D",
    "WaveNet",
    "WaveNetResidualBlock",
]
