"""AI gateway: the authenticated AI Gateway every model call goes through, and a token to run it.

Owns the `AiGateway` (authentication on, rate limited, logs as configured, optional cache) and an
account token with "AI Gateway Run". Exposes the base URL and the per-provider URLs the runtime
uses. Provider API keys are not its concern (they stay with the runtime or in the gateway's BYOK).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare

from infra import permissions
from infra.components.base import EdgeAgentComponent

GATEWAY_HOST = "https://gateway.ai.cloudflare.com/v1"
# Path suffix per provider, appended to the base URL.
PROVIDER_PATHS = {
    "compat": "compat",
    "openai": "openai",
    "anthropic": "anthropic",
    "workers-ai": "workers-ai/v1",
}


@dataclass(frozen=True, kw_only=True)
class AiGatewayArgs:
    account_id: str
    gateway_id: str
    rate_limit: int
    rate_limit_interval: int
    rate_limit_technique: str
    cache_ttl: int
    collect_logs: bool
    token_name: str
    permission_ids: pulumi.Output[dict[str, str]]


def gateway_base_url(account_id: str, gateway_id: str) -> str:
    """`https://gateway.ai.cloudflare.com/v1/{account}/{gateway}` (provider suffix added later)."""
    return f"{GATEWAY_HOST}/{account_id}/{gateway_id}"


class AiGateway(EdgeAgentComponent):
    """AI Gateway + run token for one stack."""

    gateway_id: pulumi.Output[str]
    base_url: pulumi.Output[str]
    provider_urls: pulumi.Output[dict[str, str]]
    token: pulumi.Output[str]

    def __init__(self, name: str, args: AiGatewayArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("AiGateway", name, opts)
        gateway_name, gateway_opts = self.child("gateway")
        gateway = cloudflare.AiGateway(
            gateway_name,
            account_id=args.account_id,
            ai_gateway_id=args.gateway_id,
            authentication=True,
            collect_logs=args.collect_logs,
            rate_limiting_limit=args.rate_limit,
            rate_limiting_interval=args.rate_limit_interval,
            rate_limiting_technique=args.rate_limit_technique,
            cache_ttl=args.cache_ttl,
            cache_invalidate_on_update=True,
            opts=gateway_opts,
        )
        # As narrow as the token API allows: "AI Gateway Run" alone, on this one account. Token
        # policy resources are accounts, zones and (for R2 item groups) buckets; no resource key
        # for a single gateway is documented, so the gateway id cannot be the token's boundary
        # (docs/deploy-rules.md, "AI Gateway token").
        # https://developers.cloudflare.com/fundamentals/api/how-to/create-via-api/
        # https://developers.cloudflare.com/ai-gateway/configuration/authentication/
        scope = json.dumps({permissions.account_resource(args.account_id): "*"})
        token_name, token_opts = self.child("token")
        token = cloudflare.AccountToken(
            token_name,
            account_id=args.account_id,
            name=args.token_name,
            policies=args.permission_ids.apply(
                lambda ids: [
                    {
                        "effect": "allow",
                        "permission_groups": [{"id": ids[permissions.AI_GATEWAY_RUN]}],
                        "resources": scope,
                    }
                ]
            ),
            opts=token_opts,
        )
        base = gateway_base_url(args.account_id, args.gateway_id)
        self.gateway_id = gateway.ai_gateway_id
        self.base_url = gateway.ai_gateway_id.apply(lambda _: base)
        self.provider_urls = pulumi.Output.from_input(
            {provider: f"{base}/{path}" for provider, path in PROVIDER_PATHS.items()}
        )
        self.token = pulumi.Output.secret(token.value)
        self.register_outputs(
            {
                "gateway_id": self.gateway_id,
                "base_url": self.base_url,
                "provider_urls": self.provider_urls,
                "token": self.token,
            }
        )
