"""Only the edge Worker may talk to the runtime: every request but /healthz carries its token.

The token is compared in constant time. Per-user sandboxes also refuse any identity other than
their own, so a routing mistake at the edge cannot expose one user's state to another.
"""

from __future__ import annotations

import hmac
import json

from starlette.types import ASGIApp, Receive, Scope, Send

EDGE_TOKEN_HEADER = "x-agent-edge-token"  # noqa: S105 - a header name, not a secret
USER_HEADER = "x-agent-user"
OPEN_PATHS = frozenset({"/healthz"})


class EdgeTokenMiddleware:
    """Rejects HTTP and WebSocket requests without the right X-Agent-Edge-Token."""

    def __init__(self, app: ASGIApp, *, token: str, sandbox_user: str | None) -> None:
        self._app = app
        self._token = token.encode()
        self._sandbox_user = sandbox_user

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"} or scope["path"] in OPEN_PATHS:
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
