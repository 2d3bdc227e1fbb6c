"""Settings and headers shared by the budget tests."""

from __future__ import annotations

from pathlib import Path

from fake_ai_gateway import LOGS_TOKEN, RUN_TOKEN, FakeAiGateway
from suite_support import EDGE_TOKEN

from agent.runtime.settings import RuntimeSettings


def edge_headers(user: str) -> dict[str, str]:
    """What the edge adds to a signed-in request."""
    return {"X-Agent-Edge-Token": EDGE_TOKEN, "X-Agent-User": user}


def gateway_settings(
    state_dir: Path, gateway: FakeAiGateway, **overrides: object
) -> RuntimeSettings:
    """A runtime calling `openai:gpt-5-mini` through the fake gateway, with a $5 daily limit."""
    values: dict[str, object] = {
        "agent_tenant": "acme",
        "agent_edge_token": EDGE_TOKEN,
        "state_backend": "local",
        "state_dir": state_dir,
        "agent_model": "openai:gpt-5-mini",
        "ai_gateway_base_url": gateway.base_url,
        "ai_gateway_token": RUN_TOKEN,
        "ai_gateway_logs_token": LOGS_TOKEN,
        "ai_gateway_api_base_url": gateway.api_url,
        "agent_spend_limit_daily_usd": "5.00",
        "agent_admin_emails": "owner@example.com",
        "agent_container_monthly_usd": "12.34",
    }
    values.update(overrides)
    return RuntimeSettings(**values)  # type: ignore[arg-type]
