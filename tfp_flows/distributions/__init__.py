"""tfp_flows.distributions."""
