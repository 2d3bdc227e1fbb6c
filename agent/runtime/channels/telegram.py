"""Telegram in webhook mode: updates parsed with python-telegram-bot, replies via the Bot API.

Parsing uses PTB's `Update.de_json` (the maintained schema of every update type). Sending uses
the runtime's shared httpx client against `sendMessage` instead of PTB's `Bot`: `Bot` wants an
`initialize()` lifecycle that calls getMe at startup, and its InvalidToken error quotes the token
in clear, while here errors are redacted and 429 `retry_after` goes straight to the outbox.

`python -m agent.runtime.channels.telegram set-webhook --url https://<host>/webhooks/telegram`
registers the webhook with the secret token the edge Worker checks.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

import httpx
from telegram import Update

from agent.runtime.channels.base import (
    DeliveryError,
    Ignored,
    InboundMessage,
    Parsed,
    redact,
    redact_http_logs,
)

MAX_CHARS = 4096  # sendMessage text limit
DEFAULT_API = "https://api.telegram.org"


class TelegramChannel:
    """Telegram Bot API adapter."""

    name = "telegram"
    max_chars = MAX_CHARS

    def __init__(self, token: str, api_base_url: str, http: httpx.AsyncClient) -> None:
        self._token = token
        self._base = api_base_url.rstrip("/")
        self._http = http

    def parse(self, payload: dict[str, Any]) -> Parsed:
        """A text message from a person, or why the update is ignored."""
        update = Update.de_json(payload, None)
        message = update.message
        if message is None:
            return Ignored("not a new message (edits, callbacks and member updates are ignored)")
        sender = message.from_user
        if sender is None or sender.is_bot:
            return Ignored("not sent by a person")
        if not message.text:
            return Ignored("no text (stickers, photos and files are not handled)")
        chat_id = str(message.chat.id)
        return InboundMessage(
            event_id=str(update.update_id),
            sender=str(sender.id),
            sender_name=sender.full_name,
            conversation=chat_id,
            thread=chat_id,
            text=message.text,
            direct=message.chat.type == "private",
        )

    def immediate_response(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Telegram needs only a 2xx."""
        return None

    async def deliver(self, conversation: str, text: str) -> None:
        """sendMessage to the chat."""
        await call_bot_api(
            self._http,
            self._base,
            self._token,
            "sendMessage",
            {"chat_id": conversation, "text": text},
        )

    async def close(self) -> None:
        """The shared client is closed by the runtime."""


async def call_bot_api(
    http: httpx.AsyncClient, base: str, token: str, method: str, params: dict[str, Any]
) -> Any:
    """One Bot API call; DeliveryError (token redacted) unless Telegram says ok."""
    url = f"{base.rstrip('/')}/bot{token}/{method}"
    try:
        response = await http.post(url, json=params, timeout=httpx.Timeout(15.0, connect=5.0))
    except httpx.HTTPError as error:
        raise DeliveryError(
            f"telegram {method}: {type(error).__name__}: {redact(str(error), token)}",
            retryable=True,
        ) from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code == 200 and body.get("ok") is True:
        return body.get("result")
    description = redact(str(body.get("description") or response.reason_phrase), token)
    retry_after = (body.get("parameters") or {}).get("retry_after")
    status = response.status_code
    raise DeliveryError(
        f"telegram {method}: HTTP {status}: {description}",
        retryable=status == 429 or status >= 500,
        retry_after=float(retry_after) if isinstance(retry_after, int | float) else None,
    )


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.runtime.channels.telegram")
    commands = parser.add_subparsers(dest="command", required=True)
    hook = commands.add_parser(
        "set-webhook",
        help="point the bot at the edge Worker; reads TELEGRAM_BOT_TOKEN and "
        "TELEGRAM_WEBHOOK_SECRET from the environment",
    )
    hook.add_argument(
        "--url", required=True, help="e.g. https://agent.example.com/webhooks/telegram"
    )
    hook.add_argument(
        "--api-base-url", default=os.environ.get("TELEGRAM_API_BASE_URL", DEFAULT_API)
    )
    args = parser.parse_args(argv)
    redact_http_logs()
    token = os.environ.get("TELEGRAM_BOT_TOKEN", "")
    secret = os.environ.get("TELEGRAM_WEBHOOK_SECRET", "")
    if not token or not secret:
        missing = [
            n
            for n, v in (("TELEGRAM_BOT_TOKEN", token), ("TELEGRAM_WEBHOOK_SECRET", secret))
            if not v
        ]
        print(
            f"set-webhook: {', '.join(missing)} not set (example: TELEGRAM_WEBHOOK_SECRET="
            "<1-256 of A-Z a-z 0-9 _ - , the value the edge Worker checks>)",
            file=sys.stderr,
        )
        return 2
    if not args.url.startswith("https://") or not args.url.rstrip("/").endswith(
        "/webhooks/telegram"
    ):
        print(
            f"set-webhook: --url {args.url!r} must be https://<host>/webhooks/telegram "
            "(example: --url https://agent.example.com/webhooks/telegram)",
            file=sys.stderr,
        )
        return 2

    async def run() -> None:
        async with httpx.AsyncClient() as http:
            await call_bot_api(
                http,
                args.api_base_url,
                token,
                "setWebhook",
                {"url": args.url, "secret_token": secret, "allowed_updates": ["message"]},
            )

    try:
        asyncio.run(run())
    except DeliveryError as error:
        print(f"set-webhook failed: {error}", file=sys.stderr)
        return 1
    print(f"webhook set: {args.url} (secret token sent; updates: message)")
    return 0


if __name__ == "__main__":
    sys.exit(_cli(sys.argv[1:]))
