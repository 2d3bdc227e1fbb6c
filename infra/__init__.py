"""edgeagent: the Pulumi program that declares the Cloudflare stack."""
