"""Pulumi dynamic providers for Cloudflare APIs the provider lacks."""
