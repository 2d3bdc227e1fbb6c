"""Cloudflare resources, one ComponentResource per concern."""
