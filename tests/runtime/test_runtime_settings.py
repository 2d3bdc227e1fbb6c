"""Settings: one message naming each bad variable, secrets never shown."""

from __future__ import annotations

import subprocess
import sys

import pytest
from suite_support import EDGE_TOKEN, REPO

from agent.runtime.errors import ConfigError
from agent.runtime.settings import load_settings

BASE = {"AGENT_TENANT": "acme", "AGENT_EDGE_TOKEN": EDGE_TOKEN, "STATE_BACKEND": "local"}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith(("AGENT_", "STATE_", "AI_GATEWAY_")) or key in {"PORT", "HOST"}:
            monkeypatch.delenv(key)


def load(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]):  # type: ignore[no-untyped-def]
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return load_settings()


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(monkeypatch, BASE)
    assert settings.port == 8080
    assert settings.agent_model == "offline"
    assert settings.is_offline
    assert settings.state_sync_mode == "write-through"
    assert settings.state_prefix == ""


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"AGENT_EDGE_TOKEN": ""}, "AGENT_EDGE_TOKEN: Field required (example: AGENT_EDGE_TOKEN="),
        (
            {"AGENT_EDGE_TOKEN": "short"},
            "AGENT_EDGE_TOKEN: Value error, must be at least 16 characters",
        ),
        ({"AGENT_TENANT": "Acme Corp"}, "AGENT_TENANT: String should match pattern"),
        ({"AGENT_MODEL": "gpt-5"}, "AGENT_MODEL: Value error, must be 'offline' or"),
        ({"AGENT_ENGINE": "claude"}, "AGENT_ENGINE: Input should be 'native' or 'openclaw'"),
        ({"PORT": "http"}, "PORT: Input should be a valid integer"),
        ({"PORT": "70000"}, "PORT: Input should be less than or equal to 65535"),
        (
            {"STATE_BACKEND": "r2"},
            "required by this configuration but not set: STATE_BUCKET, STATE_ENDPOINT, "
            "STATE_ACCESS_KEY_ID, STATE_SECRET_ACCESS_KEY",
        ),
        (
            {"AGENT_MODEL": "openai:gpt-5-mini"},
            "required by this configuration but not set: AGENT_MODEL_API_KEY (or "
            "AI_GATEWAY_BASE_URL, or AGENT_MODEL_BASE_URL for a local server) (example: "
            "AGENT_MODEL_API_KEY=",
        ),
        (
            {"AGENT_MODEL": "workers-ai:@cf/meta/llama-3.1-8b-instruct"},
            "required by this configuration but not set: AI_GATEWAY_BASE_URL (or "
            "AGENT_MODEL_BASE_URL for a local server)",
        ),
        (
            {
                "AGENT_MODEL": "openai:gpt-5-mini",
                "AI_GATEWAY_BASE_URL": "https://gw.example/v1/a/g",
            },
            "required by this configuration but not set: AI_GATEWAY_TOKEN",
        ),
        ({"AGENT_USER": "../bob"}, "AGENT_USER: Value error, must be an identity"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(monkeypatch, {**BASE, **env})
    assert expected in str(caught.value)
    assert str(caught.value).startswith("invalid runtime configuration:")


def test_secrets_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(monkeypatch, {**BASE, "AI_GATEWAY_TOKEN": "gw-secret-value-123"})
    assert EDGE_TOKEN not in repr(settings)
    assert "gw-secret-value-123" not in repr(settings)
    assert "gw-secret-value-123" not in str(settings.model_dump())


def test_per_user_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(monkeypatch, {**BASE, "AGENT_USER": "alice@example.com"})
    assert settings.state_prefix == "users/alice@example.com/"


@pytest.mark.slow  # over half a second of CPU (make test-cost)
def test_process_stops_with_one_message_naming_the_variable() -> None:
    env = {"PATH": "/usr/bin:/bin", "AGENT_TENANT": "acme", "STATE_BACKEND": "local"}
    done = subprocess.run(
        [sys.executable, "-m", "agent.runtime"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "AGENT_EDGE_TOKEN: Field required" in done.stderr
    assert "Traceback" not in done.stderr
