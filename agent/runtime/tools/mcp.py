"""MCP servers as tools: pydantic-ai MCP toolsets over streamable HTTP, guarded and filtered.

Each server in AGENT_MCP_SERVERS (agent/runtime/mcp_servers.py) becomes one toolset whose tools
are the server's tools named in `allowedTools` (no other is offered to the model), prefixed with
the server's name (`docs_search`). Every HTTP request to a server passes the web fetch SSRF guard
(`check_url`, with WEB_FETCH_ALLOWLIST) and goes to the address that was checked, so a server
cannot be, or redirect to, a private or metadata address unless the allowlist names it.

A server that cannot be reached, or that fails while listing its tools, disables only its own
tools: the turn runs with the others, and the server's status (`GET /api/state`, the State page)
says why. Statuses and errors never carry the header value; they name the server by host.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Self

import httpx
import httpx2
from pydantic_ai import RunContext
from pydantic_ai.tools import ToolDefinition
from pydantic_ai.toolsets import AbstractToolset, WrapperToolset
from pydantic_ai.toolsets.abstract import ToolsetTool

from agent.runtime.engine.deps import AgentDeps
from agent.runtime.mcp_servers import McpServer
from agent.runtime.tools.web import Allowlist, FetchFailed, FetchRefused, check_url

if TYPE_CHECKING:
    from pydantic_ai.mcp import MCPToolset

__all__ = ["McpStatus", "McpTool", "open_mcp"]

log = logging.getLogger("agent.runtime.mcp")

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0
MAX_REASON_CHARS = 300


class GuardedTransport(httpx2.AsyncBaseTransport):
    """Sends each request to the address `check_url` approved for its URL (no DNS rebinding)."""

    def __init__(self, allowlist: Allowlist) -> None:
        self._allowlist = allowlist
        self._inner = httpx2.AsyncHTTPTransport(trust_env=False)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        target = await check_url(str(request.url), self._allowlist)
        if "host" not in request.headers:
            request.headers["Host"] = request.url.netloc.decode("ascii")
        request.url = request.url.copy_with(host=str(target.address))
        request.extensions = {**request.extensions, "sni_hostname": target.host}
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass
class McpStatus:
    """What the State page shows of one server (never its header value)."""

    name: str
    host: str
    state: Literal["unknown", "ok", "error"] = "unknown"
    reason: str | None = None
    tools: int | None = None
    checked_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        """The status for `GET /api/state`."""
        return {
            "name": self.name,
            "host": self.host,
            "state": self.state,
            "reason": self.reason,
            "tools": self.tools,
            "checked_at": self.checked_at.isoformat() if self.checked_at else None,
        }


def _leaves(error: BaseException) -> list[BaseException]:
    """The error, what caused it and what it groups, each once (chains can loop)."""
    found: list[BaseException] = []
    pending = [error]
    while pending and len(found) < 50:
        current = pending.pop(0)
        if any(current is seen for seen in found):
            continue
        found.append(current)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return found


def describe(error: BaseException, server: McpServer) -> str:
    """A short reason for the State page: the SSRF refusal if any, else the innermost error."""
    leaves = _leaves(error)
    guard = next((e for e in leaves if isinstance(e, FetchRefused | FetchFailed)), None)
    transport = next((e for e in leaves if isinstance(e, httpx2.HTTPError | OSError)), None)
    chosen = guard or transport or leaves[0]
    prefix = "refused: " if isinstance(chosen, FetchRefused) else ""
    text = f"{prefix}{type(chosen).__name__}: {chosen}" if not prefix else f"{prefix}{chosen}"
    # Defence in depth: the URL may carry a query, and nothing shown may carry the header value.
    text = text.replace(server.url, httpx.URL(server.url).host)
    secret = server.header_value.get_secret_value() if server.header_value else ""
    if secret:
        text = text.replace(secret, "**********")
    return text[:MAX_REASON_CHARS]


@dataclass
class McpTool(WrapperToolset[AgentDeps]):
    """One server's allowed tools; a failure disables them for the run instead of failing it."""

    server: McpServer = field(kw_only=True)
    mcp: MCPToolset[AgentDeps] = field(kw_only=True)
    status: McpStatus = field(kw_only=True)
    entered: bool = field(default=False, kw_only=True)

    @property
    def id(self) -> str | None:
        return f"mcp-{self.server.name}"

    async def for_run(self, ctx: RunContext[AgentDeps]) -> AbstractToolset[AgentDeps]:
        # A fresh copy per run, so whether this run's connection opened is this run's alone.
        return replace(self, wrapped=await self.wrapped.for_run(ctx), entered=False)

    def _failed(self, error: BaseException) -> None:
        self.status.state, self.status.tools = "error", 0
        self.status.reason = describe(error, self.server)
        self.status.checked_at = datetime.now(UTC)
        log.warning("MCP server %s disabled for this run: %s", self.server.name, self.status.reason)

    async def __aenter__(self) -> Self:
        try:
            await self.wrapped.__aenter__()
        except Exception as error:  # any failure disables only this server
            self._failed(error)
        else:
            self.entered = True
        return self

    async def __aexit__(self, *args: Any) -> bool | None:
        if not self.entered:
            return None
        self.entered = False
        try:
            return await self.wrapped.__aexit__(*args)
        except Exception as error:  # closing a broken session must not fail a turn
            log.warning(
                "MCP server %s: closing failed: %s", self.server.name, describe(error, self.server)
            )
            return None

    async def get_tools(self, ctx: RunContext[AgentDeps]) -> dict[str, ToolsetTool[AgentDeps]]:
        if not self.entered:
            return {}
        try:
            tools = await self.wrapped.get_tools(ctx)
        except Exception as error:  # any failure disables only this server
            self._failed(error)
            return {}
        self.status.state, self.status.reason, self.status.tools = "ok", None, len(tools)
        self.status.checked_at = datetime.now(UTC)
        return tools

    async def check(self) -> None:
        """Connect once and count the allowed tools, for the State page before any turn."""
        try:
            async with self.mcp:
                listed = await self.mcp.list_tools()
        except Exception as error:  # reported as the server's status
            self._failed(error)
            return
        allowed = set(self.server.allowed_tools)
        self.status.state, self.status.reason = "ok", None
        self.status.tools = sum(1 for tool in listed if tool.name in allowed)
        self.status.checked_at = datetime.now(UTC)


