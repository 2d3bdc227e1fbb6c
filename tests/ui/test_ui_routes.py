"""The UI's routes in process: the page and its files behind the edge token, with a strict CSP,
and /api/state reporting backend, last durable write, counts, identity and the offline model."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from agent.runtime.app import create_app
from agent.runtime.settings import RuntimeSettings

EDGE_TOKEN = "ui-test-edge-token-0123"
H = {"x-agent-edge-token": EDGE_TOKEN, "x-agent-user": "owner@example.com"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = RuntimeSettings(
        agent_tenant="acme",
        agent_edge_token=EDGE_TOKEN,
        state_backend="local",
        state_dir=tmp_path / "state",
    )
    with TestClient(create_app(settings)) as client:
        for _ in range(500):
            if client.get("/readyz", headers=H).status_code == 200:
                break
            time.sleep(0.01)
        yield client


def test_page_and_assets_are_served_with_a_strict_policy(client: TestClient) -> None:
    page = client.get("/", headers=H)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/ui/app.js">' in page.text
    assert "offline model" in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "'unsafe-inline'" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    for asset, kind in (("/ui/app.js", "javascript"), ("/ui/app.css", "text/css")):
        response = client.get(asset, headers=H)
        assert response.status_code == 200, asset
        assert kind in response.headers["content-type"]
        assert response.headers["content-security-policy"] == csp
    # Markup only ever comes from the sanitiser (as a DOM fragment): no script of ours parses HTML.
    for name in ("app.js", "common.js", "devices.js", "markdown.js"):
        script = client.get(f"/ui/{name}", headers=H).text
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in script, (name, sink)
    markdown = client.get("/ui/markdown.js", headers=H).text
    assert 'from "./vendor/marked.esm.js"' in markdown
    assert "DOMPurify.sanitize(" in markdown
    for vendored in ("/ui/vendor/marked.esm.js", "/ui/vendor/purify.es.mjs"):
        response = client.get(vendored, headers=H)
        assert response.status_code == 200, vendored
        assert response.headers["content-type"].startswith("text/javascript"), vendored
        assert response.headers["content-security-policy"] == csp
    assert client.get("/ui/../settings.py", headers=H).status_code == 404
    assert client.get("/ui/missing.js", headers=H).status_code == 404


def test_ui_is_behind_the_edge_token(client: TestClient) -> None:
    for path in ("/", "/ui/app.js", "/api/state"):
        response = client.get(path, headers={"x-agent-edge-token": "wrong-token-0123456"})
        assert response.status_code == 401, path
        assert response.json()["error"] == "missing or wrong X-Agent-Edge-Token"


def test_state_reports_backend_counts_identity_and_last_durable_write(
    client: TestClient, tmp_path: Path
) -> None:
    before = client.get("/api/state", headers=H).json()
    assert before["user"] == "owner@example.com"
    assert before["tenant"] == "acme"
    assert (before["model"], before["offline"]) == ("offline", True)
    assert before["state"]["backend"] == "local"
    assert before["state"]["directory"] == str((tmp_path / "state").resolve())
    assert before["state"]["sync_mode"] == "write-through"
    assert before["state"]["last_durable_write"] is None
    assert before["state"]["last_buffered_write"] is None
    assert before["counts"] == {
        "sessions": 0,
        "memory_files": 0,
        "jobs_active": 0,
        "pairings_pending": 0,
    }

    started = datetime.now().astimezone()
    chat = client.post("/api/chat", headers=H, json={"message": "hi", "session_id": "s1"})
    assert chat.status_code == 200
    put = client.put("/api/memory/MEMORY.md", headers=H, json={"content": "- likes tea\n"})
    assert put.status_code == 200

    after = client.get("/api/state", headers=H).json()
    written = datetime.fromisoformat(after["state"]["last_durable_write"])
    assert written >= started
    assert after["counts"]["sessions"] == 1
    assert after["counts"]["memory_files"] == 1


def test_state_needs_an_identity(client: TestClient) -> None:
    response = client.get("/api/state", headers={"x-agent-edge-token": EDGE_TOKEN})
    assert response.status_code == 401
    assert response.json()["error"] == "missing X-Agent-User"


def test_periodic_sync_reports_buffered_not_durable_writes(tmp_path: Path) -> None:
    settings = RuntimeSettings(
        agent_tenant="acme",
        agent_edge_token=EDGE_TOKEN,
        state_backend="local",
        state_dir=tmp_path / "state",
        state_sync_mode="periodic",
        state_sync_interval_s=30,
    )
    with TestClient(create_app(settings)) as client:
        for _ in range(500):
            if client.get("/readyz", headers=H).status_code == 200:
                break
            time.sleep(0.01)
        chat = client.post("/api/chat", headers=H, json={"message": "hi", "session_id": "s1"})
        assert chat.status_code == 200
        state = client.get("/api/state", headers=H).json()["state"]
    assert state["sync_mode"] == "periodic"
    assert state["last_durable_write"] is None
    assert state["last_buffered_write"] is not None
    assert state["durability"] == "periodic: buffered, synced every 30 s"
