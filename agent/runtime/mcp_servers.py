"""AGENT_MCP_SERVERS: the MCP tool servers the native engine connects to (docs/mcp.md).

The setting is one JSON list, a secret because it holds header values. Each entry names a server
(also the prefix of its tools), its streamable-HTTP URL, an optional header sent with every
request (e.g. `Authorization: Bearer …`) and the tools the agent may use; a tool not listed is
never offered to the model. Errors name the entry and field, never a header value.
"""

from __future__ import annotations

import json
import re

from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter, ValidationError
from pydantic.alias_generators import to_camel

__all__ = ["EXAMPLE", "McpServer", "parse_mcp_servers"]

EXAMPLE = (
    '[{"name":"docs","url":"https://mcp.example.com/mcp","headerName":"Authorization",'
    '"headerValue":"Bearer <token>","allowedTools":["search"]}]'
)
# A server name prefixes its tools (`docs_search`): model APIs take [A-Za-z0-9_-] in tool names.
NAME = r"^[a-z][a-z0-9]{0,19}$"
TOOL = r"^[A-Za-z0-9_.-]{1,64}$"
HEADER = r"^[A-Za-z0-9-]{1,64}$"


class McpServer(BaseModel):
    """One MCP server: where it is, how to authenticate, which of its tools the agent may use."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    name: str = Field(pattern=NAME)
    url: str = Field(pattern=r"^https?://[^\s/@]+(/\S*)?$")
    header_name: str | None = Field(default=None, pattern=HEADER)
    header_value: SecretStr | None = None
    allowed_tools: list[str] = Field(min_length=1)

    def headers(self) -> dict[str, str]:
        """The header sent with every request, if any."""
        if self.header_name is None or self.header_value is None:
            return {}
        return {self.header_name: self.header_value.get_secret_value()}


_LIST = TypeAdapter(list[McpServer])


def _where(loc: tuple[int | str, ...]) -> str:
    if not loc:
        return "the list"
    head = f"entry {loc[0]}"
    return f"{head} field {'.'.join(str(part) for part in loc[1:])}" if len(loc) > 1 else head


def parse_mcp_servers(raw: str) -> list[McpServer]:
    """The servers in AGENT_MCP_SERVERS, or ValueError naming each bad entry and field."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"is not JSON ({error.msg} at character {error.pos})") from None
    try:
        servers = _LIST.validate_python(data)
    except ValidationError as error:
        # Only the message and location: pydantic's `input` could be a header value.
        found = "; ".join(f"{_where(e['loc'])}: {e['msg']}" for e in error.errors())
        raise ValueError(found) from None
    problems: list[str] = []
    names = [server.name for server in servers]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"server name {name!r} is used twice")
    for index, server in enumerate(servers):
        if (server.header_name is None) != (server.header_value is None):
            problems.append(f"entry {index}: headerName and headerValue go together")
        for tool in server.allowed_tools:
            if not re.fullmatch(TOOL, tool):
                problems.append(f"entry {index} field allowedTools: {tool!r} is no tool name")
    if problems:
        raise ValueError("; ".join(problems))
    return servers
