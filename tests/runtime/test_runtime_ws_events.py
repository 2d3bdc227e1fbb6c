"""What /ws streams while a turn runs (text deltas, tool calls and their results) and how a stop
frame ends a turn: nothing of a stopped turn is stored, and a later turn on the socket runs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel
from rt_support import edge_headers
from starlette.testclient import TestClient, WebSocketTestSession
from suite_support import EDGE_TOKEN, wait_ready

from agent.runtime.app import AppDeps, create_app
from agent.runtime.engine.native import NativeEngine
from agent.runtime.settings import RuntimeSettings
from agent.runtime.store.local import LocalDirStore
from agent.runtime.tools.memory import MemoryBook, memory_toolset

H = edge_headers()


async def stream(
    messages: list[ModelMessage], _info: AgentInfo
) -> AsyncIterator[str | DeltaToolCalls]:
    request = messages[-1]
    assert isinstance(request, ModelRequest)
    returned = [p for p in request.parts if isinstance(p, ToolReturnPart)]
    prompt = str(request.parts[-1].content) if not returned else ""
    if returned:
        yield f"stored: {returned[0].content}"
    elif prompt.startswith("remember"):
        args = json.dumps({"note": "likes tea", "long_term": True})
        yield {0: DeltaToolCall(name="remember", json_args=args, tool_call_id="call-1")}
    elif prompt.startswith("recall"):
        args = json.dumps({"path": "../secrets"})
        yield {0: DeltaToolCall(name="recall", json_args=args, tool_call_id="call-2")}
    elif prompt.startswith("hang"):
        yield "partial "
        await asyncio.sleep(3600)
    else:
        yield "echo: "
        yield prompt


def respond(_messages: list[ModelMessage], _info: AgentInfo) -> ModelResponse:
    return ModelResponse(parts=[TextPart("unused")])


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = RuntimeSettings(
        agent_tenant="acme",
        agent_edge_token=EDGE_TOKEN,
        state_backend="local",
        state_dir=tmp_path / "state",
    )
    store = LocalDirStore(tmp_path / "state")
    engine = NativeEngine(
        FunctionModel(respond, stream_function=stream, model_name="script"),
        label="script",
        offline=False,
        instructions="test",
        toolsets=[memory_toolset(MemoryBook(store, settings.agent_timezone))],
    )
    with TestClient(create_app(settings, AppDeps(store=store, engine=engine))) as test_client:
        wait_ready(test_client, headers=H, attempts=500)
        yield test_client


def until_end(socket: WebSocketTestSession) -> list[dict[str, Any]]:
    """Frames up to and including the one that ends a turn."""
    frames = [socket.receive_json()]
    while frames[-1]["type"] in ("delta", "tool_call", "tool_result"):
        frames.append(socket.receive_json())
    return frames


def turn(message: str, turn_id: str, session_id: str = "s1") -> dict[str, str]:
    return {"type": "chat", "message": message, "session_id": session_id, "turn_id": turn_id}


def test_tool_calls_and_results_stream_before_the_reply(client: TestClient) -> None:
    with client.websocket_connect("/ws", headers=H) as socket:
        socket.send_json(turn("remember I like tea", "t1"))
        frames = until_end(socket)
    kinds = [f["type"] for f in frames]
    assert kinds == ["tool_call", "tool_result", "delta", "reply"]
    call, result = frames[0], frames[1]
    assert call == {
        "type": "tool_call",
        "session_id": "s1",
        "turn_id": "t1",
        "call_id": "call-1",
        "name": "remember",
        "args": '{"note":"likes tea","long_term":true}',
    }
    assert result["call_id"] == "call-1"
    assert result["ok"] is True
    assert "MEMORY.md" in result["result"]
    tools = client.get("/api/sessions/s1", headers=H).json()["turns"][0]["tools"]
    assert tools == [
        {
            "call_id": "call-1",
            "name": "remember",
            "args": call["args"],
            "result": result["result"],
            "ok": True,
        }
    ]


def test_a_failed_tool_call_is_reported_as_failed(client: TestClient) -> None:
    with client.websocket_connect("/ws", headers=H) as socket:
        socket.send_json(turn("recall ../secrets", "t1"))
        frames = until_end(socket)
    result = next(f for f in frames if f["type"] == "tool_result")
    assert result["name"] == "recall"
    assert result["ok"] is False
    assert "'../secrets' is not a memory file path" in result["result"]  # the tool's own words
    assert frames[-1]["type"] == "reply"
    tools = client.get("/api/sessions/s1", headers=H).json()["turns"][0]["tools"]
    assert [(t["name"], t["ok"]) for t in tools] == [("recall", False)]


def test_a_stopped_turn_is_not_stored_and_the_socket_goes_on(client: TestClient) -> None:
    with client.websocket_connect("/ws", headers=H) as socket:
        socket.send_json(turn("hang on", "t1"))
        assert socket.receive_json() == {
            "type": "delta",
            "session_id": "s1",
            "turn_id": "t1",
            "text": "partial ",
        }
        socket.send_json(turn("after", "t2"))  # waits behind t1
        socket.send_json({"type": "stop", "turn_id": "t2"})  # a waiting turn is dropped
        assert socket.receive_json() == {"type": "stopped", "session_id": "s1", "turn_id": "t2"}
        socket.send_json({"type": "stop"})  # no turn_id: the running one
        assert socket.receive_json() == {"type": "stopped", "session_id": "s1", "turn_id": "t1"}
        socket.send_json({"type": "stop", "turn_id": "t1"})  # nothing running: ignored
        socket.send_json(turn("next", "t3"))
        frames = until_end(socket)
    assert frames[-1]["type"] == "reply"
    assert frames[-1]["reply"] == "echo: next"
    stored = client.get("/api/sessions/s1", headers=H).json()["turns"]
    assert [(t["turn_id"], t["seq"]) for t in stored] == [("t3", 1)]


def test_a_bad_stop_frame_names_the_field(client: TestClient) -> None:
    with client.websocket_connect("/ws", headers=H) as socket:
        socket.send_json({"type": "stop", "turn_id": "a b"})
        error = socket.receive_json()
    assert error["type"] == "error"
    assert error["status"] == 422
    assert error["error"] == "invalid frame: turn_id"
    assert '{"type": "stop", "turn_id": "t-1"}' in error["hint"]
