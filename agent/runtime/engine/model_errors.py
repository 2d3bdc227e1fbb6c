"""What the chat says when the model cannot answer: which model, at which URL, and why.

pydantic-ai reports provider failures as `ModelAPIError`s: `ModelHTTPError` carries the status and
the provider's error body, `ModelConnectionError` the transport error as its `__cause__`
(https://ai.pydantic.dev/api/exceptions/). The message names the URL that was called without its
query, user info or any secret, and the hint points at the variable that decides it, so a missing
server, a wrong key and a wrong model name each read as what they are.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic_ai.exceptions import (
    ModelAPIError,
    ModelConnectionError,
    ModelHTTPError,
    ModelRequestTimeout,
)

from agent.runtime.ai_gateway import model_endpoint
from agent.runtime.errors import EngineError, ModelCallFailed
from agent.runtime.settings import RuntimeSettings

_DETAIL_CHARS = 300
AI_GATEWAY_LOGS = "AI Gateway's logs (Cloudflare dashboard > AI > AI Gateway > Logs) show the call"


def model_failure(error: BaseException, settings: RuntimeSettings) -> EngineError:
    """The EngineError to report for `error` raised while the model answered a turn."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    if not isinstance(error, ModelAPIError) or settings.is_offline:
        return EngineError(f"{type(error).__name__}: {error}")
    url = _safe_url(_request_url(error) or model_endpoint(settings)[0])
    where = f"the model {settings.agent_model} at {url}"
    if isinstance(error, ModelHTTPError):
        detail = _redact(_body_message(error.body), settings)
        cause = f"{where} answered HTTP {error.status_code}" + (f": {detail}" if detail else "")
        return ModelCallFailed(cause, _status_hint(error.status_code, settings))
    if isinstance(error, ModelConnectionError):
        reason = _redact(_transport_reason(error), settings)
        return ModelCallFailed(f"{where} could not be reached: {reason}", _reach_hint(settings))
    if isinstance(error, ModelRequestTimeout):
        return ModelCallFailed(
            f"{where} did not answer within {error.timeout:g} s", _reach_hint(settings)
        )
    detail = _redact(str(error), settings)[:_DETAIL_CHARS]
    return ModelCallFailed(f"{where} failed: {detail}", _reach_hint(settings))


def _request_url(error: BaseException) -> str | None:
    """The URL of the request that failed, from the provider SDK's or httpx's exception."""
    seen: BaseException | None = error
    while seen is not None:
        # Duck-typed: each provider SDK may bring its own copy of httpx.
        url = getattr(getattr(seen, "request", None), "url", None)
        if url is not None:
            return str(url)
        seen = seen.__cause__ or seen.__context__
    return None


def _safe_url(url: str) -> str:
    """scheme://host[:port]/path: no user info, query or fragment (keys can hide there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _transport_reason(error: ModelConnectionError) -> str:
    """The innermost transport error: 'connection refused', a DNS failure, a TLS error."""
    reason = str(error)
    seen: BaseException | None = error.__cause__
    while seen is not None:
        if str(seen):
            reason = f"{seen!s} ({type(seen).__name__})"
        seen = seen.__cause__ or seen.__context__
    return reason[:_DETAIL_CHARS]


def _body_message(body: object) -> str:
    """The provider's own error message (OpenAI and Anthropic: error.message), else the body."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])[:_DETAIL_CHARS]
        if isinstance(body.get("message"), str):
            return str(body["message"])[:_DETAIL_CHARS]
        if isinstance(inner, str):
            return inner[:_DETAIL_CHARS]
    return "" if body is None else str(body)[:_DETAIL_CHARS]


def _redact(text: str, settings: RuntimeSettings) -> str:
    for secret in (settings.agent_model_api_key, settings.ai_gateway_token):
        if secret is not None and secret.get_secret_value():
            text = text.replace(secret.get_secret_value(), "[redacted]")
    return text


def _via_ai_gateway(settings: RuntimeSettings) -> bool:
    return settings.agent_model_base_url is None and settings.ai_gateway_base_url is not None


def _status_hint(status: int, settings: RuntimeSettings) -> str:
    ai_gateway = _via_ai_gateway(settings)
    if status in (401, 403):
        hint = (
            "check AI_GATEWAY_TOKEN and the provider key (AGENT_MODEL_API_KEY, or the key AI "
            "Gateway holds)"
            if ai_gateway
            else "check AGENT_MODEL_API_KEY"
        )
    elif status == 404:
        where = "AI_GATEWAY_BASE_URL" if ai_gateway else "AGENT_MODEL_BASE_URL"
        hint = f"check the model name in AGENT_MODEL and {where}"
    elif status == 429:
        hint = "rate limited or out of quota: wait a little, or check the provider account"
    elif status >= 500:
        hint = "the provider failed: retry in a little while"
    else:
        hint = "the provider refused the request as sent: check AGENT_MODEL"
    return f"{hint}; {AI_GATEWAY_LOGS}" if ai_gateway else hint


def _reach_hint(settings: RuntimeSettings) -> str:
    if settings.agent_model_base_url is not None:
        return "start the model server at that URL, or fix AGENT_MODEL_BASE_URL"
    if settings.ai_gateway_base_url is not None:
        return f"check AI_GATEWAY_BASE_URL and this machine's network; {AI_GATEWAY_LOGS}"
    return "check this machine's network and the provider's status page"
