"""The one place a model is built from settings (pydantic-ai's Model/Provider split).

`AGENT_MODEL` picks the provider and model; AI Gateway is a base URL plus the
`cf-aig-authorization` header on the provider's HTTP client. Prompts and tools never see either.
The one-line recipes for each case are in docs/models.md.

| AGENT_MODEL                    | client                 | base URL                         |
| ------------------------------ | ---------------------- | -------------------------------- |
| `offline`                      | none (FunctionModel)   | -                                |
| `openai:<model>`               | OpenAI Chat            | `<gateway>/openai`               |
| `compat:<provider>/<model>`    | OpenAI Chat            | `<gateway>/compat`               |
| `workers-ai:@cf/<model>`       | OpenAI Chat            | `<gateway>/workers-ai/v1`        |
| `anthropic:<model>`            | Anthropic Messages     | `<gateway>/anthropic`            |

`AGENT_MODEL_BASE_URL` replaces the gateway URL for local development against any
OpenAI-compatible endpoint; the gateway token is then never sent. Without either, `openai:` and
`anthropic:` go straight to the provider's public API with `AGENT_MODEL_API_KEY`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.runtime.settings import RuntimeSettings

if TYPE_CHECKING:
    from pydantic_ai.models import Model

GATEWAY_AUTH_HEADER = "cf-aig-authorization"
# Sent as the provider key when the gateway holds the provider keys (BYOK) and none is configured.
GATEWAY_HELD_KEY = "held-by-ai-gateway"

# The providers' own APIs, for a key used directly (no gateway, no AGENT_MODEL_BASE_URL).
PROVIDER_URLS = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com"}

_GATEWAY_SUFFIX = {
    "openai": "openai",
    "compat": "compat",
    "workers-ai": "workers-ai/v1",
    "anthropic": "anthropic",
}


def model_endpoint(settings: RuntimeSettings) -> tuple[str, dict[str, str]]:
    """The base URL and extra headers for the configured remote model."""
    provider = settings.agent_model.split(":", 1)[0]
    if settings.agent_model_base_url is not None:
        return settings.agent_model_base_url.rstrip("/"), {}
    if settings.ai_gateway_base_url is None:
        return PROVIDER_URLS[provider], {}  # a key given directly (settings validation)
    base = f"{settings.ai_gateway_base_url.rstrip('/')}/{_GATEWAY_SUFFIX[provider]}"
    headers = {}
    if settings.ai_gateway_token is not None:
        headers[GATEWAY_AUTH_HEADER] = f"Bearer {settings.ai_gateway_token.get_secret_value()}"
    return base, headers


def build_model(settings: RuntimeSettings) -> Model:
    """The pydantic-ai Model that AGENT_MODEL names."""
    if settings.is_offline:
        from agent.runtime.engine.offline import offline_model

        return offline_model(settings.agent_timezone)
    provider, name = settings.agent_model.split(":", 1)
    base_url, headers = model_endpoint(settings)
    key = settings.agent_model_api_key
    api_key = key.get_secret_value() if key is not None else GATEWAY_HELD_KEY
    if provider == "anthropic":
        from anthropic import AsyncAnthropic
        from pydantic_ai.models.anthropic import AnthropicModel
        from pydantic_ai.providers.anthropic import AnthropicProvider

        client = AsyncAnthropic(api_key=api_key, base_url=base_url, default_headers=headers)
        return AnthropicModel(name, provider=AnthropicProvider(anthropic_client=client))

    from openai import AsyncOpenAI
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    openai_client = AsyncOpenAI(api_key=api_key, base_url=base_url, default_headers=headers)
    return OpenAIChatModel(name, provider=OpenAIProvider(openai_client=openai_client))
