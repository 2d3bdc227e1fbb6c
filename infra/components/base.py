"""What every edgeagent component shares: naming and parenting its children, and the scoped
account tokens several of them own."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi
import pulumi_cloudflare as cloudflare


class EdgeAgentComponent(pulumi.ComponentResource):
    """A ComponentResource of type `edgeagent:index:<kind>` whose children are `<name>-<role>`."""

    def __init__(self, kind: str, name: str, opts: pulumi.ResourceOptions | None) -> None:
        super().__init__(f"edgeagent:index:{kind}", name, None, opts)
        self.component_name = name

    def child(
        self, role: str, *, depends_on: Sequence[pulumi.Resource] = ()
    ) -> tuple[str, pulumi.ResourceOptions]:
        """Logical name and options for a child resource with the given role."""
        return f"{self.component_name}-{role}", pulumi.ResourceOptions(
            parent=self, depends_on=list(depends_on)
        )

    def account_token(
        self,
        role: str,
        *,
        account_id: str,
        name: str,
        permission_ids: pulumi.Output[dict[str, str]],
        permissions: Sequence[str],
        resource: str,
        depends_on: Sequence[pulumi.Resource] = (),
    ) -> cloudflare.AccountToken:
        """An account API token allowing exactly `permissions` (names in infra/permissions.py)
        on exactly `resource` (a token policy resource key: the account, or one R2 bucket).
        https://developers.cloudflare.com/fundamentals/api/how-to/create-via-api/"""
        token_name, token_opts = self.child(role, depends_on=depends_on)
        scope = json.dumps({resource: "*"})
        return cloudflare.AccountToken(
            token_name,
            account_id=account_id,
            name=name,
            policies=permission_ids.apply(
                lambda ids: [
                    {
                        "effect": "allow",
                        "permission_groups": [{"id": ids[group]} for group in permissions],
                        "resources": scope,
                    }
                ]
            ),
            opts=token_opts,
        )
