"""tfp_flows.nn."""
