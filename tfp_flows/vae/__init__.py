"""Variational autoencoders with flow posteriors."""

from tfp_flows.vae.model import VAE  # noqa: I001
from tfp_flows.vae.model import make_posterior
from tfp_flows.vae.posteriors import DiagonalGaussianPosterior
from tfp_flows.vae.posteriors import FlowPosterior
from tfp_flows.vae.posteriors import HouseholderPosterior
from tfp_flows.vae.posteriors import IAFPosterior
from tfp_flows.vae.posteriors import PlanarPosterior

__all__ = [
    "VAE",
    "make_posterior",
    "DiagonalGaussianPosterior",
    "FlowPosterior",
    "HouseholderPosterior",
    "IAFPosterior",
    "PlanarPosterior",
]
