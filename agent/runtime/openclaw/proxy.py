"""Reverse proxy from port 8080 to the gateway on loopback: HTTP (streamed) and WebSocket.

The edge-token middleware runs before this app, so everything arriving here came through the
Worker. The token and the internal credential are not forwarded. `X-Forwarded-For` is always
overwritten: the gateway trusts our loopback address as a proxy and auto-pairs devices it
believes are local, so an edge user must never look local. When no public client address is
known the proxy uses 192.0.2.1 (TEST-NET-1): "remote, unattributed" - which makes OpenClaw ask
for device pairing.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
from collections.abc import AsyncIterator, Callable

import httpx
from starlette.types import Message, Receive, Scope, Send
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from agent.runtime.edge_auth import EDGE_TOKEN_HEADER, INTERNAL_HEADER

UNATTRIBUTED_CLIENT = "192.0.2.1"
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "forwarded",
        "x-real-ip",
        EDGE_TOKEN_HEADER,
        INTERNAL_HEADER,
    }
)


def client_address(scope: Scope) -> str:
    """The end user's public address, or the unattributed marker; never a loopback address."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    client = scope.get("client")
    candidates = [headers.get("cf-connecting-ip", ""), client[0] if client else ""]
    for candidate in candidates:
        try:
            address = ipaddress.ip_address(candidate.strip())
        except ValueError:
            continue
        if not (address.is_loopback or address.is_unspecified or address.is_private):
            return str(address)
    return UNATTRIBUTED_CLIENT


def forwarded_headers(scope: Scope, *, websocket: bool) -> list[tuple[str, str]]:
    """Request headers for the gateway: hop-by-hop and our secrets dropped, X-Forwarded-* set."""
    out: list[tuple[str, str]] = []
    host = ""
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        if name == "host":
            host = value
        if name in HOP_BY_HOP or (websocket and name.startswith("sec-websocket-")):
            continue
        out.append((name, value))
    out.append(("x-forwarded-for", client_address(scope)))
    out.append(("x-forwarded-proto", "https"))
    if host:
        out.append(("x-forwarded-host", host))
    return out


def _target(scope: Scope) -> str:
    path: bytes = scope.get("raw_path") or scope["path"].encode()
    query: bytes = scope.get("query_string", b"")
    return path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")


class OpenClawProxy:
    """ASGI app forwarding to http://127.0.0.1:<port> while the gateway is ready."""

    def __init__(self, port: int, is_ready: Callable[[], bool]) -> None:
        self._port = port
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(None, connect=5.0))
        self._is_ready = is_ready

    async def aclose(self) -> None:
        """Close the upstream connection pool."""
        await self._http.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._forward_http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._forward_websocket(scope, receive, send)

    async def _forward_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._is_ready():
            await _json(send, 503, "the OpenClaw gateway is not ready", "retry shortly")
            return

        async def body() -> AsyncIterator[bytes]:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return
                yield message.get("body", b"")
                if not message.get("more_body"):
                    return

        request = self._http.build_request(
            scope["method"],
            f"http://127.0.0.1:{self._port}{_target(scope)}",
            headers=forwarded_headers(scope, websocket=False),
            content=body() if scope["method"] not in {"GET", "HEAD"} else None,
        )
        try:
            response = await self._http.send(request, stream=True)
        except httpx.HTTPError as error:
            await _json(
                send, 502, f"the OpenClaw gateway did not answer ({type(error).__name__})", "retry"
            )
            return
        try:
            headers = [
                (k.lower(), v)
                for k, v in response.headers.raw
                if k.decode().lower() not in HOP_BY_HOP
            ]
            await send(
                {"type": "http.response.start", "status": response.status_code, "headers": headers}
            )
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()

    async def _forward_websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        if not self._is_ready():
            await send({"type": "websocket.close", "code": 1013, "reason": "gateway not ready"})
            return
        try:
            upstream = await connect(
                f"ws://127.0.0.1:{self._port}{_target(scope)}",
                additional_headers=forwarded_headers(scope, websocket=True),
                subprotocols=scope.get("subprotocols") or None,
                user_agent_header=None,
                max_size=None,
                open_timeout=10,
                compression=None,
            )
        except InvalidStatus as error:
            # Closing before accept answers the client's handshake with HTTP 403.
            await send({"type": "websocket.close", "code": 1008, "reason": f"gateway {error}"})
            return
        except (OSError, InvalidHandshake, TimeoutError):
            await send({"type": "websocket.close", "code": 1011, "reason": "gateway unreachable"})
            return
        await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol})
        async with upstream:
            await _pump(receive, send, upstream)


async def _pump(receive: Receive, send: Send, upstream: ClientConnection) -> None:
    async def client_to_gateway() -> None:
        while True:
            message: Message = await receive()
            if message["type"] == "websocket.disconnect":
                await upstream.close(message.get("code", 1000))
                return
            if message.get("text") is not None:
                await upstream.send(message["text"])
            elif message.get("bytes") is not None:
                await upstream.send(message["bytes"])

    async def gateway_to_client() -> None:
        try:
            async for data in upstream:
                if isinstance(data, str):
                    await send({"type": "websocket.send", "text": data})
                else:
                    await send({"type": "websocket.send", "bytes": data})
        except ConnectionClosed:
            pass
        code = upstream.close_code or 1000
        with contextlib.suppress(Exception):
            await send(
                {"type": "websocket.close", "code": code, "reason": upstream.close_reason or ""}
            )

    tasks = [asyncio.create_task(client_to_gateway()), asyncio.create_task(gateway_to_client())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await task


async def _json(send: Send, status: int, error: str, hint: str) -> None:
    body = json.dumps({"error": error, "hint": hint}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})
