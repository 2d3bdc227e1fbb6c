"""Rendering openclaw.json from the runtime's settings: keys, SecretRefs, never a secret value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.runtime.openclaw.config import (
    OpenClawLayout,
    openclaw_env,
    render_config,
    write_config,
)
from agent.runtime.openclaw.host import openclaw_argv
from agent.runtime.settings import RuntimeSettings

EDGE = "test-edge-token-0123456789"
AIGW = "https://gateway.ai.cloudflare.com/v1/acct/gw"


def settings(tmp_path: Path, **extra: Any) -> RuntimeSettings:
    return RuntimeSettings(
        agent_tenant="acme",
        agent_edge_token=EDGE,
        state_backend="local",
        state_dir=tmp_path / "store",
        openclaw_state_dir=tmp_path / "oc",
        **extra,
    )


def layout(tmp_path: Path, cdp: str | None = None) -> OpenClawLayout:
    return OpenClawLayout(tmp_path / "oc", 18789, cdp)


def test_gateway_is_loopback_token_and_trusts_only_our_proxy(tmp_path: Path) -> None:
    config = render_config(settings(tmp_path), layout(tmp_path))
    assert config["gateway"] == {
        "mode": "local",
        "bind": "loopback",
        "port": 18789,
        "auth": {
            "mode": "token",
            "token": {"source": "env", "provider": "default", "id": "OPENCLAW_GATEWAY_TOKEN"},
        },
        "trustedProxies": ["127.0.0.1"],
    }
    assert config["update"] == {"checkOnStart": False}
    assert config["telemetry"] == {"enabled": False}
    assert config["agents"]["defaults"]["heartbeat"] == {"every": "0m"}  # no idle token burn
    assert config["models"] == {"mode": "merge", "catalogRefresh": {"enabled": False}}
    assert "browser" not in config
    assert "channels" not in config
    assert openclaw_argv(settings(tmp_path)) == [
        "openclaw", "gateway", "run", "--port", "18789", "--bind", "loopback"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("model", "suffix", "api", "model_id"),
    [
        ("openai:gpt-5-mini", "openai", "openai-completions", "gpt-5-mini"),
        ("compat:openai/gpt-5-mini", "compat", "openai-completions", "openai/gpt-5-mini"),
        ("anthropic:claude-sonnet-4-5", "anthropic", "anthropic-messages", "claude-sonnet-4-5"),
        (
            "workers-ai:@cf/meta/llama-3.3-70b-instruct-fp8-fast",
            "workers-ai/v1",
            "openai-completions",
            "@cf/meta/llama-3.3-70b-instruct-fp8-fast",
        ),
    ],
)
def test_models_go_through_ai_gateway_with_its_header(
    tmp_path: Path, model: str, suffix: str, api: str, model_id: str
) -> None:
    s = settings(
        tmp_path, agent_model=model, ai_gateway_base_url=AIGW, ai_gateway_token="aig-s3cret"
    )
    config = render_config(s, layout(tmp_path))
    provider = config["models"]["providers"]["edgeagent"]
    assert provider["baseUrl"] == f"{AIGW}/{suffix}"
    assert provider["api"] == api
    assert provider["models"][0]["id"] == model_id
    assert provider["headers"] == {
        "cf-aig-authorization": {
            "source": "env",
            "provider": "default",
            "id": "EDGEAGENT_AIGW_AUTH",
        },
        "cf-aig-metadata": {
            "source": "env",
            "provider": "default",
            "id": "EDGEAGENT_AIGW_METADATA",
        },
    }
    assert config["agents"]["defaults"]["model"] == {"primary": f"edgeagent/{model_id}"}
    env = openclaw_env(s, "gw-token")
    assert env["EDGEAGENT_AIGW_AUTH"] == "Bearer aig-s3cret"
    # What the supervisor can attribute: tenant, the sandbox's user (shared here), the engine.
    assert json.loads(env["EDGEAGENT_AIGW_METADATA"]) == {
        "tenant": "acme", "user": "shared", "session": "openclaw", "channel": "openclaw",
        "engine": "openclaw",
    }  # fmt: skip
    assert env["EDGEAGENT_MODEL_KEY"] == "held-by-ai-gateway"
    assert env["OPENCLAW_GATEWAY_TOKEN"] == "gw-token"


def test_local_model_endpoint_gets_no_gateway_header(tmp_path: Path) -> None:
    s = settings(
        tmp_path,
        agent_model="openai:llama3",
        agent_model_base_url="http://127.0.0.1:11434/v1",
        agent_model_api_key="local-key",
    )
    provider = render_config(s, layout(tmp_path))["models"]["providers"]["edgeagent"]
    assert provider["baseUrl"] == "http://127.0.0.1:11434/v1"
    assert "headers" not in provider
    assert openclaw_env(s, "t") == {
        "OPENCLAW_GATEWAY_TOKEN": "t",
        "EDGEAGENT_MODEL_KEY": "local-key",
    }


def test_browser_profile_and_telegram_policies(tmp_path: Path) -> None:
    relay = "ws://127.0.0.1:40001/devtools/browser/edgeagent"
    s = settings(
        tmp_path,
        telegram_bot_token="123456789:AAH-secret-bot-token",
        telegram_dm_policy="allowlist",
        telegram_allowlist="111, 222",
    )
    config = render_config(s, layout(tmp_path, relay))
    assert config["browser"]["profiles"] == {"edge": {"cdpUrl": relay, "attachOnly": True}}
    telegram = config["channels"]["telegram"]
    assert telegram["dmPolicy"] == "allowlist"
    assert telegram["allowFrom"] == ["111", "222"]
    assert telegram["botToken"]["id"] == "TELEGRAM_BOT_TOKEN"
    assert openclaw_env(s, "t")["TELEGRAM_BOT_TOKEN"] == "123456789:AAH-secret-bot-token"
    # An allowlist without usable ids would be refused by OpenClaw: fall back to pairing.
    broken = settings(
        tmp_path,
        telegram_bot_token="123:abc",
        telegram_dm_policy="allowlist",
        telegram_allowlist="bob",
    )
    assert render_config(broken, layout(tmp_path))["channels"]["telegram"]["dmPolicy"] == "pairing"
    opened = settings(tmp_path, telegram_bot_token="123:abc", telegram_dm_policy="open")
    assert render_config(opened, layout(tmp_path))["channels"]["telegram"]["allowFrom"] == ["*"]


def test_written_file_holds_no_secret_and_is_private(tmp_path: Path) -> None:
    s = settings(
        tmp_path,
        agent_model="openai:gpt-5-mini",
        ai_gateway_base_url=AIGW,
        ai_gateway_token="aig-s3cret-value",
        telegram_bot_token="123456789:AAH-secret-bot-token",
    )
    path = write_config(s, layout(tmp_path))
    text = path.read_text()
    for secret in ("aig-s3cret-value", "AAH-secret-bot-token", EDGE):
        assert secret not in text
    assert json.loads(text)["gateway"]["port"] == 18789
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "oc" / "workspace").is_dir()


def test_control_ui_origins(tmp_path: Path) -> None:
    s = settings(
        tmp_path, openclaw_allowed_origins="https://agent.example.com, https://b.example.com"
    )
    gateway = render_config(s, layout(tmp_path))["gateway"]
    assert gateway["controlUi"] == {
        "allowedOrigins": ["https://agent.example.com", "https://b.example.com"]
    }
    with pytest.raises(ValueError, match=r"is not an origin such as https://agent\.example\.com"):
        settings(tmp_path, openclaw_allowed_origins="https://agent.example.com/path")


def test_compaction_follows_the_same_token_budget_as_the_native_engine(tmp_path: Path) -> None:
    s = settings(
        tmp_path,
        agent_model="openai:gpt-5-mini",
        ai_gateway_base_url=AIGW,
        ai_gateway_token="aig-s3cret",
        agent_context_tokens=32000,
    )
    config = render_config(s, layout(tmp_path))
    assert config["agents"]["defaults"]["compaction"] == {
        "mode": "safeguard",
        "keepRecentTokens": 16000,
    }
    assert config["models"]["providers"]["edgeagent"]["models"][0]["contextWindow"] == 32000
    default = render_config(settings(tmp_path), layout(tmp_path))
    assert default["agents"]["defaults"]["compaction"]["keepRecentTokens"] == 32000
