"""tfp_flows.layers."""
