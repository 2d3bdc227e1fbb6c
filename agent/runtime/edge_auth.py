"""Only the edge Worker may talk to the runtime: every request but /healthz carries its token.

The token is compared in constant time. Per-user sandboxes also refuse any identity other than
their own, so a routing mistake at the edge cannot expose one user's state to another.

Two more rules hold before any route is chosen:
- only canonical paths are routed: an encoded separator (`%2F`, `%5C`), an encoded `%`, dot or
  empty segments are refused with 400, so `/internal%2Fcron` cannot decode into `/internal/cron`
  behind the edge's back (the Worker refuses the same paths; docs/security.md);
- `/internal/*` and `/webhooks/*` need the internal credential as well, which the Worker sends only
  on its own cron ticks and verified webhook deliveries, never on a proxied user request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re

from starlette.types import ASGIApp, Receive, Scope, Send

EDGE_TOKEN_HEADER = "x-agent-edge-token"  # noqa: S105 - a header name, not a secret
INTERNAL_HEADER = "x-agent-internal"
USER_HEADER = "x-agent-user"
OPEN_PATHS = frozenset({"/healthz"})
#: First path segments (compared lowercased) that only the Worker's own calls may reach.
INTERNAL_PREFIXES = frozenset({"internal", "webhooks"})
#: Domain-separation label of the internal credential (docs/contract.md).
INTERNAL_LABEL = b"edgeagent internal v1"

_FORBIDDEN_ESCAPE = re.compile(rb"%(2f|5c|2e|25|0[0-9a-f]|1[0-9a-f]|7f)", re.IGNORECASE)
_MALFORMED_ESCAPE = re.compile(rb"%(?![0-9a-fA-F]{2})")


def internal_credential(edge_token: str) -> str:
    """The internal credential: hex HMAC-SHA256 keyed by the edge token over a fixed label.

    Derived, not configured, so it cannot drift from the token both sides already hold; the
    Worker computes the same value (`internalCredential` in agent/edge/src/headers.ts).
    """
    return hmac.new(edge_token.encode(), INTERNAL_LABEL, hashlib.sha256).hexdigest()


def path_problem(raw_path: bytes, path: str) -> str | None:
    """Why a request path is not canonical, or None; `raw_path` as received, `path` decoded."""
    raw = raw_path.split(b"?", 1)[0]
    if not path.startswith("/"):
        return "path must start with /"
    if b"\\" in raw or "\\" in path:
        return "backslash in path"
    if _MALFORMED_ESCAPE.search(raw):
        return "malformed percent-escape in path"
    if (escape := _FORBIDDEN_ESCAPE.search(raw)) is not None:
        return f"encoded separator, dot, percent or control character ({escape.group().decode()})"
    segments = path[1:].split("/")
    for index, segment in enumerate(segments):
        if segment == "" and index != len(segments) - 1:
            return "empty path segment (//)"
        if segment in {".", ".."}:
            return "dot segment in path"
    return None


def _is_internal(path: str) -> bool:
    return path.split("/", 2)[1].lower() in INTERNAL_PREFIXES if path.startswith("/") else True


class EdgeTokenMiddleware:
    """Rejects HTTP and WebSocket requests without the right X-Agent-Edge-Token."""

    def __init__(self, app: ASGIApp, *, token: str, sandbox_user: str | None) -> None:
        self._app = app
        self._token = token.encode()
        self._internal = internal_credential(token).encode()
        self._sandbox_user = sandbox_user

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"}:
            await self._app(scope, receive, send)
            return
        path: str = scope["path"]
        problem = path_problem(scope.get("raw_path") or path.encode(), path)
        if problem is not None:
            await _deny(
                scope,
                send,
                400,
                f"path refused: {problem}",
                "send a plain path without encoded separators, dot or empty segments, "
                "e.g. /api/sessions",
            )
            return
        if path in OPEN_PATHS:
            await self._app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        presented = headers.get(EDGE_TOKEN_HEADER.encode(), b"")
        if not hmac.compare_digest(presented, self._token):
            await _deny(
                scope,
                send,
                401,
                "missing or wrong X-Agent-Edge-Token",
                "requests must come through the edge Worker",
            )
            return
        if _is_internal(path) and not hmac.compare_digest(
            headers.get(INTERNAL_HEADER.encode(), b""), self._internal
        ):
            await _deny(
                scope,
                send,
                403,
                "missing or wrong X-Agent-Internal",
                "/internal/* and /webhooks/* are reached only by the edge Worker's own cron "
                "ticks and verified webhook deliveries",
            )
            return
        user = headers.get(USER_HEADER.encode())
        if (
            self._sandbox_user is not None
            and user is not None
            and user.decode("latin-1") != self._sandbox_user
        ):
            await _deny(
                scope,
                send,
                403,
                "this sandbox belongs to another user",
                "the edge routes each identity to its own sandbox",
            )
            return
        await self._app(scope, receive, send)


async def _deny(scope: Scope, send: Send, status: int, error: str, hint: str) -> None:
    if scope["type"] == "websocket":
        # Closing before accept makes the server answer the handshake with HTTP 403.
        await send({"type": "websocket.close", "code": 1008, "reason": error})
        return
    body = json.dumps({"error": error, "hint": hint}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
