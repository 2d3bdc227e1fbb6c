"""Everything the OpenClaw engine runs beside the HTTP app, started and stopped in order.

Start: restore state from the store -> the pinned Slack plugin when Slack is on (installed by
OpenClaw's CLI, offline, before the gateway; openclaw/slack.py) -> render `openclaw.json` -> CDP
relay (when Browser Rendering needs a header) -> gateway under the supervisor -> continuous
state sync.
Stop (SIGTERM): gateway stopped first (so SQLite checkpoints and nothing writes any more) ->
watcher stopped -> one final full sync -> relay closed.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field

from agent.runtime.openclaw.cdp_relay import CdpRelay
from agent.runtime.openclaw.channels import channel_warnings
from agent.runtime.openclaw.config import OpenClawLayout, openclaw_env, write_config
from agent.runtime.openclaw.slack import PluginInstallError, ensure_slack_plugin, slack_enabled
from agent.runtime.openclaw.supervisor import (
    PASSTHROUGH_ENV,
    OpenClawSupervisor,
    SupervisorPolicy,
)
from agent.runtime.openclaw.sync import StateSync
from agent.runtime.settings import RuntimeSettings
from agent.runtime.store.base import StateStore

log = logging.getLogger("agent.runtime.openclaw")


def openclaw_argv(settings: RuntimeSettings) -> list[str]:
    """The gateway command line (a list: nothing is ever parsed by a shell)."""
    return [
        settings.openclaw_bin,
        "gateway",
        "run",
        "--port",
        str(settings.openclaw_gateway_port),
        "--bind",
        "loopback",
    ]


@dataclass
class OpenClawHost:
    """The gateway, its state sync and its CDP relay for one sandbox."""

    settings: RuntimeSettings
    store: StateStore
    policy: SupervisorPolicy = field(default_factory=SupervisorPolicy)
    token: str = field(default="", repr=False)
    restored: bool = False
    error: str = ""  # why the last start attempt failed
    supervisor: OpenClawSupervisor | None = None
    sync: StateSync | None = None
    relay: CdpRelay | None = None

    @property
    def port(self) -> int:
        return self.settings.openclaw_gateway_port

    @property
    def ready(self) -> bool:
        """State restored and the gateway healthy at the protocol level."""
        return self.restored and self.supervisor is not None and self.supervisor.ready

    @property
    def reason(self) -> str:
        """Why the host is not ready."""
        if not self.restored:
            return self.error or "restoring OpenClaw state"
        return self.supervisor.reason if self.supervisor is not None else "gateway not started"

    async def start(self) -> None:
        """Restore, render, and launch (readiness follows asynchronously)."""
        settings = self.settings
        configured = settings.openclaw_gateway_token
        self.token = configured.get_secret_value() if configured else secrets.token_urlsafe(32)
        self.sync = StateSync(
            self.store, settings.openclaw_state_dir, debounce_s=settings.openclaw_sync_debounce_s
        )
        count = await self.sync.restore()
        log.info("restored %d OpenClaw state files", count)
        cdp_url = settings.browser_cdp_url
        if cdp_url is not None and settings.browser_api_token is not None:
            if self.relay is None:  # a retried start keeps the relay it already opened
                self.relay = CdpRelay(cdp_url, settings.browser_api_token.get_secret_value())
                await self.relay.start()
            cdp_url = self.relay.url
        if slack_enabled(settings):
            settings = await self._slack_plugin(settings)
        layout = OpenClawLayout(settings.openclaw_state_dir, self.port, cdp_url)
        config = write_config(settings, layout)
        for warning in channel_warnings(settings):
            log.warning("%s", warning)
        self.restored = True
        env = {
            "OPENCLAW_STATE_DIR": str(layout.state_dir),
            "OPENCLAW_CONFIG_PATH": str(config),
            "OPENCLAW_CONFIG_READONLY": "1",
            "DO_NOT_TRACK": "1",
            **openclaw_env(settings, self.token),
        }
        self.supervisor = OpenClawSupervisor(
            openclaw_argv(settings), env, port=self.port, token=self.token, policy=self.policy
        )
        self.sync.start()
        self.supervisor.start()

    async def _slack_plugin(self, settings: RuntimeSettings) -> RuntimeSettings:
        """The settings this start renders: without Slack when its plugin cannot be installed."""
        base = {k: os.environ[k] for k in PASSTHROUGH_ENV if k in os.environ}
        try:
            if await ensure_slack_plugin(settings, base):
                log.info("Slack plugin installed")
        except (PluginInstallError, OSError) as error:
            # The gateway still starts (UI, Telegram); Slack events get 503s and Slack retries.
            log.error("Slack is off for this start: %s", error)
            return settings.model_copy(update={"slack_bot_token": None})
        return settings

    async def stop(self) -> None:
        """Stop the gateway, then flush every change to the store."""
        if self.supervisor is not None:
            code = await self.supervisor.stop()
            log.info("OpenClaw gateway stopped (exit code %s)", code)
        if self.sync is not None:
            await self.sync.stop()
            if self.restored:
                changed = await self.sync.sync_all()
                log.info("final OpenClaw state flush: %d objects written", changed)
        if self.relay is not None:
            await self.relay.close()
