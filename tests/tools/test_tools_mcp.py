"""MCP servers as tools: a real MCP server (the official `mcp` SDK, streamable HTTP on loopback)
used by a scripted model through the runtime; only allowed tools offered; a down server or an
SSRF-refused URL disables only its own tools, with its status on `GET /api/state`."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import suite_support
import uvicorn
from mcp.server.mcpserver import MCPServer
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send
from tools_support import H

from agent.runtime.app import create_app
from agent.runtime.engine import models
from agent.runtime.errors import ConfigError
from agent.runtime.settings import RuntimeSettings, load_settings

SECRET = "Bearer s3cr3t-mcp-header-value"
wait_ready = partial(suite_support.wait_ready, headers=H, attempts=300)


@dataclass
class McpSite:
    url: str
    calls: list[str] = field(default_factory=list)
    headers: list[str | None] = field(default_factory=list)


@contextmanager
def mcp_server() -> Iterator[McpSite]:
    """An MCP server with two tools, `add` and `delete_everything`, on a loopback port."""
    server = MCPServer("calc")
    site = McpSite(url="")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        site.calls.append("add")
        return a + b

    @server.tool()
    def delete_everything() -> str:
        """Must never be offered."""
        site.calls.append("delete_everything")
        return "deleted"

    inner = server.streamable_http_app()

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            found = dict(scope["headers"]).get(b"authorization")
            site.headers.append(found.decode() if found else None)
        await inner(scope, receive, send)

    app: ASGIApp = recording
    port = suite_support.free_port()
    # The streamable-HTTP session manager runs in the app's lifespan, so it stays on here.
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline, "MCP server did not start"
        time.sleep(0.01)
    site.url = f"http://127.0.0.1:{port}/mcp"
    try:
        yield site
    finally:
        uv.should_exit = True
        thread.join(10)


@dataclass
class Caller:
    """A model that calls the given tools once each, then answers with what it saw."""

    calls: list[tuple[str, dict[str, Any]]]
    offered: list[set[str]] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)

    def respond(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        self.offered.append({tool.name for tool in info.function_tools})
        last = messages[-1]
        if isinstance(last, ModelRequest):
            self.seen.extend(
                f"{part.tool_name}: {part.content}"
                for part in last.parts
                if isinstance(part, ToolReturnPart)
            )
        if len(self.offered) == 1 and self.calls:
            return ModelResponse(
                parts=[
                    ToolCallPart(name, args, tool_call_id=f"c{i}")
                    for i, (name, args) in enumerate(self.calls)
                ]
            )
        return ModelResponse(parts=[TextPart("saw " + " | ".join(self.seen))])

    async def stream(
        self, messages: list[ModelMessage], info: AgentInfo
    ) -> AsyncIterator[str | DeltaToolCalls]:
        response = self.respond(messages, info)
        for index, part in enumerate(response.parts):
            if isinstance(part, TextPart):
                yield part.content
            elif isinstance(part, ToolCallPart):
                yield {
                    index: DeltaToolCall(
                        name=part.tool_name,
                        json_args=part.args_as_json_str(),
                        tool_call_id=part.tool_call_id,
                    )
                }

    def model(self) -> FunctionModel:
        return FunctionModel(self.respond, stream_function=self.stream, model_name="caller")


def servers(*entries: dict[str, Any]) -> str:
    return json.dumps(list(entries))


def calc(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "calc",
        "url": url,
        "headerName": "Authorization",
        "headerValue": SECRET,
        "allowedTools": ["add"],
        **extra,
    }


def stored_turn_messages(state_dir: Path, turn_id: str) -> str:
    """The engine messages of the stored turn, as JSON text (read from the local state store)."""
    for path in state_dir.rglob("*"):
        if path.is_file() and turn_id.encode() in path.read_bytes():
            try:
                stored = json.loads(path.read_bytes())
            except ValueError:
                continue
            if isinstance(stored, dict) and stored.get("turn_id") == turn_id:
                return json.dumps(stored["messages"])
    raise AssertionError(f"turn {turn_id} is not stored under {state_dir}")


def mcp_state(client: TestClient) -> dict[str, dict[str, Any]]:
    state = client.get("/api/state", headers=H)
    assert state.status_code == 200
    assert SECRET not in state.text
    return {entry["name"]: entry for entry in state.json()["mcp_servers"]}


def configured(settings: RuntimeSettings, value: str, allowlist: str) -> RuntimeSettings:
    return load_settings(
        **{
            **settings.model_dump(),
            "agent_mcp_servers": value,
            "web_fetch_allowlist": allowlist,
        }
    )


def test_the_model_calls_an_allowed_mcp_tool_and_the_call_is_in_history(
    settings: RuntimeSettings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caller = Caller([("calc_add", {"a": 2, "b": 40}), ("calc_delete_everything", {})])
    monkeypatch.setattr(models, "build_model", lambda _settings: caller.model())
    with mcp_server() as site:
        down = {"name": "down", "url": f"http://127.0.0.1:{suite_support.free_port()}/mcp"}
        value = servers(calc(site.url), {**down, "allowedTools": ["anything"]})
        with TestClient(create_app(configured(settings, value, "127.0.0.1"))) as client:
            wait_ready(client)
            reply = client.post(
                "/api/chat", headers=H, json={"message": "add", "session_id": "mcp"}
            )
            assert reply.status_code == 200, reply.text
            text = reply.json()["reply"]
            statuses = mcp_state(client)

            turns = client.get("/api/sessions/mcp", headers=H).json()["turns"]

    # Only the allowed tool of the reachable server was offered; the down one offered nothing.
    assert caller.offered[0] >= {"calc_add", "fetch_url"}
    assert not {name for name in caller.offered[0] if name.startswith("down_")}
    assert "calc_delete_everything" not in caller.offered[0]
    # The allowed tool ran on the server with the header; the other one never reached it.
    assert site.calls == ["add"]
    assert SECRET in site.headers
    assert "calc_add: 42" in text
    # In history like any tool: the call and its result are in the stored turn's messages.
    assert [turn["prompt"] for turn in turns] == ["add"]
    history = stored_turn_messages(settings.state_dir, turns[0]["turn_id"])
    assert '"tool_name": "calc_add"' in history
    assert '"content": 42' in history or '"content": "42"' in history
    # Statuses: the reachable server ok with one tool, the down one an error saying why.
    assert statuses["calc"]["state"] == "ok"
    assert statuses["calc"]["tools"] == 1
    assert statuses["down"]["state"] == "error"
    assert statuses["down"]["tools"] == 0
    assert statuses["down"]["reason"]
    assert "Connect" in statuses["down"]["reason"] or "connect" in statuses["down"]["reason"]
    assert SECRET not in caplog.text
    assert SECRET not in json.dumps(history)


@pytest.mark.parametrize(
    ("url", "allowlist", "says"),
    [
        ("http://169.254.169.254/mcp", "", "link-local"),
        ("LOOPBACK", "", "loopback"),  # a loopback server is refused without the allowlist
    ],
)
def test_an_ssrf_refused_mcp_url_is_never_contacted(
    settings: RuntimeSettings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    url: str,
    allowlist: str,
    says: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    caller = Caller([("fetch_url", {"url": "ftp://nowhere"})])
    monkeypatch.setattr(models, "build_model", lambda _settings: caller.model())
    with mcp_server() as site:
        value = servers(calc(site.url if url == "LOOPBACK" else url))
        with TestClient(create_app(configured(settings, value, allowlist))) as client:
            wait_ready(client)
            reply = client.post("/api/chat", headers=H, json={"message": "hi"})
            assert reply.status_code == 200, reply.text
            statuses = mcp_state(client)
    assert site.headers == []  # nothing reached the server
    assert not {name for name in caller.offered[0] if name.startswith("calc_")}
    assert "fetch_url" in caller.offered[0]  # the other tools still run
    assert statuses["calc"]["state"] == "error"
    assert statuses["calc"]["reason"].startswith("refused: ")
    assert says in statuses["calc"]["reason"]
    assert "WEB_FETCH_ALLOWLIST" in statuses["calc"]["reason"]
    assert SECRET not in caplog.text


@pytest.mark.parametrize(
    ("entries", "says"),
    [
        ("not json", "is not JSON"),
        (servers({"name": "Calc", "url": "http://x/mcp", "allowedTools": ["a"]}), "entry 0"),
        (servers({"name": "calc", "url": "ftp://x/mcp", "allowedTools": ["a"]}), "field url"),
        (servers({"name": "calc", "url": "http://x/mcp", "allowedTools": []}), "allowedTools"),
        (servers({"name": "calc", "url": "http://x/mcp"}), "allowedTools"),
        (
            servers(
                {"name": "calc", "url": "http://x", "headerValue": SECRET, "allowedTools": ["a"]}
            ),
            "headerName and headerValue go together",
        ),
        (
            servers(
                {
                    "name": "calc",
                    "url": "http://x",
                    "headerName": "X-Key",
                    "headerValue": SECRET,
                    "allowedTools": ["a"],
                    "extra": SECRET,
                }
            ),
            "field extra",
        ),
        (servers(*[{"name": "calc", "url": "http://x", "allowedTools": ["a"]}] * 2), "used twice"),
        (servers({"name": "calc", "url": "http://x", "allowedTools": ["a b"]}), "no tool name"),
    ],
)
def test_bad_mcp_settings_fail_naming_the_variable_and_field_never_the_secret(
    settings: RuntimeSettings, entries: str, says: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        configured(settings, entries, "")
    message = str(raised.value)
    assert "AGENT_MCP_SERVERS" in message
    assert says in message
    assert SECRET not in message
    assert "example" in message
