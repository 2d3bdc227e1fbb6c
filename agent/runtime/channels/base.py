"""What every chat channel adapter provides: parse a verified webhook, deliver one message.

Adapters are small and stateless. Durability (dedupe, retries, restarts) lives in the inbox
processor and the outbox, so each platform module only knows its own wire format.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Literal, Protocol

# Adapters raise it; it is part of their contract, declared with the other errors.
from agent.runtime.errors import DeliveryError as DeliveryError

DmPolicy = Literal["pairing", "allowlist", "open"]
DM_POLICIES: tuple[DmPolicy, ...] = ("pairing", "allowlist", "open")


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """A file attached to a message, still on the platform (agent/runtime/channels/files.py)."""

    ref: str  # what the adapter's `fetch_file` needs: a file id, or a URL from the platform
    name: str
    size: int | None = None  # the size the platform states, checked before downloading


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message from a person, as the agent should see it (text, files, or both)."""

    event_id: str  # platform id: Telegram update_id, Slack event_id, Discord interaction id
    sender: str  # the platform's user id (what allowlists and pairings name)
    sender_name: str
    conversation: str  # where the reply goes (the Outbox `conversation`)
    thread: str  # what groups turns into one session (chat, DM or channel + thread)
    text: str
    direct: bool  # a one-to-one conversation with the bot
    # Where later messages (scheduled jobs) go, when `conversation` is short-lived (Discord).
    home: str = ""
    files: tuple[RemoteFile, ...] = ()


@dataclass(frozen=True, slots=True)
class Ignored:
    """An event the agent does not act on (edits, bot messages, joins, ...)."""

    reason: str


Parsed = InboundMessage | Ignored


class ChannelAdapter(Protocol):
    """One chat platform in webhook mode."""

    name: str
    max_chars: int  # the platform's per-message text limit; longer replies are split

    def parse(self, payload: dict[str, Any]) -> Parsed:
        """Turn a verified webhook body into a message, or say why it is ignored."""
        ...

    def immediate_response(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        """A body the platform needs in the webhook's own HTTP response, if any."""
        ...

    async def deliver(self, conversation: str, text: str) -> None:
        """Send one message of at most `max_chars`; raise DeliveryError on failure."""
        ...

    async def close(self) -> None:
        """Release clients."""
        ...


def redact(text: str, *secrets: str | None) -> str:
    """`text` with every non-empty secret replaced, for errors that may quote a URL."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return text


def retry_after_header(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form only), or None."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


# Credentials that these platforms put in request paths: Telegram's bot token and Discord's
# interaction token. httpx logs every request URL at INFO, so its records are scrubbed.
_URL_SECRETS = re.compile(r"(/bot)\d+:[A-Za-z0-9_-]+|(/webhooks/\d+/)[^/?\s\"']+")


class RedactUrlSecrets(logging.Filter):
    """Rewrites log records so bot and interaction tokens in URLs read `<redacted>`."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact in place; never drops a record."""
        message = record.getMessage()
        cleaned = _URL_SECRETS.sub(lambda m: (m.group(1) or m.group(2)) + "<redacted>", message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def redact_http_logs() -> None:
    """Install the filter on httpx's logger (once)."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, RedactUrlSecrets) for f in logger.filters):
        logger.addFilter(RedactUrlSecrets())
