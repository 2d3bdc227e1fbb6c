"""Benchmark of the agent runtime host: startup, memory, per-turn overhead, loss under kills."""
