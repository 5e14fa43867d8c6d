"""tfp_flows.flows."""

from tfp_flows.flows.autoregressive import ConditionalFlow
from tfp_flows.flows.autoregressive import iaf
from tfp_flows.flows.autoregressive import maf
from tfp_flows.flows.autoregressive import mask_ensemble_log_prob

__all__ = ["ConditionalFlow", "iaf", "maf", "mask_ensemble_log_prob"]
