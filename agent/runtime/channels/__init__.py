"""Chat channels in webhook mode (Telegram, Slack, Discord, WhatsApp, email): config, adapters.

`open_channels` builds everything from settings: channels whose configuration is missing or
invalid are listed as disabled with the reason, and the runtime runs on without them.
"""

from __future__ import annotations

import logging

import httpx

from agent.runtime.attachment_retention import attachment_retention
from agent.runtime.channels.base import ChannelAdapter, redact_http_logs
from agent.runtime.channels.config import ChannelConfig, load_channel_configs
from agent.runtime.channels.inbox import ChannelHub
from agent.runtime.outbox import Outbox
from agent.runtime.retention import Retention
from agent.runtime.service import ChatService
from agent.runtime.settings import RuntimeSettings
from agent.runtime.store.base import StateStore

__all__ = ["ChannelHub", "build_adapter", "open_channels"]

log = logging.getLogger("agent.runtime.channels")


def build_adapter(config: ChannelConfig, http: httpx.AsyncClient) -> ChannelAdapter:
    """The adapter of an enabled channel."""
    if config.channel == "telegram":
        from agent.runtime.channels.telegram import TelegramChannel

        assert config.token is not None
        return TelegramChannel(config.token.get_secret_value(), config.api_base_url, http)
    if config.channel == "slack":
        from agent.runtime.channels.slack import SlackChannel

        assert config.token is not None
        return SlackChannel(config.token.get_secret_value(), config.api_base_url, http)
    if config.channel == "whatsapp":
        from agent.runtime.channels.whatsapp import WhatsAppChannel

        assert config.token is not None
        assert config.phone_number_id is not None
        return WhatsAppChannel(
            config.token.get_secret_value(), config.phone_number_id, config.api_base_url, http
        )
    if config.channel == "email":
        from agent.runtime.channels.email import EmailChannel

        assert config.token is not None
        return EmailChannel(config.api_base_url, config.token.get_secret_value(), http)
    from agent.runtime.channels.discord import DiscordChannel

    assert config.application_id is not None
    bot_token = config.token.get_secret_value() if config.token is not None else None
    return DiscordChannel(config.application_id, config.api_base_url, http, bot_token)


def open_channels(
    settings: RuntimeSettings, store: StateStore, service: ChatService, http: httpx.AsyncClient
) -> ChannelHub:
    """The channel hub and its outbox; call `start()` to resume unfinished work."""
    redact_http_logs()
    configs = load_channel_configs(settings)
    adapters: dict[str, ChannelAdapter] = {}
    for name, config in configs.items():
        if config.enabled:
            adapters[name] = build_adapter(config, http)
            log.info("channel %s enabled (DM policy %s)", name, config.policy)
        elif not config.status.startswith("not configured"):
            log.warning("channel %s %s", name, config.status)
    outbox = Outbox(store, adapters)
    retention = Retention(store, days=settings.channel_record_retention_days)
    hub = ChannelHub(store, service, outbox, configs, adapters, retention)
    # Web and channel attachments alike; swept on the same cron tick.
    hub.attachment_retention = attachment_retention(store, days=settings.attachment_retention_days)
    return hub
