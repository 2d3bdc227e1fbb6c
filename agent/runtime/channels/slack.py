"""Slack over the Events API (HTTP mode), replies with slack-sdk's AsyncWebClient.

Handled: direct messages to the bot (`message` with `channel_type: im`) and mentions in
channels (`app_mention`, answered in the thread). Slack retries an event it did not see
acknowledged within 3 s; `event_id` dedupes those retries.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import aiohttp
from pydantic import BaseModel, ConfigDict, ValidationError
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from agent.runtime.channels.base import (
    DeliveryError,
    Ignored,
    InboundMessage,
    Parsed,
    redact,
    retry_after_header,
)

MAX_CHARS = 4000  # Slack truncates past 40,000 and advises at most 4,000 per message
_MENTION = re.compile(r"^\s*<@[A-Z0-9]+>\s*")
_RETRYABLE_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable"}


class _Event(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    user: str | None = None
    text: str | None = None
    channel: str | None = None
    channel_type: str | None = None
    ts: str | None = None
    thread_ts: str | None = None
    subtype: str | None = None
    bot_id: str | None = None


class _Callback(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["event_callback"]
    event_id: str
    event: _Event


class SlackChannel:
    """Slack Events API adapter."""

    name = "slack"
    max_chars = MAX_CHARS

    def __init__(self, token: str, api_base_url: str) -> None:
        self._token = token
        base = api_base_url if api_base_url.endswith("/") else api_base_url + "/"
        self._client = AsyncWebClient(token=token, base_url=base, timeout=15)

    def parse(self, payload: dict[str, Any]) -> Parsed:
        """A DM or mention from a person, or why the event is ignored."""
        if payload.get("type") != "event_callback":
            return Ignored(f"not an event callback ({payload.get('type')!r})")
        try:
            callback = _Callback.model_validate(payload)
        except ValidationError:
            return Ignored("malformed event callback")
        event = callback.event
        if event.bot_id or event.subtype or not event.user or not event.channel or not event.ts:
            return Ignored("not a new message from a person (bot, edit or system message)")
        text = _MENTION.sub("", event.text or "").strip()
        if not text:
            return Ignored("no text")
        if event.type == "message" and event.channel_type == "im":
            conversation = event.channel
            direct = True
        elif event.type == "app_mention":
            conversation = f"{event.channel}/{event.thread_ts or event.ts}"
            direct = False
        else:
            return Ignored(f"event {event.type!r} is not a DM or a mention")
        return InboundMessage(
            event_id=callback.event_id,
            sender=event.user,
            sender_name=event.user,
            conversation=conversation,
            thread=conversation.replace("/", "-").replace(".", "_"),
            text=text,
            direct=direct,
        )

    def immediate_response(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Answer the Events API URL verification handshake."""
        if payload.get("type") == "url_verification" and isinstance(payload.get("challenge"), str):
            return {"challenge": payload["challenge"]}
        return None

    async def deliver(self, conversation: str, text: str) -> None:
        """chat.postMessage, in the thread for mentions."""
        channel, _, thread_ts = conversation.partition("/")
        try:
            await self._client.chat_postMessage(
                channel=channel, text=escape(text), thread_ts=thread_ts or None
            )
        except SlackApiError as error:
            status = error.response.status_code
            code = str(error.response.get("error", "")) if error.response.data else ""
            raise DeliveryError(
                f"slack chat.postMessage: HTTP {status}: {code or 'error'}",
                retryable=status == 429 or status >= 500 or code in _RETRYABLE_ERRORS,
                retry_after=retry_after_header(error.response.headers.get("Retry-After")),
            ) from None
        except (TimeoutError, SlackClientError, aiohttp.ClientError, ValueError) as error:
            raise DeliveryError(
                f"slack chat.postMessage: {type(error).__name__}: "
                f"{redact(str(error), self._token)}",
                retryable=True,
            ) from None

    async def close(self) -> None:
        """AsyncWebClient opens a session per call: nothing to release."""


def escape(text: str) -> str:
    """Slack's control characters escaped, so a reply cannot ping @channel or forge links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
