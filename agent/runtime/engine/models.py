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
OpenAI-compatible endpoint; the AI Gateway token is then never sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.runtime.ai_gateway import AI_GATEWAY_HELD_KEY, model_endpoint
from agent.runtime.settings import RuntimeSettings

if TYPE_CHECKING:
    from pydantic_ai.models import Model


def build_model(settings: RuntimeSettings) -> Model:
    """The pydantic-ai Model that AGENT_MODEL names."""
    if settings.is_offline:
        from agent.runtime.engine.offline import offline_model

        return offline_model()
    provider, name = settings.agent_model.split(":", 1)
    base_url, headers = model_endpoint(settings)
    key = settings.agent_model_api_key
    api_key = key.get_secret_value() if key is not None else AI_GATEWAY_HELD_KEY
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
