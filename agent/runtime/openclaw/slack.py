"""OpenClaw's Slack on the edge's verified Events API deliveries (HTTP mode): the sandbox sleeps.

Slack is not bundled with the pinned OpenClaw; it is the npm package `@openclaw/slack` of the same
version. OpenClaw grants the channel ingress queue (durable adoption) only to a *trusted* plugin:
in 2026.9.6 (`dist/installed-plugin-record-match-*.mjs`, `resolvePluginTrust`, and
`dist/official-external-install-records-*.mjs`, `isTrustedOfficialPluginInstallRecord`) that is an
install record with `source: "npm"`, no `sourcePath`/`artifactKind`, a spec naming the official
package, and an `installPath` the loaded plugin lives under. A plugin from `plugins.load.paths`,
`--link`, a local archive or a hand-written record is refused (`PLUGIN_TRUST_REFUSED`,
`dist/plugin-trust-*.mjs` says so for each). So the runtime lets OpenClaw's own installer do it:
`openclaw plugins install npm:@openclaw/slack@<version>`, before the gateway starts (never beside
it: they would share the state lifecycle lock), offline from the npm cache baked into the image
(`OPENCLAW_PLUGIN_NPM_CACHE`, an npmrc with `offline=true`; OpenClaw clears `npm_config_cache` from
its npm environment but keeps the user npmrc), and skipped when the recorded install is on disk.
The record lives in the synced state database; the files under `$OPENCLAW_STATE_DIR/npm/` are not
synced (sync.py), so a new container reinstalls from the cache.

The path of one event: Slack -> edge (signature, timestamp, replay; it answers url_verification
itself) -> `/webhooks/slack` on 8080 -> `SlackForwarder` -> the plugin's route on the gateway port
(`/slack/events`, Bolt's HTTPReceiver), which checks the signature again with the same signing
secret (`OPENCLAW_SLACK_SIGNING_SECRET`), admits an `event_callback` into OpenClaw's durable
ingress queue and only then acks 200 (`afterDurableAdmission: () => event.ack()` in
`@openclaw/slack/dist/.setup/provider-*.mjs`); a failed admission is a 500. So the runtime answers
200 only on OpenClaw's 200 and 503 for what Slack should retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import sqlite3
from pathlib import Path
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response

from agent.runtime.http import error_response
from agent.runtime.openclaw.forward import Hop
from agent.runtime.settings import RuntimeSettings

log = logging.getLogger("agent.runtime.openclaw")
SLACK_HOP = Hop(
    "Slack", "event", "signature", "OPENCLAW_SLACK_SIGNING_SECRET", "SLACK_SIGNING_SECRET"
)

PLUGIN_PACKAGE = "@openclaw/slack"
PLUGIN_ID = "slack"
TOKEN_ENV = "SLACK_BOT_TOKEN"  # noqa: S105 - an environment variable name
SIGNING_SECRET_ENV = "SLACK_SIGNING_SECRET"  # noqa: S105 - an environment variable name
EVENTS_PATH = "/slack/events"  # the plugin's default `webhookPath`, on the gateway's port
DEFAULT_SLACK_API = "https://slack.com/api/"
SIGNED_HEADERS = ("x-slack-signature", "x-slack-request-timestamp")
RETRY_HEADERS = ("x-slack-retry-num", "x-slack-retry-reason")


class PluginInstallError(RuntimeError):
    """OpenClaw's installer could not install the pinned Slack plugin."""


def slack_enabled(settings: RuntimeSettings) -> bool:
    """Slack is on: a bot token and the signing secret OpenClaw verifies again."""
    return (
        settings.slack_bot_token is not None and settings.openclaw_slack_signing_secret is not None
    )


def slack_config(settings: RuntimeSettings) -> dict[str, Any] | None:
    """`channels.slack` of the rendered config (SecretRefs only), or None when Slack is off."""
    if not slack_enabled(settings):
        return None
    ids = [part.strip() for part in settings.slack_allowlist.split(",") if part.strip()]
    channel: dict[str, Any] = {
        "enabled": True,
        "mode": "http",
        "botToken": _env_ref(TOKEN_ENV),
        "signingSecret": _env_ref(SIGNING_SECRET_ENV),
        "webhookPath": EVENTS_PATH,
    }
    policy = settings.slack_dm_policy
    if policy == "allowlist" and ids:
        channel.update(dmPolicy="allowlist", allowFrom=ids)
    elif policy == "open":
        channel.update(dmPolicy="open", allowFrom=["*"])
    else:  # anything else falls back to OpenClaw's safe default instead of stopping the gateway
        channel["dmPolicy"] = "pairing"
    return channel


def slack_env(settings: RuntimeSettings) -> dict[str, str]:
    """The gateway child's Slack secrets, and the Web API base when it is moved (a fake)."""
    if not slack_enabled(settings):
        return {}
    assert settings.slack_bot_token is not None
    assert settings.openclaw_slack_signing_secret is not None
    env = {
        TOKEN_ENV: settings.slack_bot_token.get_secret_value(),
        SIGNING_SECRET_ENV: settings.openclaw_slack_signing_secret.get_secret_value(),
    }
    base = settings.slack_api_base_url
    if base.rstrip("/") != DEFAULT_SLACK_API.rstrip("/"):
        env["SLACK_API_URL"] = base if base.endswith("/") else f"{base}/"  # @slack/web-api's base
    return env


