"""tfp_flows.flows."""
