"""Cloudflare AI Gateway: where a remote model call goes and with which header.

Shared by the native engine (engine/models.py builds pydantic-ai models on it) and the OpenClaw
application (openclaw/config.py writes it into openclaw.json). "AI Gateway" always means
Cloudflare's product here; the Worker is the edge, and OpenClaw's own process is the OpenClaw
gateway. https://developers.cloudflare.com/ai-gateway/configuration/authentication/
"""

from __future__ import annotations

from agent.runtime.settings import RuntimeSettings

AI_GATEWAY_AUTH_HEADER = "cf-aig-authorization"
# Sent as the provider key when AI Gateway holds the provider keys (BYOK) and none is configured.
AI_GATEWAY_HELD_KEY = "held-by-ai-gateway"

# The providers' own APIs, for a key used directly (no AI Gateway, no AGENT_MODEL_BASE_URL).
PROVIDER_URLS = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com"}

_AI_GATEWAY_SUFFIX = {
    "openai": "openai",
    "compat": "compat",
    "workers-ai": "workers-ai/v1",
    "anthropic": "anthropic",
}


def model_endpoint(
    settings: RuntimeSettings, model: str | None = None
) -> tuple[str, dict[str, str]]:
    """The base URL and extra headers for a remote model (AGENT_MODEL by default)."""
    provider = (model or settings.agent_model).split(":", 1)[0]
    if settings.agent_model_base_url is not None:
        return settings.agent_model_base_url.rstrip("/"), {}
    if settings.ai_gateway_base_url is None:
        return PROVIDER_URLS[provider], {}  # a key given directly (settings validation)
    base = f"{settings.ai_gateway_base_url.rstrip('/')}/{_AI_GATEWAY_SUFFIX[provider]}"
    headers = {}
    if settings.ai_gateway_token is not None:
        headers[AI_GATEWAY_AUTH_HEADER] = f"Bearer {settings.ai_gateway_token.get_secret_value()}"
    return base, headers
