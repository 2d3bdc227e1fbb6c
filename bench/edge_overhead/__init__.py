"""Added latency of the edge Worker in local workerd (`wrangler dev`) versus the origin directly."""
