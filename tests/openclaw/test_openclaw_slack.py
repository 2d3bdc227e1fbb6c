"""OpenClaw's Slack in process: the rendered `channels.slack` block (HTTP mode, SecretRefs), the
plugin install (OpenClaw's installer, offline from the pinned cache, skipped when the recorded
install is on disk, pinned to the engine's own version), and `/webhooks/slack` in front of a
stand-in for the plugin's route: 200 only on its ack, 503 (Slack retries) when it did not admit
the event, 502 when it refuses the signature the edge accepted. The real plugin is exercised by
test_openclaw_real_channels.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from openclaw_support import free_port
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient
from suite_support import serve_app
from test_openclaw_ui_routes import settings

from agent.runtime.openclaw.channels import channel_warnings
from agent.runtime.openclaw.config import OpenClawLayout, openclaw_env, render_config
from agent.runtime.openclaw.slack import (
    PluginInstallError,
    SlackForwarder,
    engine_version,
    ensure_slack_plugin,
    installed_plugin_path,
)

SECRET = "slack-signing-secret-0123"
SLACK = {"slack_bot_token": "xoxb-123-abc", "openclaw_slack_signing_secret": SECRET}
SIGNED = {
    "x-slack-signature": "v0=" + "ab" * 32,
    "x-slack-request-timestamp": "1796180000",
    "content-type": "application/json",
}
EVENT = b'{"type":"event_callback","event_id":"Ev1","event":{"type":"message","text":"hi"}}'
VERSION = "2026.9.6"


def test_http_mode_renders_secret_refs_and_enables_the_plugin(tmp_path: Path) -> None:
    config = settings(tmp_path, **SLACK, slack_dm_policy="allowlist", slack_allowlist="U1, U2")
    rendered = render_config(config, OpenClawLayout(tmp_path, 18789, None))
    assert rendered["channels"]["slack"] == {
        "enabled": True,
        "mode": "http",
        "botToken": {"source": "env", "provider": "default", "id": "SLACK_BOT_TOKEN"},
        "signingSecret": {"source": "env", "provider": "default", "id": "SLACK_SIGNING_SECRET"},
        "webhookPath": "/slack/events",
        "dmPolicy": "allowlist",
        "allowFrom": ["U1", "U2"],
    }
    assert rendered["plugins"]["entries"]["slack"] == {"enabled": True}
    env = openclaw_env(config, "gateway-token")
    assert (env["SLACK_BOT_TOKEN"], env["SLACK_SIGNING_SECRET"]) == ("xoxb-123-abc", SECRET)
    assert "SLACK_API_URL" not in env  # the real Web API
    assert SECRET not in json.dumps(rendered)  # only a reference in the file
    assert channel_warnings(config) == []
    fake_api = settings(tmp_path, **SLACK, slack_api_base_url="http://127.0.0.1:9/api")
    assert openclaw_env(fake_api, "t")["SLACK_API_URL"] == "http://127.0.0.1:9/api/"


def test_without_the_signing_secret_slack_is_off_and_says_why(tmp_path: Path) -> None:
    config = settings(tmp_path, slack_bot_token="xoxb-1")
    rendered = render_config(config, OpenClawLayout(tmp_path, 18789, None))
    assert "slack" not in rendered.get("channels", {})
    assert "SLACK_BOT_TOKEN" not in openclaw_env(config, "t")
    (warning,) = channel_warnings(config)
    assert "OPENCLAW_SLACK_SIGNING_SECRET is not" in warning
    discord = settings(tmp_path, discord_bot_token="d")
    assert "Discord is not available with AGENT_ENGINE=openclaw" in channel_warnings(discord)[0]


# A stand-in for `openclaw plugins install`: it records what it was given, then writes the install
# record and the package where OpenClaw's installer would, unless FAIL is set.
INSTALLER = """
import json, os, sqlite3, sys
from pathlib import Path
state = Path(os.environ["OPENCLAW_STATE_DIR"])
log = Path(os.environ["INSTALL_LOG"])
entry = {"argv": sys.argv[1:], "config": os.environ.get("OPENCLAW_CONFIG_PATH"),
         "npmrc": Path(os.environ["NPM_CONFIG_USERCONFIG"]).read_text()
         if "NPM_CONFIG_USERCONFIG" in os.environ else None}
