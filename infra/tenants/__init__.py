"""One edgeagent stack per tenant and environment, driven from `tenants.yaml`."""
