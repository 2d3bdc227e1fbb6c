"""Our admin UI in openclaw mode, in process: `/_agent/` serves the Devices page and its files
(edge token in front, the same strict CSP) while `/` stays OpenClaw's Control UI; native mode is
unchanged (`/` is our page, nothing under `/_agent/`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from openclaw_support import EDGE, EDGE_TOKEN, free_port
from starlette.testclient import TestClient

from agent.runtime.app import create_app
from agent.runtime.settings import RuntimeSettings
from agent.runtime.ui_files import SECURITY_HEADERS

CSP = SECURITY_HEADERS["content-security-policy"]
ASSETS = {
    "devices.js": "javascript",
    "common.js": "javascript",
    "app.css": "text/css",
}


def settings(tmp_path: Path, **extra: object) -> RuntimeSettings:
    return RuntimeSettings(
        agent_tenant="acme",
        agent_edge_token=EDGE_TOKEN,
        state_backend="local",
        state_dir=tmp_path / "store",
        **extra,  # type: ignore[arg-type]
    )


def wait_ready(client: TestClient) -> None:
    deadline = time.monotonic() + 30
    while client.get("/readyz", headers=EDGE).status_code != 200:
        if time.monotonic() > deadline:
            raise AssertionError(f"not ready: {client.get('/readyz', headers=EDGE).text}")
        time.sleep(0.05)


@pytest.fixture
def openclaw(tmp_path: Path, fake_openclaw: Path) -> Iterator[TestClient]:
    app = create_app(
        settings(
            tmp_path,
            agent_engine="openclaw",
            openclaw_bin=str(fake_openclaw),
            openclaw_state_dir=tmp_path / "oc",
            openclaw_gateway_port=free_port(),
        )
    )
    with TestClient(app) as client:
        wait_ready(client)
        yield client


@pytest.mark.slow  # starts the fake OpenClaw gateway as a process
def test_openclaw_mode_serves_the_devices_page_under_agent(openclaw: TestClient) -> None:
    page = openclaw.get("/_agent/", headers=EDGE)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/_agent/ui/devices.js">' in page.text
    assert 'id="pending-body"' in page.text
    assert 'id="paired-body"' in page.text
    assert page.headers["content-security-policy"] == CSP
    assert "'unsafe-inline'" not in CSP
    assert page.headers["x-content-type-options"] == "nosniff"
    for name, kind in ASSETS.items():
        asset = openclaw.get(f"/_agent/ui/{name}", headers=EDGE)
        assert asset.status_code == 200, name
        assert kind in asset.headers["content-type"], name
        assert asset.headers["content-security-policy"] == CSP, name
        assert "innerHTML" not in asset.text, name  # gateway data is only ever shown as text
    script = openclaw.get("/_agent/ui/devices.js", headers=EDGE).text
    for call in ("/api/openclaw/devices", "/api/openclaw/status", "/api/openclaw/sync"):
        assert call in script
    assert "/api/openclaw/restart" in script

    moved = openclaw.get("/_agent", headers=EDGE, follow_redirects=False)
    assert (moved.status_code, moved.headers["location"]) == (307, "/_agent/")
    # The namespace is ours: unknown paths are our 404, never the gateway's catch-all page.
    assert openclaw.get("/_agent/nothing-here", headers=EDGE).status_code == 404
    assert openclaw.get("/_agent/ui/../settings.py", headers=EDGE).status_code == 404


@pytest.mark.slow  # starts the fake OpenClaw gateway as a process
def test_openclaw_mode_keeps_the_control_ui_at_root_and_the_api_works(
    openclaw: TestClient,
) -> None:
    root = openclaw.get("/", headers=EDGE)
    assert root.status_code == 200
    assert "OpenClaw Control" in root.text  # the fake gateway's page, proxied
    devices = openclaw.get("/api/openclaw/devices", headers=EDGE).json()
    assert [p["requestId"] for p in devices["pending"]] == ["req-0001-abcd"]


@pytest.mark.slow  # starts the fake OpenClaw gateway as a process
@pytest.mark.parametrize("path", ["/_agent/", "/_agent", "/_agent/ui/devices.js"])
def test_openclaw_admin_page_is_behind_the_edge_token(openclaw: TestClient, path: str) -> None:
    wrong = {"x-agent-edge-token": "wrong-token-0123456", "x-agent-user": "owner@example.com"}
    for headers in ({}, wrong):
        response = openclaw.get(path, headers=headers, follow_redirects=False)
        assert response.status_code == 401, (path, headers)
        assert response.json()["error"] == "missing or wrong X-Agent-Edge-Token"


def test_native_mode_is_unchanged(tmp_path: Path) -> None:
    with TestClient(create_app(settings(tmp_path))) as client:
        page = client.get("/", headers=EDGE)
        assert page.status_code == 200
        assert '<script type="module" src="/ui/app.js">' in page.text
        assert page.headers["content-security-policy"] == CSP
        script = client.get("/ui/app.js", headers=EDGE).text
        assert 'from "./common.js"' in script
        common = client.get("/ui/common.js", headers=EDGE)
        assert common.status_code == 200
        assert "export async function api" in common.text
        assert client.get("/_agent/", headers=EDGE).status_code == 404
