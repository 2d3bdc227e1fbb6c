"""AI gateway: the authenticated AI Gateway every model call goes through, and its tokens.

Owns the `AiGateway` (authentication on, rate limited, logs as configured, optional cache, spend
limits when configured), the dynamic route that carries the model fallbacks when there are any,
an account token with "AI Gateway Run" (model calls) and one with "AI Gateway Read" alone (the
runtime's Usage page reads the gateway's logs with it). Exposes the base URL and the per-provider
URLs the runtime uses. Provider API keys are not its concern (they stay with the runtime or in the
gateway's BYOK); nor is the runtime's reading of a spend-limit 429 (agent/runtime/budget.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

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


# Spend-limit windows, in seconds (fixed windows; a 30-day window is not a calendar month).
# https://developers.cloudflare.com/ai-gateway/features/spend-limits/#time-windows
DAY_S = 86_400
MONTH_S = 30 * DAY_S
# The metadata key every model call of the runtime carries its user in
# (agent/runtime/attribution.py); the per-user rule splits by it ("partition": a budget per value).
USER_METADATA_KEY = "user"
# How long one model of the route may take, and how often the gateway retries it, before the
# next fallback is tried (dynamic routing's model element: timeout in ms, retries).
# https://developers.cloudflare.com/ai-gateway/features/dynamic-routing/json-configuration/
ROUTE_MODEL_TIMEOUT_MS = 60_000
ROUTE_MODEL_RETRIES = 1


@dataclass(frozen=True, kw_only=True)
class SpendLimits:
    """US dollars per window; None = no such limit."""

    daily_usd: Decimal | None = None
    monthly_usd: Decimal | None = None
    user_daily_usd: Decimal | None = None

    def rules(self) -> list[cloudflare.AiGatewaySpendLimitsRuleArgsDict]:
        """The gateway's spend-limit rules, with stable ids (the runtime names them in chat)."""
        rules: list[cloudflare.AiGatewaySpendLimitsRuleArgsDict] = []
        for rule_id, amount, window, per_user in (
            ("stack-daily", self.daily_usd, DAY_S, False),
            ("stack-monthly", self.monthly_usd, MONTH_S, False),
            ("user-daily", self.user_daily_usd, DAY_S, True),
        ):
            if amount is None:
                continue
            rule: cloudflare.AiGatewaySpendLimitsRuleArgsDict = {
                "id": rule_id,
                "enabled": True,
                "limit": float(amount),
                "limit_type": "cost",
                "window": window,
                "technique": "fixed",
            }
            if per_user:
                rule["metadata"] = {USER_METADATA_KEY: {"mode": "partition"}}
            rules.append(rule)
        return rules


def route_target(model: str) -> tuple[str, str]:
    """(provider, model) of an AGENT_MODEL value as a dynamic route's model element takes them.

    `compat:<provider>/<model>` names the provider inside the model; the others before the colon.
    """
    provider, name = model.split(":", 1)
    if provider == "compat":
        inner, _, rest = name.partition("/")
        return inner, rest
    return provider, name


def route_elements(
    models: Sequence[str],
) -> list[cloudflare.AiGatewayDynamicRoutingElementArgsDict]:
    """start -> model 1 -(fallback)-> model 2 ... -> end; each model's success goes to end."""
    elements: list[cloudflare.AiGatewayDynamicRoutingElementArgsDict] = [
        {"id": "start", "type": "start", "outputs": {"next": {"element_id": "model-1"}}}
    ]
    for index, model in enumerate(models, start=1):
        provider, name = route_target(model)
        following = f"model-{index + 1}" if index < len(models) else "end"
        elements.append(
            {
                "id": f"model-{index}",
                "type": "model",
                "properties": {
                    "ai_gateway_dynamic_routing_provider": provider,
                    "model": name,
                    "timeout": ROUTE_MODEL_TIMEOUT_MS,
                    "retries": ROUTE_MODEL_RETRIES,
                },
                "outputs": {
                    "success": {"element_id": "end"},
                    "fallback": {"element_id": following},
                },
            }
        )
    elements.append({"id": "end", "type": "end", "outputs": {}})
    return elements


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
    logs_token_name: str
    permission_ids: pulumi.Output[dict[str, str]]
    spend_limits: SpendLimits = field(default_factory=SpendLimits)
    # The primary model then its fallbacks; a dynamic route is declared when there are fallbacks.
    route_models: Sequence[str] = ()
    route_name: str = "agent"


