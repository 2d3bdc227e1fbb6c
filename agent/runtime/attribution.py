"""Who a model call is for: the `cf-aig-metadata` every call to AI Gateway carries.

AI Gateway logs each request's custom metadata and can split spend limits by it (the per-user
budget splits by `user`). It keeps at most five entries per request, so a scheduled job rides in
`channel` as `job:<id>` instead of taking a sixth key.
https://developers.cloudflare.com/ai-gateway/observability/custom-metadata/

The model clients (engine/models.py) are built once, so the per-run values come from a context
variable the chat service sets around each turn (`attributed`); asyncio tasks the run starts
inherit it. The same client hook notices a spend-limit 429 (agent/runtime/budget.py): it tells the
provider SDK not to retry it (their `x-should-retry` header) and records it on the scope, so the
caller can turn it into a plain message instead of an error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import httpx2

from agent.runtime.budget import SpendLimitHit, spend_limit_hit

METADATA_HEADER = "cf-aig-metadata"
MAX_ENTRIES = 5
# Documented limits elsewhere keep values short; ours are ids and emails.
MAX_VALUE_CHARS = 128
# Model calls stream for long; connecting is the only part worth a short limit.
CLIENT_TIMEOUT = httpx2.Timeout(600.0, connect=10.0)


@dataclass
class CallScope:
    """The metadata of one run's model calls, and what the gateway said about its budget."""

    tenant: str
    user: str
    session: str
    channel: str
    engine: str
    spend_limit: SpendLimitHit | None = None

    def metadata(self) -> dict[str, str]:
        """The five entries, in the order AI Gateway keeps them."""
        entries = {
            "tenant": self.tenant,
            "user": self.user,
            "session": self.session,
            "channel": self.channel,
            "engine": self.engine,
        }
        assert len(entries) <= MAX_ENTRIES
        return {key: value[:MAX_VALUE_CHARS] for key, value in entries.items()}


_SCOPE: ContextVar[CallScope | None] = ContextVar("edgeagent_call_scope", default=None)


@contextmanager
def attributed(scope: CallScope) -> Iterator[CallScope]:
    """Model calls made inside the block carry `scope`'s metadata."""
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


def current_scope() -> CallScope | None:
    """The scope of the run in progress, if any."""
    return _SCOPE.get()


def header_value(scope: CallScope) -> str:
    """The header's JSON (compact: it travels with every request)."""
    return json.dumps(scope.metadata(), separators=(",", ":"), ensure_ascii=False)


async def _on_request(request: httpx2.Request) -> None:
    scope = _SCOPE.get()
    if scope is not None:
        request.headers[METADATA_HEADER] = header_value(scope)


async def _on_response(response: httpx2.Response) -> None:
    if response.status_code != 429:
        return
    await response.aread()
    hit = spend_limit_hit(response.status_code, response.text)
    if hit is None:
        return  # a rate limit: the SDK's own backoff may retry it
    response.headers["x-should-retry"] = "false"  # a budget does not come back in seconds
    scope = _SCOPE.get()
    if scope is not None:
        scope.spend_limit = hit


def gateway_http_client() -> httpx2.AsyncClient:
    """The HTTP client of the provider SDKs: adds the metadata, notices spend-limit 429s."""
    return httpx2.AsyncClient(
        timeout=CLIENT_TIMEOUT,
        event_hooks={"request": [_on_request], "response": [_on_response]},
    )
