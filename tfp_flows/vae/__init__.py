"""Variational autoencoders with flow posteriors."""

from tfp_flows.vae.model import VAE  # noqa: I001
from tfp_flows.vae.model import make_posterior

__all__ = ["VAE", "make_posterior"]
