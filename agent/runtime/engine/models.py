"""The one place a model is built from settings (pydantic-ai's Model/Provider split).

`AGENT_MODEL` picks the provider and model; Cloudflare AI Gateway is a base URL plus the
`cf-aig-authorization` header on the provider's HTTP client (`model_endpoint`, in
agent/runtime/ai_gateway.py, shared with the OpenClaw application). Prompts and tools never see
either.

| AGENT_MODEL                    | client                 | base URL                         |
| ------------------------------ | ---------------------- | -------------------------------- |
| `offline`                      | none (FunctionModel)   | -                                |
| `openai:<model>`               | OpenAI Chat            | `<ai-gateway>/openai`               |
| `compat:<provider>/<model>`    | OpenAI Chat            | `<ai-gateway>/compat`               |
| `workers-ai:@cf/<model>`       | OpenAI Chat            | `<ai-gateway>/workers-ai/v1`        |
| `anthropic:<model>`            | Anthropic Messages     | `<ai-gateway>/anthropic`            |

`AGENT_MODEL_BASE_URL` replaces the AI Gateway URL for local development against any
OpenAI-compatible endpoint; the AI Gateway token is then never sent. Without either, `openai:` and
`anthropic:` go straight to the provider's public API with `AGENT_MODEL_API_KEY`. The one-line
recipes for each case are in docs/models.md.

With `AGENT_MODEL_ROUTE` (edgeagent:modelFallbacks) the primary model is called through AI
Gateway's dynamic route: model `dynamic/<route>` on the OpenAI-compatible endpoint, which tries
AGENT_MODEL and then each fallback (routes accept the OpenAI chat shape only).
https://developers.cloudflare.com/ai-gateway/features/dynamic-routing/usage/
`AGENT_JOB_MODEL` (scheduled jobs, compaction summaries) is called directly.

Every client's HTTP requests carry the run's `cf-aig-metadata` (agent/runtime/attribution.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.runtime.ai_gateway import AI_GATEWAY_HELD_KEY, model_endpoint
from agent.runtime.attribution import gateway_http_client
from agent.runtime.settings import RuntimeSettings

if TYPE_CHECKING:
    from pydantic_ai.models import Model


def route_model(route: str) -> str:
    """The model name a dynamic route is called by."""
    return f"dynamic/{route}"


def build_model(settings: RuntimeSettings, model: str | None = None) -> Model:
    """The pydantic-ai Model that AGENT_MODEL (or `model`, e.g. AGENT_JOB_MODEL) names."""
    if settings.is_offline:
        from agent.runtime.engine.offline import offline_model

        return offline_model(settings.agent_timezone)
    value = model or settings.agent_model
    routed = value == settings.agent_model and settings.agent_model_route is not None
    if routed and settings.agent_model_base_url is None and settings.ai_gateway_base_url:
        assert settings.agent_model_route is not None
        value = f"compat:{route_model(settings.agent_model_route)}"
    provider, name = value.split(":", 1)
    base_url, headers = model_endpoint(settings, value)
    key = settings.agent_model_api_key
    api_key = key.get_secret_value() if key is not None else AI_GATEWAY_HELD_KEY
    if provider == "anthropic":
        from anthropic import AsyncAnthropic
        from pydantic_ai.models.anthropic import AnthropicModel
        from pydantic_ai.providers.anthropic import AnthropicProvider

        client = AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            default_headers=headers,
            http_client=gateway_http_client(),
        )
        return AnthropicModel(name, provider=AnthropicProvider(anthropic_client=client))

    from openai import AsyncOpenAI
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    openai_client = AsyncOpenAI(
        api_key=api_key,
        base_url=base_url,
        default_headers=headers,
        http_client=gateway_http_client(),
    )
    return OpenAIChatModel(name, provider=OpenAIProvider(openai_client=openai_client))
