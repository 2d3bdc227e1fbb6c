"""Malformed and unexpected WebSocket frames on /ws: each gets a close code or an error frame,
never a dropped socket, and no bad frame touches a session."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import suite_support
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from runtime_support import RuntimeProcess, edge_headers, spawn_runtime
from starlette.testclient import TestClient, WebSocketTestSession
from starlette.websockets import WebSocketDisconnect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from agent.runtime.app import create_app
from agent.runtime.routes.ws import MAX_FRAME_BYTES
from agent.runtime.settings import RuntimeSettings

H = edge_headers()
wait_ready = partial(suite_support.wait_ready, headers=H, attempts=200)

# Frames a client might send by mistake or on purpose, with the field the error must name.
BAD_FRAMES = [
    ("hello", "frame"),  # not JSON
    ("", "frame"),
    ("{", "frame"),
    ('{"type": "chat", "message": "x"', "frame"),  # truncated
    ("[1, 2]", "frame"),  # JSON, not an object
    ('"chat"', "frame"),
    ("null", "frame"),
    ("42", "frame"),
    ("{}", "type"),
    ('{"type": "chat"}', "message"),
    ('{"type": "ping"}', "type"),
    ('{"type": "chat", "message": ""}', "message"),
    ('{"type": "chat", "message": 7}', "message"),
    ('{"type": "chat", "message": ["a"]}', "message"),
    ('{"type": "chat", "message": "x", "session_id": "../etc"}', "session_id"),
    ('{"type": "chat", "message": "x", "session_id": 5}', "session_id"),
    ('{"type": "chat", "message": "x", "turn_id": "a b"}', "turn_id"),
    ('{"type": "chat", "message": "x", "admin": true}', "admin"),
    ('{"type": "chat", "message": "' + "y" * 40_000 + '"}', "message"),
    ("[" * 100_000 + "]" * 100_000, "frame"),  # nesting deeper than any parser stack
    ('{"type": "chat", "message": "\\ud800"}', "frame"),  # lone surrogate: not valid JSON text
]


@pytest.fixture
def client(settings: RuntimeSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        wait_ready(test_client)
        yield test_client


def chat(socket: WebSocketTestSession, message: str, session_id: str) -> dict[str, Any]:
    """Send a chat frame and return the frame that ends the turn (reply or error)."""
    socket.send_json({"type": "chat", "message": message, "session_id": session_id})
    frame: dict[str, Any] = socket.receive_json()
    while frame["type"] == "delta":
        frame = socket.receive_json()
    return frame


def stored(settings: RuntimeSettings) -> list[str]:
    sessions = settings.state_dir / "sessions"
    return sorted(p.relative_to(sessions).as_posix() for p in sessions.rglob("*.json"))


def test_bad_frames_get_error_frames_and_the_session_carries_on(
    client: TestClient, settings: RuntimeSettings
) -> None:
    with client.websocket_connect("/ws", headers=H) as socket:
        assert chat(socket, "first", "s")["seq"] == 1
        for raw, field in BAD_FRAMES:
            socket.send_text(raw)
            error = socket.receive_json()
            assert error["type"] == "error", raw[:80]
            assert error["status"] == 422
            assert error["error"].startswith("invalid frame: ")
            assert field in [item["field"] for item in error["fields"]], (raw[:80], error)
            assert '"type": "chat"' in error["hint"]
            assert "y" * 100 not in json.dumps(error)  # the input is not echoed back
        assert chat(socket, "second", "s")["seq"] == 2
    assert stored(settings) == ["s/00000001.json", "s/00000002.json"]


def test_a_binary_frame_closes_with_1003(client: TestClient, settings: RuntimeSettings) -> None:
    with client.websocket_connect("/ws", headers=H) as socket:
        socket.send_bytes(b'{"type": "chat", "message": "hi"}')
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()
    assert closed.value.code == 1003
    assert closed.value.reason == "binary frames are not accepted"
    assert stored(settings) == []


@pytest.mark.parametrize("size", [MAX_FRAME_BYTES + 1, 3 * MAX_FRAME_BYTES])
def test_an_oversize_frame_closes_with_1009(client: TestClient, size: int) -> None:
    with client.websocket_connect("/ws", headers=H) as socket:
        socket.send_text('{"type": "chat", "message": "' + "z" * size + '"}')
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()
    assert closed.value.code == 1009


def test_multibyte_text_is_measured_in_bytes(client: TestClient) -> None:
    with client.websocket_connect("/ws", headers=H) as socket:
        socket.send_text("é" * (MAX_FRAME_BYTES // 2 + 1))  # under the limit in characters
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()
    assert closed.value.code == 1009


def test_a_socket_without_identity_is_closed_with_1008(client: TestClient) -> None:
    headers = {k: v for k, v in H.items() if k != "X-Agent-User"}
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect("/ws", headers=headers),
    ):
        pass
    assert closed.value.code == 1008


def test_a_failing_turn_is_an_error_frame_and_the_socket_stays(
    client: TestClient, settings: RuntimeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    real_turn = runtime.service.turn

    async def explode(*_args: object, **_kwargs: object) -> None:
        raise KeyError("text")  # what the attack run saw: an unexpected exception in the handler

    with client.websocket_connect("/ws", headers=H) as socket:
        monkeypatch.setattr(runtime.service, "turn", explode)
        error = chat(socket, "boom", "s")
        assert error == {
            "type": "error",
            "session_id": "s",
            "turn_id": None,
            "status": 500,
            "error": "internal error; the turn was not saved",
            "hint": "retry; see the logs",
        }
        monkeypatch.setattr(runtime.service, "turn", real_turn)
        assert chat(socket, "after", "s")["seq"] == 1


@pytest.mark.slow  # over half a second of CPU (make test-cost)
def test_fuzzed_text_frames_never_close_the_socket(tmp_path: Path) -> None:
    settings_ = RuntimeSettings(
        agent_tenant="acme",
        agent_edge_token=suite_support.EDGE_TOKEN,
        state_backend="local",
        state_dir=tmp_path / "state",
    )
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
        max_leaves=12,
    )
    frames = (
        st.text(max_size=200)
        | json_values.map(json.dumps)
        | st.fixed_dictionaries(
            {"type": st.sampled_from(["chat", "Chat", "", "reply"])},
            optional={
                "message": json_values,
                "session_id": st.text(max_size=40) | json_values,
                "turn_id": st.text(max_size=40),
            },
        ).map(json.dumps)
    )
    with (
        TestClient(create_app(settings_)) as client,
        client.websocket_connect("/ws", headers=H) as socket,
    ):
        wait_ready(client)
        replies = 0

        @settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
        @given(raw=frames)
        def one_frame(raw: str) -> None:
            nonlocal replies
            socket.send_text(raw)
            frame = socket.receive_json()
            while frame["type"] == "delta":
                frame = socket.receive_json()
            if frame["type"] == "reply":
                replies += 1
            else:
                assert frame["type"] == "error"
                assert frame["status"] == 422, frame

        one_frame()
        # Whatever came before, the socket still serves turns and only replies were stored.
        assert chat(socket, "still here", "fuzz-end")["seq"] == 1
    assert len(stored(settings_)) == replies + 1


@pytest.mark.slow
def test_a_real_server_sends_proper_close_frames(
    tmp_path: Path, runtimes: list[RuntimeProcess]
) -> None:
    """Through uvicorn and the websockets library: the client sees each close code (the attack
    run saw the connection dropped without one), and a client that leaves mid-turn loses nothing."""
    runtime = spawn_runtime(
        tmp_path, {"STATE_BACKEND": "local", "STATE_DIR": str(tmp_path / "state")}
    )
    runtimes.append(runtime)
    runtime.wait_ready()
    url = f"ws://127.0.0.1:{runtime.port}/ws"
    # Fresh headers each time: Starlette's TestClient adds its handshake headers to the dict it
    # is given, and H went through it above.

    def close_code(send: Any) -> int | None:
        with connect(url, additional_headers=edge_headers(), max_size=None) as socket:
            send(socket)
            with pytest.raises(ConnectionClosed) as closed:
                socket.recv(timeout=30)
        assert closed.value.rcvd is not None, "closed without a close frame"
        return closed.value.rcvd.code

    assert close_code(lambda ws: ws.send(b"\x00\x01")) == 1003
    assert close_code(lambda ws: ws.send(b'{"type": "\xff"}', text=True)) == 1007
    assert close_code(lambda ws: ws.send("x" * (MAX_FRAME_BYTES + 1))) == 1009

    with connect(url, additional_headers=edge_headers()) as socket:
        socket.send('{"type": "chat", "message": "bye", "session_id": "gone", "turn_id": "t-1"}')
        assert json.loads(socket.recv(timeout=30))["type"] == "delta"
    # The turn finishes and is stored although nobody is listening; resending its id returns it.
    with connect(url, additional_headers=edge_headers()) as socket:
        socket.send('{"type": "chat", "message": "bye", "session_id": "gone", "turn_id": "t-1"}')
        frame = json.loads(socket.recv(timeout=30))
        while frame["type"] == "delta":
            frame = json.loads(socket.recv(timeout=30))
    assert (frame["type"], frame["seq"], frame["turn_id"]) == ("reply", 1, "t-1")
    assert (tmp_path / "state/sessions/gone/00000001.json").exists()
    runtime.terminate()
