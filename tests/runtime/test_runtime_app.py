"""The HTTP and WebSocket service in-process (Starlette TestClient)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import suite_support
from runtime_support import EDGE_TOKEN, edge_headers
from starlette.testclient import TestClient

from agent.runtime.app import AppDeps, create_app
from agent.runtime.errors import StoreError
from agent.runtime.sessions import turn_key
from agent.runtime.settings import RuntimeSettings
from agent.runtime.store.base import StateStore
from agent.runtime.store.local import LocalDirStore

H = edge_headers()
wait_ready = partial(suite_support.wait_ready, headers=H, attempts=200)


@pytest.fixture
def client(settings: RuntimeSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        wait_ready(test_client)
        yield test_client


def test_health_is_open_everything_else_needs_the_edge_token(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    for path in ["/readyz", "/api/sessions"]:
        response = client.get(path)
        assert response.status_code == 401
        assert response.json()["error"] == "missing or wrong X-Agent-Edge-Token"
        wrong = client.get(path, headers={"X-Agent-Edge-Token": EDGE_TOKEN[:-1] + "x"})
        assert wrong.status_code == 401
    ready = client.get("/readyz", headers=H).json()
    assert ready == {"status": "ready", "engine": "native", "model": "offline", "offline": True}


def test_chat_reply_is_stored_before_it_is_returned(
    client: TestClient, settings: RuntimeSettings
) -> None:
    response = client.post("/api/chat", headers=H, json={"message": "hi", "session_id": "s1"})
    assert response.status_code == 200
    reply = response.json()
    assert reply["seq"] == 1
    assert reply["offline"] is True
    assert reply["reply"].startswith("[offline model] You said: 'hi'. This is message 1")
    stored = (settings.state_dir / turn_key("s1", 1)).read_text()
    assert reply["turn_id"] in stored
    second = client.post("/api/chat", headers=H, json={"message": "more", "session_id": "s1"})
    assert "This is message 2 of this session" in second.json()["reply"]  # history was used
    session = client.get("/api/sessions/s1", headers=H).json()
    assert [t["prompt"] for t in session["turns"]] == ["hi", "more"]
    assert session["turns"][0]["user"] == "alice@example.com"
    listing = client.get("/api/sessions", headers=H).json()["sessions"]
    assert [s["session_id"] for s in listing] == ["s1"]


def test_new_session_when_none_given(client: TestClient) -> None:
    reply = client.post("/api/chat", headers=H, json={"message": "hello"}).json()
    assert len(reply["session_id"]) == 32
    assert reply["seq"] == 1


def test_turn_id_makes_a_resend_idempotent(client: TestClient) -> None:
    body = {"message": "once", "session_id": "s", "turn_id": "req-1"}
    first = client.post("/api/chat", headers=H, json=body).json()
    again = client.post("/api/chat", headers=H, json=body).json()
    assert first == again
    assert len(client.get("/api/sessions/s", headers=H).json()["turns"]) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "message"),
        ({"message": ""}, "message"),
        ({"message": "x", "session_id": "../etc"}, "session_id"),
        ({"message": "x", "extra": 1}, "extra"),
        ({"message": 5}, "message"),
    ],
)
def test_bad_payload_is_422_naming_the_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    response = client.post("/api/chat", headers=H, json=body)
    assert response.status_code == 422
    payload = response.json()
    assert field in payload["error"]
    assert field in [f["field"] for f in payload["fields"]]
    assert payload["hint"].startswith("for example {")


def test_not_json_is_422(client: TestClient) -> None:
    response = client.post("/api/chat", headers=H, content=b"{nope")
    assert response.status_code == 422
    assert response.json()["fields"][0]["field"] == "body"


def test_identity_required_and_unknown_session_404(client: TestClient) -> None:
    no_user = client.post(
        "/api/chat", headers={"X-Agent-Edge-Token": EDGE_TOKEN}, json={"message": "x"}
    )
    assert no_user.status_code == 401
    assert no_user.json()["error"] == "missing X-Agent-User"
    missing = client.get("/api/sessions/nothing-here", headers=H)
    assert missing.status_code == 404


def test_websocket_streams_then_acknowledges(client: TestClient) -> None:
    with client.websocket_connect("/ws", headers=H) as socket:
        socket.send_json({"type": "chat", "message": "stream me", "session_id": "w"})
        frames = []
        while True:
            frame = socket.receive_json()
            frames.append(frame)
            if frame["type"] != "delta":
                break
        assert frames[-1]["type"] == "reply"
        assert len(frames) > 3
        streamed = "".join(f["text"] for f in frames[:-1])
        assert streamed == frames[-1]["reply"]
        socket.send_json({"type": "chat", "message": ""})
        error = socket.receive_json()
        assert error["type"] == "error"
        assert error["status"] == 422
        assert "message" in error["error"]


def test_websocket_without_token_is_refused(client: TestClient) -> None:
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws") as socket:
        socket.receive_json()


def test_webhook_recorded_once(client: TestClient, settings: RuntimeSettings) -> None:
    headers = {
        **H,
        **suite_support.INTERNAL,
        "X-Agent-Channel": "telegram",
        "X-Request-Id": "tg-42",
    }
    first = client.post("/webhooks/telegram", headers=headers, json={"update_id": 42})
    assert first.status_code == 202
    assert first.json() == {"recorded": "inbox/telegram/tg-42.json", "duplicate": False}
    again = client.post("/webhooks/telegram", headers=headers, json={"update_id": 42})
    assert again.json()["duplicate"] is True
    assert '"update_id":42' in (settings.state_dir / "inbox/telegram/tg-42.json").read_text()
    mismatch = client.post("/webhooks/slack", headers=headers, json={})
    assert mismatch.status_code == 400
    not_object = client.post("/webhooks/telegram", headers=headers, content=b"[1]")
    assert not_object.status_code == 422


def test_cron_tick_validated_and_recorded(client: TestClient) -> None:
    tick = {"cron": "*/5 * * * *", "scheduled_time": "2026-11-26T21:00:00Z"}
    internal = {**H, **suite_support.INTERNAL}
    response = client.post("/internal/cron", headers=internal, json=tick)
    assert response.status_code == 202
    assert response.json()["recorded"] == "inbox/cron/20261126T210000Z.json"
    bad = client.post("/internal/cron", headers=internal, json={"cron": "x", "scheduled_time": "x"})
    assert bad.status_code == 422
    assert "scheduled_time" in bad.json()["error"]


def test_per_user_sandbox_refuses_other_identities(tmp_path: Path) -> None:
    settings = RuntimeSettings(
        agent_tenant="acme",
        agent_edge_token=EDGE_TOKEN,
        state_backend="local",
        state_dir=tmp_path,
        agent_user="alice@example.com",
    )
    with TestClient(create_app(settings)) as client:
        wait_ready(client)
        other = client.get("/api/sessions", headers=edge_headers("bob@example.com"))
        assert other.status_code == 403
        client.post("/api/chat", headers=H, json={"message": "hi", "session_id": "s"})
    assert (tmp_path / "users/alice@example.com" / turn_key("s", 1)).exists()


class BrokenWrites:
    """Reads work, writes fail: no turn may be acknowledged."""

    def __init__(self, inner: StateStore) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def put(self, key: str, body: bytes, **_: object) -> str:
        raise StoreError(f"write of {key} refused")


def test_failed_write_is_not_acknowledged(settings: RuntimeSettings) -> None:
    store = BrokenWrites(LocalDirStore(settings.state_dir))
    with TestClient(create_app(settings, AppDeps(store=store))) as client:  # type: ignore[arg-type]
        wait_ready(client)
        response = client.post("/api/chat", headers=H, json={"message": "x", "session_id": "s"})
        assert response.status_code == 503
        assert response.json()["error"] == "state store unavailable; the turn was not saved"
        with client.websocket_connect("/ws", headers=H) as socket:
            socket.send_json({"type": "chat", "message": "x", "session_id": "s"})
            frames = [socket.receive_json()]
            while frames[-1]["type"] == "delta":
                frames.append(socket.receive_json())
            assert frames[-1]["type"] == "error"
            assert all(f["type"] != "reply" for f in frames)


class Unreachable:
    def __init__(self, inner: StateStore) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def check(self) -> None:
        raise StoreError("endpoint refused the connection")


def test_not_ready_until_the_store_answers(settings: RuntimeSettings) -> None:
    store = Unreachable(LocalDirStore(settings.state_dir))
    with TestClient(create_app(settings, AppDeps(store=store))) as client:  # type: ignore[arg-type]
        time.sleep(0.1)
        response = client.get("/readyz", headers=H)
        assert response.status_code == 503
        assert "state store not reachable" in response.json()["error"]
        chat = client.post("/api/chat", headers=H, json={"message": "x"})
        assert chat.status_code == 503


class CountingStore:
    def __init__(self, inner: StateStore) -> None:
        self.inner = inner
        self.reads = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def get(self, key: str) -> object:
        self.reads += 1
        return await self.inner.get(key)

    async def list(self, prefix: str, **page: object) -> object:
        self.reads += 1
        return await self.inner.list(prefix, **page)


def test_startup_reads_no_session(settings: RuntimeSettings) -> None:
    root = settings.state_dir
    for index in range(1000):
        path = root / "sessions" / f"s{index}" / "00000001.json"
        path.parent.mkdir(parents=True)
        path.write_text("{}")
    store = CountingStore(LocalDirStore(root))
    with TestClient(create_app(settings, AppDeps(store=store))) as client:  # type: ignore[arg-type]
        wait_ready(client)
        # Restore is lazy: readiness probes the restore path once, whatever is stored.
        assert store.reads == 2


class NoRestorePath:
    """Answers the health check, but cannot list checkpoints (e.g. a token without List)."""

    def __init__(self, inner: StateStore) -> None:
        self.inner = inner
        self.broken = True

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def list(self, prefix: str, **page: object) -> object:
        if self.broken:
            raise StoreError("listing refused")
        return await self.inner.list(prefix, **page)


def test_not_ready_until_a_cold_session_can_be_restored(settings: RuntimeSettings) -> None:
    store = NoRestorePath(LocalDirStore(settings.state_dir))
    with TestClient(create_app(settings, AppDeps(store=store))) as client:  # type: ignore[arg-type]
        time.sleep(0.1)
        response = client.get("/readyz", headers=H)
        assert response.status_code == 503
        assert "listing refused" in response.json()["error"]
        store.broken = False
        wait_ready(client)


def test_a_stop_signal_drains_at_once(settings: RuntimeSettings) -> None:
    import signal

    import uvicorn

    from agent.runtime.__main__ import _Server

    app = create_app(settings)
    with TestClient(app) as client:
        wait_ready(client)
        server = _Server(uvicorn.Config(app), app)
        server.handle_exit(signal.SIGTERM, None)
        assert server.should_exit
        ready = client.get("/readyz", headers=H)
        assert ready.status_code == 503
        assert ready.json()["error"] == "shutting down"
        chat = client.post("/api/chat", headers=H, json={"message": "late"})
        assert chat.status_code == 503
