"""The OpenClaw engine end to end with a fake gateway: real processes, real sockets.

Readiness, edge-token check, HTTP and WebSocket proxying, restart with backoff, pairing admin,
continuous state sync with consistent SQLite copies, final flush on SIGTERM, restore on start.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import time
import uuid
from pathlib import Path

import pytest
from openclaw_support import EDGE, EDGE_TOKEN, RuntimeChild, spawn, wait_for
from suite_support import HANG_S, HTTP
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

pytestmark = pytest.mark.slow


def stored_value(store: Path, key: str) -> str | None:
    """Read a key from the store's copy of the fake gateway's SQLite database."""
    stored = store / "openclaw" / "state" / "openclaw.sqlite"
    if not stored.exists():
        return None
    # Query a private copy: opening a WAL database, even read-only, creates sidecars beside it.
    copy = store.parent / f"probe-{uuid.uuid4().hex}.sqlite"
    copy.write_bytes(stored.read_bytes())
    db = sqlite3.connect(copy)
    try:
        row = db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
    except sqlite3.DatabaseError:
        return None
    finally:
        db.close()
    return row[0] if row else None


def put(child: RuntimeChild, key: str, value: str) -> None:
    response = HTTP.post(
        f"{child.url}/fake/put", params={"key": key, "value": value}, headers=EDGE, timeout=5
    )
    assert response.status_code == 200, response.text


def test_proxy_readiness_and_edge_token(
    tmp_path: Path, fake_openclaw: Path, children: list[RuntimeChild]
) -> None:
    gateway_ready = tmp_path / "gateway-ready"
    child = spawn(tmp_path, fake_openclaw, {"FAKE_READY_FILE": str(gateway_ready)})
    children.append(child)
    wait_for(lambda: child.readyz() is not None, HANG_S, "runtime listening")
    first = child.readyz()
    assert first is not None
    assert first.status_code == 503  # the gateway's port may be open, its /readyz is not yet
    assert "not ready" in first.json()["error"]
    gateway_ready.touch()
    child.wait_ready()
    body = child.readyz().json()  # type: ignore[union-attr]
    assert body == {
        "status": "ready",
        "engine": "openclaw",
        "model": "offline",
        "gateway_starts": 1,
    }

    assert HTTP.get(f"{child.url}/fake/echo").status_code == 401
    assert HTTP.get(f"{child.url}/healthz").json() == {"status": "ok"}

    echoed = HTTP.post(
        f"{child.url}/fake/echo?a=1&b=two",
        headers={
            **EDGE,
            "X-Agent-Internal": "not-forwarded",
            "X-Forwarded-For": "127.0.0.1",
            "CF-Connecting-IP": "93.184.216.34",
        },
        content=b"hello gateway",
    )
    assert echoed.status_code == 200
    assert echoed.headers["x-fake"] == "1"
    seen = echoed.json()
    assert seen["method"] == "POST"
    assert seen["query"] == "a=1&b=two"
    assert seen["body"] == "hello gateway"
    assert seen["headers"]["x-forwarded-for"] == "93.184.216.34"  # overwritten, never loopback
    assert "x-agent-edge-token" not in seen["headers"]
    assert "x-agent-internal" not in seen["headers"]
    anonymous = HTTP.get(f"{child.url}/fake/echo", headers=EDGE).json()
    assert anonymous["headers"]["x-forwarded-for"] == "192.0.2.1"  # unattributed = remote

    html = HTTP.get(f"{child.url}/some/ui/page", headers=EDGE)
    assert html.headers["content-type"].startswith("text/html")

    with HTTP.stream("GET", f"{child.url}/fake/stream", headers=EDGE) as response:
        arrivals = [time.monotonic() for _ in response.iter_raw()]
    assert len(arrivals) == 3
    assert arrivals[-1] - arrivals[0] > 0.4  # streamed as produced, not buffered

    ws_url = f"ws://127.0.0.1:{child.port}/"
    with pytest.raises(InvalidStatus):
        connect(ws_url, open_timeout=5).close()  # no edge token
    with connect(ws_url, additional_headers=EDGE, open_timeout=5) as ws:
        challenge = json.loads(ws.recv(5))
        assert challenge["event"] == "connect.challenge"
        ws.send(json.dumps({"type": "req", "id": "1", "params": {"auth": {"token": "wrong"}}}))
        refused = json.loads(ws.recv(5))
        assert refused["ok"] is False  # the proxy never adds the gateway's token


def test_restart_with_backoff_and_pairing_admin(
    tmp_path: Path, fake_openclaw: Path, children: list[RuntimeChild]
) -> None:
    child = spawn(tmp_path, fake_openclaw)
    children.append(child)
    child.wait_ready()

    devices = HTTP.get(f"{child.url}/api/openclaw/devices", headers=EDGE).json()
    assert [p["requestId"] for p in devices["pending"]] == ["req-0001-abcd"]
    bad = HTTP.post(f"{child.url}/api/openclaw/devices/$(reboot)/approve", headers=EDGE)
    assert bad.status_code in {404, 422}
    weird = HTTP.post(f"{child.url}/api/openclaw/devices/x;rm -rf/approve", headers=EDGE)
    assert weird.status_code == 422
    assert "request_id" in weird.json()["error"]
    unknown = HTTP.post(f"{child.url}/api/openclaw/devices/req-9999-zzzz/approve", headers=EDGE)
    assert unknown.status_code == 404
    approved = HTTP.post(f"{child.url}/api/openclaw/devices/req-0001-abcd/approve", headers=EDGE)
    assert approved.status_code == 200
    assert approved.json()["device"]["deviceId"] == "dev-1"
    after = HTTP.get(f"{child.url}/api/openclaw/devices", headers=EDGE).json()
    assert after["pending"] == []
    assert [d["deviceId"] for d in after["paired"]] == ["dev-1"]

    put(child, "before-crash", "kept")
    HTTP.post(f"{child.url}/fake/exit", params={"code": "3"}, headers=EDGE)
    wait_for(lambda: child.readyz().status_code == 503, HANG_S, "not ready after the crash")  # type: ignore[union-attr]
    child.wait_ready()
    assert child.readyz().json()["gateway_starts"] == 2  # type: ignore[union-attr]
    got = HTTP.get(f"{child.url}/fake/get", params={"key": "before-crash"}, headers=EDGE)
    assert got.json() == {"value": "kept"}
    assert "exited with code 3; restarting in 1 s" in child.output()

    status = HTTP.get(f"{child.url}/api/openclaw/status", headers=EDGE).json()
    assert status["ready"] is True
    assert status["gateway"]["starts"] == 2
    assert status["state"]["uploads"] >= 1
    assert status["state"]["last_synced_at"].endswith("+00:00")
    put(child, "backup-now", "yes")
    assert HTTP.post(f"{child.url}/api/openclaw/sync", headers=EDGE).status_code == 200
    assert HTTP.post(f"{child.url}/api/openclaw/sync").status_code == 401
    assert HTTP.post(f"{child.url}/api/openclaw/restart", headers=EDGE).status_code == 202
    child.wait_ready()
    assert child.readyz().json()["gateway_starts"] == 3  # type: ignore[union-attr]
    assert child.output().count("restarting in") == 1  # a requested restart skips the backoff


def test_state_sync_flush_and_restore(
    tmp_path: Path, fake_openclaw: Path, children: list[RuntimeChild]
) -> None:
    store = tmp_path / "store"
    child = spawn(tmp_path, fake_openclaw)
    children.append(child)
    child.wait_ready()
    workspace = Path(json.loads(_config_of(child))["agents"]["defaults"]["workspace"])

    put(child, "live", "v1")
    wait_for(lambda: stored_value(store, "live") == "v1", HANG_S, "SQLite change synced")
    (workspace / "MEMORY.md").write_text("remember the milk\n")
    wait_for(
        lambda: (store / "openclaw/workspace/MEMORY.md").exists(), HANG_S, "workspace file synced"
    )
    mirror = store / "openclaw"
    stored = {p.relative_to(mirror).as_posix() for p in mirror.rglob("*") if p.is_file()}
    assert "state/openclaw.sqlite" in stored
    leaked = [p for p in stored if p.endswith(("-wal", "-shm")) or ".lock" in p or "cache/" in p]
    assert leaked == []  # sidecars, locks and caches stay local
    assert not (store / "openclaw" / "openclaw.json").exists()  # rendered, never stored

    put(child, "last-word", "flushed")
    # SIGTERM: gateway stopped, then the final flush (uvicorn re-raises the signal on exit)
    assert child.terminate() in {0, -signal.SIGTERM}
    assert stored_value(store, "last-word") == "flushed"
    assert stored_value(store, "shutdown") == "clean"  # written by the gateway as it stopped
    assert "final OpenClaw state flush" in child.output()

    fresh = spawn(tmp_path, fake_openclaw)  # a new, empty OPENCLAW_STATE_DIR: a new container
    children.append(fresh)
    fresh.wait_ready()
    for key, value in {"live": "v1", "last-word": "flushed"}.items():
        got = HTTP.get(f"{fresh.url}/fake/get", params={"key": key}, headers=EDGE)
        assert got.json() == {"value": value}
    restored_ws = Path(json.loads(_config_of(fresh))["agents"]["defaults"]["workspace"])
    assert (restored_ws / "MEMORY.md").read_text() == "remember the milk\n"
    assert EDGE_TOKEN not in _config_of(fresh)


def _config_of(child: RuntimeChild) -> str:
    env_line = [a for a in child.proc.args if isinstance(a, str)]  # argv only; env below
    assert env_line
    state_dir = Path(_env(child)["OPENCLAW_STATE_DIR"])
    return (state_dir / "openclaw.json").read_text()


def _env(child: RuntimeChild) -> dict[str, str]:
    environ = Path(f"/proc/{child.proc.pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in environ if b"=" in item)