@dataclass
class McpTools:
    """The MCP toolsets of this runtime and the HTTP clients they own."""

    toolsets: list[McpTool] = field(default_factory=list)
    clients: list[httpx2.AsyncClient] = field(default_factory=list)

    def statuses(self) -> list[dict[str, Any]]:
        """Every server's status, in configuration order."""
        return [toolset.status.as_json() for toolset in self.toolsets]

    async def check(self) -> None:
        """Check every server once (concurrently)."""
        await asyncio.gather(*(toolset.check() for toolset in self.toolsets))

    async def close(self) -> None:
        """Close the HTTP clients (sessions close with the runs that opened them)."""
        for client in self.clients:
            await client.aclose()


def open_mcp(servers: list[McpServer], allowlist: Allowlist) -> McpTools:
    """A guarded, filtered, prefixed toolset per configured server."""
    result = McpTools()
    if not servers:
        return result
    # Imported only when a server is configured: pydantic_ai.mcp pulls in the MCP SDK and fastmcp,
    # over half of a runtime start's CPU (about 1.5 s of every start) for nothing.
    from pydantic_ai.mcp import MCPToolset

    for server in servers:
        client = httpx2.AsyncClient(
            transport=GuardedTransport(allowlist),
            headers=server.headers(),
            follow_redirects=False,
            trust_env=False,
            timeout=httpx2.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
        )
        mcp = MCPToolset[AgentDeps](
            server.url,
            id=f"mcp-{server.name}",
            http_client=client,
            init_timeout=CONNECT_TIMEOUT_S,
            read_timeout=READ_TIMEOUT_S,
        )
        allowed = frozenset(server.allowed_tools)

        def offered(
            _ctx: RunContext[AgentDeps], tool: ToolDefinition, allowed: frozenset[str] = allowed
        ) -> bool:
            return tool.name in allowed

        status = McpStatus(server.name, httpx.URL(server.url).host)
        wrapped = mcp.filtered(offered).prefixed(server.name)
        result.toolsets.append(McpTool(wrapped, server=server, mcp=mcp, status=status))
        result.clients.append(client)
    return result