with log.open("a") as f:
    f.write(json.dumps(entry) + "\\n")
if os.environ.get("FAIL"):
    print("npm error code ENOTCACHED")
    sys.exit(1)
spec = sys.argv[3].removeprefix("npm:")
version = spec.rsplit("@", 1)[1]
package = state / "npm" / "projects" / "openclaw-slack-1" / "node_modules" / "@openclaw" / "slack"
package.mkdir(parents=True, exist_ok=True)
(package / "package.json").write_text(json.dumps({"name": "@openclaw/slack", "version": version}))
(state / "state").mkdir(exist_ok=True)
db = sqlite3.connect(state / "state" / "openclaw.sqlite")
db.execute("CREATE TABLE IF NOT EXISTS config_machine_state"
           " (state_key TEXT PRIMARY KEY, value_json TEXT, updated_at_ms INTEGER)")
record = {"source": "npm", "spec": spec, "installPath": str(package), "version": version}
value = {"index": {"installRecords": {"slack": record}}}
db.execute("INSERT OR REPLACE INTO config_machine_state VALUES (?, ?, 0)",
           ("plugins.installedIndex", json.dumps(value)))
db.commit()
"""


@pytest.fixture
def engine(tmp_path: Path) -> Path:
    """An `openclaw` executable laid out like the npm install (`.bin/openclaw` -> the package)."""
    package = tmp_path / "engine" / "node_modules" / "openclaw"
    package.mkdir(parents=True)
    (package / "package.json").write_text(json.dumps({"name": "openclaw", "version": VERSION}))
    main = package / "openclaw.mjs"
    main.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{package / "install.py"}" "$@"\n')
    main.chmod(0o755)
    (package / "install.py").write_text(INSTALLER)
    link = tmp_path / "engine" / "node_modules" / ".bin" / "openclaw"
    link.parent.mkdir()
    link.symlink_to("../openclaw/openclaw.mjs")
    return link


def install_log(tmp_path: Path) -> list[dict[str, object]]:
    path = tmp_path / "install.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_the_plugin_is_installed_once_offline_and_pinned_to_the_engine(
    tmp_path: Path, engine: Path
) -> None:
    assert engine_version(str(engine)) == VERSION
    cache = tmp_path / "npm-cache"
    config = settings(
        tmp_path,
        **SLACK,
        openclaw_bin=str(engine),
        openclaw_state_dir=tmp_path / "oc",
        openclaw_plugin_npm_cache=cache,
    )
    env = {"PATH": "/usr/bin:/bin", "INSTALL_LOG": str(tmp_path / "install.jsonl")}
    assert installed_plugin_path(tmp_path / "oc", VERSION) is None
    assert asyncio.run(ensure_slack_plugin(config, env)) is True
    (call,) = install_log(tmp_path)
    assert call["argv"] == ["plugins", "install", f"npm:@openclaw/slack@{VERSION}"]
    npmrc = str(call["npmrc"])
    assert f"cache={cache}\n" in npmrc
    assert "offline=true\n" in npmrc  # never the registry at start
    assert call["config"] != str(tmp_path / "oc" / "openclaw.json")  # not the rendered config
    installed = installed_plugin_path(tmp_path / "oc", VERSION)
    assert installed is not None
    assert installed.is_relative_to(tmp_path / "oc" / "npm")

    # Already installed: nothing runs (a warm start costs no install).
    assert asyncio.run(ensure_slack_plugin(config, env)) is False
    assert len(install_log(tmp_path)) == 1
    # Another engine version: the recorded install no longer matches.
    assert installed_plugin_path(tmp_path / "oc", "2026.10.1") is None
    # A new container: the record came back with the synced database, the files did not.
    (installed / "package.json").unlink()
    assert installed_plugin_path(tmp_path / "oc", VERSION) is None
    assert asyncio.run(ensure_slack_plugin(config, env)) is True
    assert len(install_log(tmp_path)) == 2


def test_a_failed_install_says_what_the_installer_said(tmp_path: Path, engine: Path) -> None:
    config = settings(
        tmp_path, **SLACK, openclaw_bin=str(engine), openclaw_state_dir=tmp_path / "oc"
    )
    env = {"PATH": "/usr/bin:/bin", "INSTALL_LOG": str(tmp_path / "install.jsonl"), "FAIL": "1"}
    with pytest.raises(PluginInstallError) as caught:
        asyncio.run(ensure_slack_plugin(config, env))
    assert "ENOTCACHED" in str(caught.value)
    assert f"@openclaw/slack@{VERSION}" in str(caught.value)
    (call,) = install_log(tmp_path)
    assert call["npmrc"] is None  # no pinned cache configured: npm's own settings
    missing = settings(tmp_path, **SLACK, openclaw_bin=str(tmp_path / "nowhere"))
    with pytest.raises(PluginInstallError, match="OPENCLAW_BIN"):
        asyncio.run(ensure_slack_plugin(missing, env))


@dataclass
class PluginRoute:
    """Stands in for the plugin's `/slack/events` route; `answer` is what it replies."""

    answer: tuple[int, bytes] = (200, b"")
    received: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)

    async def post(self, request: Request) -> Response:
        self.received.append((await request.body(), dict(request.headers)))
        status, body = self.answer
        return Response(body, status_code=status, media_type="application/json")


