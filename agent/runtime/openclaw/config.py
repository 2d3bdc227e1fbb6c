"""Render `openclaw.json` from the runtime's settings.

OpenClaw's config is strict (an unknown key stops the gateway), so only keys verified against
openclaw 2026.9.6's schema are written. Secrets never enter the file: it holds SecretRefs naming
environment variables that only the gateway child process receives (`openclaw_env`).

What the rendered config guarantees:
- the gateway listens on loopback only, with token auth, and trusts exactly our 8080 proxy
  (`trustedProxies: ["127.0.0.1"]`), so X-Forwarded-For from the proxy marks edge users as remote;
- model calls go to AI Gateway with `cf-aig-authorization` (or AGENT_MODEL_BASE_URL locally) and
  the `cf-aig-metadata` the supervisor can know (`openclaw_metadata`): tenant, the sandbox's user,
  engine; OpenClaw sends one fixed header set, so session and channel read `openclaw`;
- the browser profile points at our loopback CDP relay (Browser Rendering needs a header that
  OpenClaw profiles cannot send), or straight at a local Chromium;
- Telegram in webhook mode behind the edge (agent/runtime/openclaw/channels.py);
- no update checks, telemetry, mDNS, catalog refresh or idle heartbeat (token burn);
- OpenClaw compacts its own sessions within the same token budget as the native engine
  (AGENT_CONTEXT_TOKENS, docs/sessions.md): the model's `contextWindow` is the budget, a quarter
  of it stays free for the reply, and at most half of it is history kept verbatim.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.runtime.ai_gateway import AI_GATEWAY_AUTH_HEADER, AI_GATEWAY_HELD_KEY, model_endpoint
from agent.runtime.attribution import METADATA_HEADER, CallScope, header_value
from agent.runtime.openclaw.channels import channel_env, telegram_config
from agent.runtime.openclaw.slack import PLUGIN_ID, slack_config, slack_env
from agent.runtime.settings import RuntimeSettings

TOKEN_ENV = "OPENCLAW_GATEWAY_TOKEN"  # noqa: S105 - an environment variable name
MODEL_KEY_ENV = "EDGEAGENT_MODEL_KEY"
MODEL_AUTH_ENV = "EDGEAGENT_AIGW_AUTH"
# A SecretRef like the auth header (headers.* take SecretRefs in the 2026.9.6 schema), not a secret.
MODEL_METADATA_ENV = "EDGEAGENT_AIGW_METADATA"
PROVIDER_ID = "edgeagent"

_API = {
    "openai": "openai-completions",
    "compat": "openai-completions",
    "workers-ai": "openai-completions",
    "anthropic": "anthropic-messages",
}


# The native engine's default when the model's window is unknown (engine/context.py).
DEFAULT_CONTEXT_TOKENS = 64_000


def _env_ref(name: str) -> dict[str, str]:
    return {"source": "env", "provider": "default", "id": name}


@dataclass(frozen=True, slots=True)
class OpenClawLayout:
    """Where the gateway keeps its state and how the runtime reaches it."""

    state_dir: Path
    port: int
    cdp_url: str | None  # what the browser profile connects to (our relay or a local Chromium)

    @property
    def config_path(self) -> Path:
        return self.state_dir / "openclaw.json"

    @property
    def workspace(self) -> Path:
        return self.state_dir / "workspace"


def context_tokens(settings: RuntimeSettings) -> int:
    """The token budget OpenClaw works within: AGENT_CONTEXT_TOKENS, else the native default."""
    return settings.agent_context_tokens or DEFAULT_CONTEXT_TOKENS


def compaction(budget: int) -> dict[str, Any]:
    """`agents.defaults.compaction` for this budget.

    Keys as the pinned OpenClaw (2026.9.6) documents them in its package,
    `docs/gateway/config-agents/heartbeat-compaction-and-streaming.md` (`mode` "default" |
    "safeguard"; `keepRecentTokens`, the verbatim tail, default 20000); its strict config
    validation refuses keys of other versions (`reserveTokensFloor`, `maxHistoryShare`), which the
    real-OpenClaw smoke test checks. `safeguard` summarises in chunks, so a history longer than the
    window still compacts (as engine/context.py does); half the budget stays verbatim.
    """
    return {"mode": "safeguard", "keepRecentTokens": budget // 2}


def render_config(settings: RuntimeSettings, layout: OpenClawLayout) -> dict[str, Any]:
    """The gateway config as a JSON-compatible dict (no secret values inside)."""
    budget = context_tokens(settings)
    config: dict[str, Any] = {
        "gateway": {
            "mode": "local",
            "bind": "loopback",
            "port": layout.port,
            "auth": {"mode": "token", "token": _env_ref(TOKEN_ENV)},
            "trustedProxies": ["127.0.0.1"],
        },
        "update": {"checkOnStart": False},
        "telemetry": {"enabled": False},
        "discovery": {"mdns": {"mode": "off"}},
        "logging": {"file": str(layout.state_dir.parent / "openclaw-logs" / "gateway.log")},
        "agents": {
            "defaults": {
                "workspace": str(layout.workspace),
                "heartbeat": {"every": "0m"},
                "compaction": compaction(budget),
            }
        },
    }
    origins = [o.strip() for o in settings.openclaw_allowed_origins.split(",") if o.strip()]
    if origins:
        config["gateway"]["controlUi"] = {"allowedOrigins": origins}
    models: dict[str, Any] = {"mode": "merge", "catalogRefresh": {"enabled": False}}
    if not settings.is_offline:
        provider, model = settings.agent_model.split(":", 1)
        base_url, headers = model_endpoint(settings)
        entry: dict[str, Any] = {
            "baseUrl": base_url,
            "apiKey": _env_ref(MODEL_KEY_ENV),
            "api": _API[provider],
            "models": [
                {
                    "id": model,
                    "name": f"{model} via edgeagent",
                    # OpenClaw compacts against this window: it is our budget, not the model's.
                    "contextWindow": budget,
                    "maxTokens": 8192,
                }
            ],
        }
        if AI_GATEWAY_AUTH_HEADER in headers:
            entry["headers"] = {
                AI_GATEWAY_AUTH_HEADER: _env_ref(MODEL_AUTH_ENV),
                METADATA_HEADER: _env_ref(MODEL_METADATA_ENV),
            }
        models["providers"] = {PROVIDER_ID: entry}
        config["agents"]["defaults"]["model"] = {"primary": f"{PROVIDER_ID}/{model}"}
    config["models"] = models
    if layout.cdp_url is not None:
        config["browser"] = {
            "enabled": True,
            "defaultProfile": "edge",
            "profiles": {"edge": {"cdpUrl": layout.cdp_url, "attachOnly": True}},
        }
    telegram = telegram_config(settings)
    if telegram is not None:
        config.setdefault("channels", {})["telegram"] = telegram
    slack = slack_config(settings)
    if slack is not None:  # the plugin OpenClaw installed (openclaw/slack.py), enabled
        config.setdefault("channels", {})["slack"] = slack
        plugins = config.setdefault("plugins", {}).setdefault("entries", {})
        plugins.setdefault(PLUGIN_ID, {})["enabled"] = True
    return config


def openclaw_metadata(settings: RuntimeSettings) -> CallScope:
    """What the supervisor knows of every call the gateway makes (docs/costs.md)."""
    return CallScope(
        tenant=settings.agent_tenant,
        user=settings.agent_user or "shared",
        session="openclaw",
        channel="openclaw",
        engine="openclaw",
    )


def openclaw_env(settings: RuntimeSettings, token: str) -> dict[str, str]:
    """Secret values the SecretRefs in the rendered config point at (child env only)."""
    env = {TOKEN_ENV: token}
    if not settings.is_offline:
        key = settings.agent_model_api_key
        env[MODEL_KEY_ENV] = key.get_secret_value() if key is not None else AI_GATEWAY_HELD_KEY
        _base, headers = model_endpoint(settings)
        if AI_GATEWAY_AUTH_HEADER in headers:
            env[MODEL_AUTH_ENV] = headers[AI_GATEWAY_AUTH_HEADER]
            env[MODEL_METADATA_ENV] = header_value(openclaw_metadata(settings))
    return env | channel_env(settings) | slack_env(settings)


def write_config(settings: RuntimeSettings, layout: OpenClawLayout) -> Path:
    """Write the rendered config (0600) where the gateway reads it."""
    layout.state_dir.mkdir(parents=True, exist_ok=True)
    layout.workspace.mkdir(parents=True, exist_ok=True)
    path = layout.config_path
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(render_config(settings, layout), indent=2) + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)
    return path
