"""Cloudflare-side names, all derived from tenant + environment so stacks never collide.

A stack is one tenant in one environment. When config does not name them, the stack name
does: `acme-prod` is tenant `acme`, environment `prod` (split at the last hyphen, so
`big-co-prod` is tenant `big-co`); a stack name without a hyphen (`dev`) is the
environment of the tenant `default`.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_TENANT = "default"
PREFIX = "edgeagent"


def split_stack_name(stack: str) -> tuple[str, str]:
    """Default (tenant, environment) for a stack name, e.g. `acme-prod` -> (`acme`, `prod`)."""
    short = stack.rsplit("/", 1)[-1]
    tenant, sep, environment = short.rpartition("-")
    if not sep or not tenant:
        return DEFAULT_TENANT, short
    return tenant, environment


@dataclass(frozen=True, slots=True)
class Names:
    """Every name this stack gives a Cloudflare object, unique per (tenant, environment)."""

    tenant: str
    environment: str

    @property
    def base(self) -> str:
        """`edgeagent-<tenant>-<env>`: the worker, bucket and gateway name (<= 63 chars)."""
        return f"{PREFIX}-{self.tenant}-{self.environment}"

    @property
    def worker(self) -> str:
        return self.base

    @property
    def bucket(self) -> str:
        return self.base

    @property
    def gateway(self) -> str:
        return self.base

    def token(self, role: str) -> str:
        """Human-readable API token name, e.g. `edgeagent acme/prod state`."""
        return f"{PREFIX} {self.tenant}/{self.environment} {role}"

    def access(self, role: str) -> str:
        """Access application / policy / service token name."""
        return f"{PREFIX} {self.tenant}/{self.environment} {role}"
