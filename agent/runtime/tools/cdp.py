"""A small Chrome DevTools Protocol client over `websockets`: commands, events, flat sessions.

The browser tool needs a handful of CDP domains (Target, Page, Runtime, Input, Fetch,
Accessibility), so it speaks the protocol itself rather than shipping Playwright (168 MB, with its
own Node) to do it. Protocol: https://chromedevtools.github.io/devtools-protocol/. Browser
Rendering serves it over a WebSocket with the API token in `Authorization`
(https://developers.cloudflare.com/browser-rendering/cdp/); a local Chromium names its WebSocket
at `http://<host>:<port>/json/version`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

# (method, params, sessionId or None for the browser itself)
Listener = Callable[[str, dict[str, Any], str | None], None]


class CdpError(Exception):
    """The browser could not be reached, refused a command, or the connection dropped."""


class CdpTimeout(CdpError):
    """A command or an awaited event did not come in time."""


async def websocket_url(url: str, headers: Mapping[str, str], timeout_s: float) -> str:
    """The browser's WebSocket: `url` itself (ws/wss), or the one its /json/version names."""
    parts = urlsplit(url)
    if parts.scheme in {"ws", "wss"}:
        return url
    try:
        async with httpx.AsyncClient(timeout=timeout_s, trust_env=False) as http:
            response = await http.get(url.rstrip("/") + "/json/version", headers=dict(headers))
    except httpx.HTTPError as error:
        raise CdpError(f"{type(error).__name__} from {url}/json/version") from None
    if response.status_code != 200:
        raise CdpError(f"{url}/json/version answered HTTP {response.status_code}")
    try:
        found = response.json()["webSocketDebuggerUrl"]
    except (ValueError, KeyError, TypeError):
        raise CdpError(f"{url}/json/version names no webSocketDebuggerUrl") from None
    # Keep the host the caller reached (as Playwright does): the browser names its own address,
    # which a proxy or a port forward in front of it does not serve.
    ws = urlsplit(str(found))
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, ws.path, ws.query, ""))


class CdpConnection:
    """One WebSocket to a browser; commands to it or to an attached target's flat session."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._listeners: list[Listener] = []
        self.closed = False
        self._reader = asyncio.create_task(self._read(), name="cdp-reader")

    @classmethod
    async def open(cls, url: str, headers: Mapping[str, str], timeout_s: float) -> CdpConnection:
        """Connect to the browser at `url` (ws(s):// directly, http(s):// through discovery)."""
        target = await websocket_url(url, headers, timeout_s)
        try:
            ws = await connect(
                target, additional_headers=dict(headers), max_size=None, open_timeout=timeout_s
            )
        except InvalidStatus as error:
            raise CdpError(
                f"the browser endpoint answered HTTP {error.response.status_code}"
            ) from None
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as error:
            raise CdpError(f"cannot open the browser's WebSocket: {type(error).__name__}") from None
        return cls(ws)

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` for every event from now on; returns the function that stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def send(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        session: str | None = None,
        timeout_s: float,
    ) -> dict[str, Any]:
        """The result of one command, or CdpError with the browser's message."""
        if self.closed:
            raise CdpError("the browser connection is closed")
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[self._next_id] = future
        try:
            await self._ws.send(json.dumps(message))
            async with asyncio.timeout(timeout_s):
                answer = await future
        except TimeoutError:
            raise CdpTimeout(f"{method} timed out after {timeout_s:g} s") from None
        except ConnectionClosed:
            raise CdpError("the browser connection closed") from None
        finally:
            self._pending.pop(message["id"], None)
        if "error" in answer:
            raise CdpError(str(answer["error"].get("message", answer["error"])))
        result: dict[str, Any] = answer.get("result", {})
        return result

    async def close(self) -> None:
        """Close the WebSocket and stop reading."""
        with contextlib.suppress(Exception):
            await self._ws.close()
        await asyncio.gather(self._reader, return_exceptions=True)

    async def _read(self) -> None:
        try:
            async for raw in self._ws:
                message = json.loads(raw)
                if "id" in message:
                    future = self._pending.get(message["id"])
                    if future is not None and not future.done():
                        future.set_result(message)
                    continue
                for listener in list(self._listeners):
                    listener(message["method"], message.get("params", {}), message.get("sessionId"))
        except ConnectionClosed:
            pass
        finally:
            self.closed = True
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(CdpError("the browser connection closed"))