def engine_version(openclaw_bin: str) -> str:
    """The installed engine's version: the plugin is pinned to it (`openclaw/package.json`)."""
    found = shutil.which(openclaw_bin)
    if found is None:
        raise PluginInstallError(f"OPENCLAW_BIN {openclaw_bin!r} is not an executable")
    # `.bin/openclaw` links to `openclaw/openclaw.mjs`, beside the package's manifest.
    manifest = Path(found).resolve().parent / "package.json"
    try:
        version = json.loads(manifest.read_text())["version"]
    except (OSError, ValueError, KeyError) as error:
        raise PluginInstallError(
            f"cannot read the engine version from {manifest}: {error}"
        ) from None
    return str(version)


def installed_plugin_path(state_dir: Path, version: str) -> Path | None:
    """Where the recorded install of `@openclaw/slack@version` is, if it is on disk."""
    database = state_dir / "state" / "openclaw.sqlite"
    if not database.exists():
        return None
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
            row = db.execute(
                "SELECT value_json FROM config_machine_state WHERE state_key = ?",
                ("plugins.installedIndex",),
            ).fetchone()
    except sqlite3.Error:
        return None
    if row is None:
        return None
    try:
        records = json.loads(row[0])["index"]["installRecords"]
        record = records[PLUGIN_ID]
    except (ValueError, KeyError, TypeError):
        return None
    if record.get("spec") != f"{PLUGIN_PACKAGE}@{version}" or not record.get("installPath"):
        return None
    path = Path(record["installPath"])
    manifest = path / "package.json"
    try:
        if json.loads(manifest.read_text()).get("version") != version:
            return None
    except (OSError, ValueError):
        return None
    return path


async def ensure_slack_plugin(
    settings: RuntimeSettings, env: dict[str, str], timeout_s: float = 600.0
) -> bool:
    """Install the pinned plugin with OpenClaw's installer unless it is already there.

    The version is the engine's own. Returns True when it installed. Runs to completion before
    the gateway starts. `env` is the gateway's base environment (PATH, HOME); the config the
    installer writes goes to a scratch file: the gateway reads the one the runtime renders.
    """
    state_dir = settings.openclaw_state_dir
    version = engine_version(settings.openclaw_bin)
    if installed_plugin_path(state_dir, version) is not None:
        return False
    scratch = state_dir / "tmp" / "plugin-install"
    scratch.mkdir(parents=True, exist_ok=True)
    install_env = {
        **env,
        "OPENCLAW_STATE_DIR": str(state_dir),
        "OPENCLAW_CONFIG_PATH": str(scratch / "openclaw.json"),
        "DO_NOT_TRACK": "1",
    }
    install_env.pop("OPENCLAW_CONFIG_READONLY", None)
    cache = settings.openclaw_plugin_npm_cache
    if cache is not None:  # offline, from the cache baked next to the engine
        npmrc = scratch / "npmrc"
        npmrc.write_text(f"cache={cache}\noffline=true\nlogs-dir={scratch / 'npm-logs'}\n")
        install_env["NPM_CONFIG_USERCONFIG"] = str(npmrc)
    argv = [settings.openclaw_bin, "plugins", "install", f"npm:{PLUGIN_PACKAGE}@{version}"]
    log.info("installing %s@%s for the Slack channel", PLUGIN_PACKAGE, version)
    proc = await asyncio.create_subprocess_exec(
        *argv,
        env=install_env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        _kill(proc)
        await proc.wait()
        raise PluginInstallError(
            f"openclaw plugins install {PLUGIN_PACKAGE}@{version} took over {timeout_s:g} s"
        ) from None
    except asyncio.CancelledError:
        _kill(proc)
        raise
    text = output.decode(errors="replace")
    if proc.returncode != 0 or installed_plugin_path(state_dir, version) is None:
        raise PluginInstallError(
            f"openclaw plugins install {PLUGIN_PACKAGE}@{version} failed "
            f"(exit {proc.returncode}): {text.strip()[-600:]}"
        )
    return True


def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


class SlackForwarder:
    """Hands a verified Slack event to the plugin's route; 200 only once OpenClaw acked it."""

    def __init__(self, settings: RuntimeSettings) -> None:
        self._url = f"http://127.0.0.1:{settings.openclaw_gateway_port}{EVENTS_PATH}"
        self._settings = settings
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def handle(self, request: Request) -> Response:
        """POST /webhooks/slack (edge token and internal credential already checked)."""
        if not slack_enabled(self._settings):
            return error_response(
                404,
                "Slack is not configured on this sandbox",
                "set SLACK_BOT_TOKEN and OPENCLAW_SLACK_SIGNING_SECRET (a deployed openclaw "
                "stack with slackBotToken and slackSigningSecret sets both)",
            )
        headers = {"content-type": request.headers.get("content-type", "application/json")}
        for name in (*SIGNED_HEADERS, *RETRY_HEADERS):
            value = request.headers.get(name)
            if value is not None:
                headers[name] = value
        if not all(name in headers for name in SIGNED_HEADERS):  # the edge forwards both
            return error_response(
                400,
                "missing X-Slack-Signature or X-Slack-Request-Timestamp",
                "events come from the edge",
            )
        body = await request.body()
        try:
            answer = await self._http.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as error:
            return SLACK_HOP.unreachable(error)
        if answer.status_code == 200:  # the plugin acknowledges after durable admission
            return Response(
                answer.content, status_code=200, media_type=answer.headers.get("content-type")
            )
        return SLACK_HOP.refusal(answer)


def _env_ref(name: str) -> dict[str, str]:
    return {"source": "env", "provider": "default", "id": name}
