"""What edgeagent deploys: the edge Worker (agent/edge) and the container runtime."""