def gateway_base_url(account_id: str, gateway_id: str) -> str:
    """`https://gateway.ai.cloudflare.com/v1/{account}/{gateway}` (provider suffix added later)."""
    return f"{GATEWAY_HOST}/{account_id}/{gateway_id}"


class AiGateway(EdgeAgentComponent):
    """AI Gateway + run token for one stack."""

    gateway_id: pulumi.Output[str]
    base_url: pulumi.Output[str]
    provider_urls: pulumi.Output[dict[str, str]]
    token: pulumi.Output[str]
    logs_token: pulumi.Output[str]
    route_name: str | None

    def __init__(self, name: str, args: AiGatewayArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("AiGateway", name, opts)
        gateway_name, gateway_opts = self.child("gateway")
        rules = args.spend_limits.rules()
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
            spend_limits={"enabled": True, "rules": rules} if rules else None,
            opts=gateway_opts,
        )
        self.route_name = None
        if len(args.route_models) > 1:
            # The runtime calls it as model `dynamic/<name>` on the OpenAI-compatible endpoint.
            # https://developers.cloudflare.com/ai-gateway/features/dynamic-routing/usage/
            route_name, route_opts = self.child("route")
            cloudflare.AiGatewayDynamicRouting(
                route_name,
                account_id=args.account_id,
                gateway_id=gateway.ai_gateway_id,
                name=args.route_name,
                elements=route_elements(args.route_models),
                opts=route_opts,
            )
            self.route_name = args.route_name
        # As narrow as the token API allows: "AI Gateway Run" alone, on this one account. Token
        # policy resources are accounts, zones and (for R2 item groups) buckets; no resource key
        # for a single gateway is documented, so the gateway id cannot be the token's boundary
        # (docs/deploy-rules.md, "AI Gateway token").
        # https://developers.cloudflare.com/fundamentals/api/how-to/create-via-api/
        # https://developers.cloudflare.com/ai-gateway/configuration/authentication/
        account = permissions.account_resource(args.account_id)
        token = self.account_token(
            "token",
            account_id=args.account_id,
            name=args.token_name,
            permission_ids=args.permission_ids,
            permissions=[permissions.AI_GATEWAY_RUN],
            resource=account,
        )
        # Read-only, for GET .../ai-gateway/gateways/{id}/logs (accepted: AI Gateway Read or Write).
        # https://developers.cloudflare.com/api/resources/ai_gateway/subresources/logs/methods/list/
        logs_token = self.account_token(
            "logs-token",
            account_id=args.account_id,
            name=args.logs_token_name,
            permission_ids=args.permission_ids,
            permissions=[permissions.AI_GATEWAY_READ],
            resource=account,
        )
        base = gateway_base_url(args.account_id, args.gateway_id)
        self.gateway_id = gateway.ai_gateway_id
        self.base_url = gateway.ai_gateway_id.apply(lambda _: base)
        self.provider_urls = pulumi.Output.from_input(
            {provider: f"{base}/{path}" for provider, path in PROVIDER_PATHS.items()}
        )
        self.token = pulumi.Output.secret(token.value)
        self.logs_token = pulumi.Output.secret(logs_token.value)
        self.register_outputs(
            {
                "gateway_id": self.gateway_id,
                "base_url": self.base_url,
                "provider_urls": self.provider_urls,
                "token": self.token,
                "logs_token": self.logs_token,
            }
        )
