"""Browser: a token for Browser Rendering and the CDP WebSocket URL the runtime connects to.

Owns one account token with "Browser Rendering Edit". Browser Rendering itself needs no
resource; no Worker shim is involved (the endpoint speaks CDP directly).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra import permissions
from infra.components.base import EdgeAgentComponent


@dataclass(frozen=True, kw_only=True)
class BrowserArgs:
    account_id: str
    token_name: str
    permission_ids: pulumi.Output[dict[str, str]]


def cdp_url(account_id: str) -> str:
    """Browser Rendering's CDP WebSocket endpoint for the account."""
    return (
        f"wss://api.cloudflare.com/client/v4/accounts/{account_id}"
        "/browser-rendering/devtools/browser"
    )


class Browser(EdgeAgentComponent):
    """Browser Rendering token + CDP URL for one stack."""

    cdp_url: pulumi.Output[str]
    token: pulumi.Output[str]

    def __init__(self, name: str, args: BrowserArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("Browser", name, opts)
        token = self.account_token(
            "token",
            account_id=args.account_id,
            name=args.token_name,
            permission_ids=args.permission_ids,
            permissions=[permissions.BROWSER_RENDERING_EDIT],
            resource=permissions.account_resource(args.account_id),
        )
        self.cdp_url = pulumi.Output.from_input(cdp_url(args.account_id))
        self.token = pulumi.Output.secret(token.value)
        self.register_outputs({"cdp_url": self.cdp_url, "token": self.token})
