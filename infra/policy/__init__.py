"""The CrossGuard policy pack: edgeagent's promises as validators over a stack's resources."""
