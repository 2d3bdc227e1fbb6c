"""A loopback CDP relay: OpenClaw's browser profile connects here, the relay adds the header.

Browser Rendering's CDP endpoint wants `Authorization: Bearer <token>`, and OpenClaw browser
profiles can only put credentials into the URL (which would leak the token into logs and config).
The relay listens on 127.0.0.1 only, opens one upstream WebSocket per client with the header, and
copies frames both ways. The token lives in this process alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

log = logging.getLogger("agent.runtime.openclaw")


class CdpRelay:
    """Forwards every loopback WebSocket connection to one authenticated upstream URL."""

    def __init__(self, upstream: str, token: str, *, port: int = 0) -> None:
        self._upstream = upstream
        self._token = token
        self._port = port
        self._server: Server | None = None

    @property
    def url(self) -> str:
        """What a CDP client on this host connects to (a browser path skips discovery)."""
        assert self._server is not None, "relay not started"
        port = self._server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/devtools/browser/edgeagent"

    async def start(self) -> None:
        """Listen on loopback."""
        self._server = await serve(self._relay, "127.0.0.1", self._port, max_size=None)

    async def close(self) -> None:
        """Stop listening and drop open relays."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _relay(self, client: ServerConnection) -> None:
        try:
            upstream = await connect(
                self._upstream,
                additional_headers={"Authorization": f"Bearer {self._token}"},
                max_size=None,
                open_timeout=15,
            )
        except InvalidStatus as error:
            status = error.response.status_code
            log.warning("CDP relay: upstream refused the connection (HTTP %d)", status)
            await client.close(1011, f"browser endpoint answered HTTP {status}")
            return
        except (OSError, InvalidHandshake, TimeoutError) as error:
            log.warning("CDP relay: upstream unreachable (%s)", type(error).__name__)
            await client.close(1011, "browser endpoint unreachable")
            return
        async with upstream:
            await _pump_both(client, upstream)


async def _pump_both(client: ServerConnection, upstream: ClientConnection) -> None:
    async def copy(
        source: ServerConnection | ClientConnection, sink: ServerConnection | ClientConnection
    ) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in source:
                await sink.send(message)

    tasks = [
        asyncio.create_task(copy(client, upstream)),
        asyncio.create_task(copy(upstream, client)),
    ]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        task.cancel()
    await client.close()
    await upstream.close()
