"""Contracts shared by infra/, agent/edge and agent/runtime, each declared once."""