@pytest.fixture
def plugin_route() -> Iterator[tuple[PluginRoute, int]]:
    fake = PluginRoute()
    app = Starlette(routes=[Route("/slack/events", fake.post, methods=["POST"])])
    with serve_app(app, "fake OpenClaw Slack route", ws="none") as url:
        yield fake, int(url.rsplit(":", 1)[1])


def forwarder_client(tmp_path: Path, port: int, **extra: object) -> TestClient:
    forwarder = SlackForwarder(settings(tmp_path, openclaw_gateway_port=port, **extra))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        await forwarder.aclose()

    routes = [Route("/webhooks/slack", forwarder.handle, methods=["POST"])]
    return TestClient(Starlette(routes=routes, lifespan=lifespan))


def test_an_event_is_acknowledged_only_once_openclaw_admitted_it(
    tmp_path: Path, plugin_route: tuple[PluginRoute, int]
) -> None:
    fake, port = plugin_route
    with forwarder_client(tmp_path, port, **SLACK) as client:
        retry = {"x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"}
        acked = client.post("/webhooks/slack", content=EVENT, headers={**SIGNED, **retry})
        assert (acked.status_code, acked.content) == (200, b"")
        body, headers = fake.received[-1]
        assert body == EVENT  # the bytes the edge verified, which OpenClaw verifies again
        for name, value in {**SIGNED, **retry}.items():
            assert headers[name] == value

        fake.answer = (200, b'{"challenge":"c-123"}')  # url_verification: OpenClaw answers it
        challenge = client.post("/webhooks/slack", content=b"{}", headers=SIGNED)
        assert challenge.json() == {"challenge": "c-123"}
        fake.answer = (500, b"")  # not admitted durably
        not_durable = client.post("/webhooks/slack", content=EVENT, headers=SIGNED)
        assert not_durable.status_code == 503
        assert not_durable.headers["retry-after"] == "5"
        fake.answer = (404, b"")  # the route is not registered yet (gateway starting)
        assert client.post("/webhooks/slack", content=EVENT, headers=SIGNED).status_code == 503
        fake.answer = (401, b"")
        refused = client.post("/webhooks/slack", content=EVENT, headers=SIGNED)
        assert refused.status_code == 502
        assert "OPENCLAW_SLACK_SIGNING_SECRET" in refused.json()["hint"]
        fake.answer = (400, b"")
        assert client.post("/webhooks/slack", content=EVENT, headers=SIGNED).status_code == 422
        count = len(fake.received)
        unsigned = {"content-type": "application/json"}
        assert client.post("/webhooks/slack", content=EVENT, headers=unsigned).status_code == 400
        assert len(fake.received) == count  # never reached OpenClaw


def test_a_route_that_is_not_up_means_retry_and_no_slack_means_404(tmp_path: Path) -> None:
    with forwarder_client(tmp_path, free_port(), **SLACK) as client:
        down = client.post("/webhooks/slack", content=EVENT, headers=SIGNED)
        assert down.status_code == 503
        assert "did not answer" in down.json()["error"]
    with forwarder_client(tmp_path, free_port()) as client:
        off = client.post("/webhooks/slack", content=EVENT, headers=SIGNED)
        assert off.status_code == 404
        assert "OPENCLAW_SLACK_SIGNING_SECRET" in off.json()["hint"]
