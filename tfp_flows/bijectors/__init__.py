"""tfp_flows.bijectors."""
