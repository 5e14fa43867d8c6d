"""Bijectors: `tfb.Bijector` subclasses whose parameters are Keras 3 weights.

`FusedBijector` is their base class: subclass it for your own bijector
(`docs/extending.md`) and check it with `tfp_flows.testing.check_bijector`.
"""

from tfp_flows.bijectors.act_norm import ActNorm
from tfp_flows.bijectors.affine_coupling import AdditiveCoupling
from tfp_flows.bijectors.affine_coupling import AffineCoupling
from tfp_flows.bijectors.base import ContextBijector
from tfp_flows.bijectors.base import FusedBijector
from tfp_flows.bijectors.ffjord import FFJORD
from tfp_flows.bijectors.glow_step import GlowStep
from tfp_flows.bijectors.glow_steps import GlowSteps
from tfp_flows.bijectors.householder import Householder
from tfp_flows.bijectors.invertible_1x1_conv import Invertible1x1Conv
from tfp_flows.bijectors.maf import IAF
from tfp_flows.bijectors.maf import MAF
from tfp_flows.bijectors.multi_scale import Level
from tfp_flows.bijectors.multi_scale import MultiScale
from tfp_flows.bijectors.planar import PlanarFlow
from tfp_flows.bijectors.radial import RadialFlow
from tfp_flows.bijectors.spline_coupling import SplineCoupling
from tfp_flows.bijectors.squeeze import Squeeze
from tfp_flows.bijectors.sylvester import SylvesterFlow

__all__ = [
    "ActNorm",
    "AdditiveCoupling",
    "AffineCoupling",
    "ContextBijector",
    "FFJORD",
    "FusedBijector",
    "GlowStep",
    "GlowSteps",
    "Householder",
    "IAF",
    "Invertible1x1Conv",
    "Level",
    "MAF",
    "MultiScale",
    "PlanarFlow",
    "RadialFlow",
    "SplineCoupling",
    "Squeeze",
    "SylvesterFlow",
]
