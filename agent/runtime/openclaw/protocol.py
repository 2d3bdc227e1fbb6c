"""A minimal client of the gateway's WebSocket protocol (v4): connect, then request/response.

The runtime connects as OpenClaw's documented internal helper (`gateway-client` in `backend`
mode, shared token, direct loopback), which needs no device identity. Used for the
protocol-level health check and for device pairing; every call opens its own short connection.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from agent.runtime.errors import EngineError

PROTOCOL = 4
SCOPES = ["operator.read", "operator.write", "operator.admin", "operator.pairing"]


class OpenClawCallError(EngineError):
    """The gateway answered a request with `ok: false`."""

    def __init__(self, method: str, error: dict[str, Any]) -> None:
        code = error.get("code", "UNKNOWN")
        super().__init__(f"gateway {method} failed: {code}: {error.get('message', '')}".strip())
        self.code = str(code)
        self.details = error.get("details") or {}


async def call(
    port: int, token: str, method: str, params: dict[str, Any] | None = None, limit_s: float = 10.0
) -> dict[str, Any]:
    """Connect, authenticate, run one request and return its payload."""
    try:
        async with asyncio.timeout(limit_s):
            async with connect(
                f"ws://127.0.0.1:{port}/", max_size=32 * 1024 * 1024, open_timeout=limit_s
            ) as ws:
                await _expect_event(ws, "connect.challenge")
                await _request(ws, "connect", _hello(token))
                return await _request(ws, method, params or {})
    except TimeoutError:
        raise EngineError(f"gateway {method}: no answer within {limit_s:g} s") from None
    except (OSError, WebSocketException) as error:
        raise EngineError(f"gateway {method}: {type(error).__name__}: {error}") from None


def _hello(token: str) -> dict[str, Any]:
    return {
        "minProtocol": PROTOCOL,
        "maxProtocol": PROTOCOL,
        "client": {
            "id": "gateway-client",
            "version": "0.1.0",
            "platform": "linux",
            "mode": "backend",
        },
        "role": "operator",
        "scopes": SCOPES,
        "caps": [],
        "auth": {"token": token},
    }


async def _expect_event(ws: Any, event: str) -> dict[str, Any]:
    while True:
        frame = json.loads(await ws.recv())
        if frame.get("type") == "event" and frame.get("event") == event:
            payload: dict[str, Any] = frame.get("payload") or {}
            return payload


async def _request(ws: Any, method: str, params: dict[str, Any]) -> dict[str, Any]:
    request_id = str(uuid.uuid4())
    await ws.send(json.dumps({"type": "req", "id": request_id, "method": method, "params": params}))
    while True:
        frame = json.loads(await ws.recv())
        if frame.get("type") != "res" or frame.get("id") != request_id:
            continue  # events interleave with responses
        if not frame.get("ok"):
            raise OpenClawCallError(method, frame.get("error") or {})
        payload: dict[str, Any] = frame.get("payload") or {}
        return payload
