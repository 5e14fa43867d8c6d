"""Keras 3 layers, models, callbacks and losses a user puts in a Keras workflow.

Also re-exported here, for imports written before they moved: the PixelRNN
networks and the masked convolution (defined in `tfp_flows.nn`), the VAE
posteriors (`tfp_flows.vae`), and `export_saved_model` / `load_flow_model`
(`tfp_flows.saving`).
"""

from typing import Any

from tfp_flows.layers.callbacks import ActNormInitializer
from tfp_flows.layers.callbacks import SampleGridLogger
from tfp_flows.layers.callbacks import tile_images
from tfp_flows.layers.flow_layers import FlowLogProb
from tfp_flows.layers.flow_layers import FlowSample
from tfp_flows.layers.flow_model import FlowModel
from tfp_flows.layers.losses import negative_log_likelihood
from tfp_flows.nn.masked_conv import MaskedConv2D
from tfp_flows.nn.pixel_rnn import DiagonalBiLSTM
from tfp_flows.nn.pixel_rnn import PixelRNN
from tfp_flows.nn.pixel_rnn import RowLSTM
from tfp_flows.vae.posteriors import DiagonalGaussianPosterior
from tfp_flows.vae.posteriors import FlowPosterior
from tfp_flows.vae.posteriors import IAFPosterior
from tfp_flows.vae.posteriors import PlanarPosterior

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
    "SampleGridLogger",
    "tile_images",
]

# `tfp_flows.saving` builds on these layers (it saves and serves a
# `FlowModel`), so this package must not import it at import time: the two
# names are resolved on first use (PEP 562), which keeps the import graph
# acyclic (tests/test_layout.py).
_FROM_SAVING = ("export_saved_model", "load_flow_model")


def __getattr__(name: str) -> Any:
    if name in _FROM_SAVING:
        from tfp_flows import saving

        return getattr(saving, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_FROM_SAVING))
