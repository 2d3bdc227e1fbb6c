"""What a runtime start loads: a feature's client library only when the feature is configured.

Every sandbox start, and every restart after a crash, pays for what the runtime imports. The MCP
SDK (with fastmcp), the R2 client (boto3) and a provider's model client (Anthropic, OpenAI) each
cost a large share of a start's CPU, so the runtime imports them only when configured (and the
HTML parser of the web tool when it first reads a page). Checked in a fresh interpreter that
starts the app and runs its lifespan: this test process imported all of them long ago.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from runtime_support import EDGE_TOKEN, free_port

from agent.localproc import REPO, RUNTIME_PREFIXES

pytestmark = pytest.mark.slow  # two interpreters that import the runtime: a few s of CPU

#: A feature's client, loaded only when it is configured; bs4, only when a fetched page is HTML.
OPTIONAL = ("pydantic_ai.mcp", "mcp", "fastmcp", "boto3", "anthropic", "openai", "bs4")

START = """
import json, sys
from starlette.testclient import TestClient
from agent.runtime.app import create_app
from agent.runtime.settings import load_settings
with TestClient(create_app(load_settings())) as client:
    assert client.get("/healthz").status_code == 200
print(json.dumps(sorted(name for name in sys.argv[1:] if name in sys.modules)))
"""


def loaded_at_start(tmp_path: Path, settings: dict[str, str]) -> list[str]:
    """Which of OPTIONAL a runtime with `settings` has imported once its lifespan started."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(RUNTIME_PREFIXES)}
    env.update(
        AGENT_TENANT="acme",
        AGENT_EDGE_TOKEN=EDGE_TOKEN,
        AGENT_LOG_LEVEL="error",
        STATE_BACKEND="local",
        STATE_DIR=str(tmp_path / "state"),
    )
    env.update(settings)
    done = subprocess.run(
        [sys.executable, "-c", START, *OPTIONAL],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,  # a hang guard only
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_a_start_without_mcp_r2_or_a_provider_loads_none_of_their_clients(
    tmp_path: Path,
) -> None:
    assert loaded_at_start(tmp_path, {}) == []


def test_each_client_is_loaded_once_its_feature_is_configured(tmp_path: Path) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"  # offline: nothing listens, nothing is reached
    configured = {
        "AGENT_MODEL": "anthropic:claude-sonnet-4-5",
        "AGENT_MODEL_API_KEY": "sk-ant-test-key-0123456789",
        "AGENT_MCP_SERVERS": json.dumps(
            [{"name": "docs", "url": f"{nowhere}/mcp", "allowedTools": ["search"]}]
        ),
        "STATE_BACKEND": "r2",  # on a port nothing listens on: the runtime starts unready
        "STATE_BUCKET": "acme-state",
        "STATE_ENDPOINT": nowhere,
        "STATE_ACCESS_KEY_ID": "testing",
        "STATE_SECRET_ACCESS_KEY": "testing",
    }
    loaded = loaded_at_start(tmp_path, configured)
    assert {"pydantic_ai.mcp", "mcp", "anthropic", "boto3"} <= set(loaded), loaded
