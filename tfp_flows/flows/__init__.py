"""Builders. All these functions return a `tfd.TransformedDistribution`.

(Precisely TFP's class with checked arguments: `log_prob` rejects integer
data and values of the wrong event shape, `sample` a negative or non-integer
count, and every method a `context=` the flow cannot use, each with an error
naming the argument; see `tfp_flows.internal.flow_distribution`.)
"""

from tfp_flows.flows.act_norm_init import initialize_act_norms
from tfp_flows.flows.act_norm_init import replica_sum
from tfp_flows.flows.autoregressive import iaf
from tfp_flows.flows.autoregressive import maf
from tfp_flows.flows.autoregressive import mask_ensemble_log_prob
from tfp_flows.flows.conditional import ConditionalFlow
from tfp_flows.flows.continuous import ffjord
from tfp_flows.flows.coupling import coupling_flow
from tfp_flows.flows.glow import glow
from tfp_flows.flows.glow import realnvp
from tfp_flows.flows.glow import sample_with_temperature
from tfp_flows.flows.vi import fit_reverse_kl
from tfp_flows.flows.vi import householder_flow
from tfp_flows.flows.vi import planar_flow
from tfp_flows.flows.vi import radial_flow
from tfp_flows.flows.vi import sylvester_flow

__all__ = [
    "ConditionalFlow",
    "iaf",
    "maf",
    "mask_ensemble_log_prob",
    "coupling_flow",
    "ffjord",
    "glow",
    "initialize_act_norms",
    "replica_sum",
    "realnvp",
    "sample_with_temperature",
    "fit_reverse_kl",
    "householder_flow",
    "planar_flow",
    "radial_flow",
    "sylvester_flow",
]
