"""Telegram in webhook mode: updates parsed into pydantic models, replies via the Bot API.

Only the parts of an Update the agent reads are modelled (a new message, its chat and its sender,
its text or caption, and its photo, document, voice note or audio file;
https://core.telegram.org/bots/api#message); anything else is ignored. Files are fetched with
`getFile` and then `<api>/file/bot<token>/<file_path>` (https://core.telegram.org/bots/api#getfile:
bots download files of up to 20 MB, and the link is valid for at least an hour), before the
webhook is acknowledged (agent/runtime/channels/files.py). Sending goes through
the runtime's shared httpx client (`channels/api.py`) to `sendMessage`: errors are redacted (the
token is in the URL) and a 429's `retry_after` goes straight to the outbox.

`python -m agent.runtime.channels.telegram set-webhook --url https://<host>/webhooks/telegram`
registers the webhook with the secret token the edge Worker checks.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.runtime.attachments import Attachment
from agent.runtime.channels.api import json_object, post_form, post_json, retryable_status
from agent.runtime.channels.base import (
    DeliveryError,
    Ignored,
    InboundMessage,
    Parsed,
    RemoteFile,
    redact,
    redact_http_logs,
)
from agent.runtime.channels.files import FileRefused, check_size, download

MAX_CHARS = 4096  # sendMessage text limit
PHOTO_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_API = "https://api.telegram.org"


class _User(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int
    is_bot: bool = False
    first_name: str = ""
    last_name: str | None = None

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}" if self.last_name else self.first_name


class _Chat(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int
    type: str


class _File(BaseModel):
    """PhotoSize, Document, Voice and Audio share these (https://core.telegram.org/bots/api#file)."""

    model_config = ConfigDict(extra="allow")

    file_id: str
    file_unique_id: str = ""
    file_size: int | None = None
    file_name: str | None = None
    width: int = 0
    height: int = 0


class _Message(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    message_id: int
    chat: _Chat
    sender: _User | None = Field(default=None, alias="from")
    text: str | None = None
    caption: str | None = None  # the text sent with a photo or file
    photo: list[_File] = []  # one photo in several sizes
    document: _File | None = None
    voice: _File | None = None  # a voice note: OGG/Opus
    audio: _File | None = None

    def files(self) -> tuple[RemoteFile, ...]:
        found: list[RemoteFile] = []
        if self.photo:  # the largest size: the most detail for the model
            best = max(self.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
            found.append(RemoteFile(best.file_id, f"photo-{self.message_id}.jpg", best.file_size))
        for kind, default in (("document", "document"), ("voice", "voice.ogg"), ("audio", "audio")):
            item: _File | None = getattr(self, kind)
            if item is not None:
                found.append(RemoteFile(item.file_id, item.file_name or default, item.file_size))
        return tuple(found)


class _RemoteFileInfo(BaseModel):
    """getFile's answer (https://core.telegram.org/bots/api#file)."""

    model_config = ConfigDict(extra="allow")

    file_path: str | None = None
    file_size: int | None = None


class _Update(BaseModel):
    model_config = ConfigDict(extra="allow")

    update_id: int
    message: _Message | None = None  # edits, callbacks, member updates... arrive in other fields


class _ResponseParameters(BaseModel):
    model_config = ConfigDict(extra="allow")

    retry_after: float | None = None


class _Answer(BaseModel):
    """Every Bot API answer: https://core.telegram.org/bots/api#making-requests."""

    model_config = ConfigDict(extra="allow")

    ok: bool = False
    result: Any = None
    description: str | None = None
    parameters: _ResponseParameters | None = None


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
        try:
            update = _Update.model_validate(payload)
        except ValidationError:
            return Ignored("malformed update")
        message = update.message
        if message is None:
            return Ignored("not a new message (edits, callbacks and member updates are ignored)")
        sender = message.sender
        if sender is None or sender.is_bot:
            return Ignored("not sent by a person")
        text = (message.text or message.caption or "").strip()
        files = message.files()
        if not text and not files:
            return Ignored("neither text nor a photo, document or voice note (e.g. a sticker)")
        chat_id = str(message.chat.id)
        return InboundMessage(
            event_id=str(update.update_id),
            sender=str(sender.id),
            sender_name=sender.full_name,
            conversation=chat_id,
            thread=chat_id,
            text=text,
            direct=message.chat.type == "private",
            files=files,
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

    async def fetch_file(self, file: RemoteFile, limit: int) -> bytes:
        """getFile, then the download link; the token is in both URLs and never in an error."""
        check_size(file, None, limit)
        try:
            result = await call_bot_api(
                self._http, self._base, self._token, "getFile", {"file_id": file.ref}
            )
        except DeliveryError as error:
            if error.retryable:
                raise
            # e.g. "Bad Request: file is too big" past the Bot API's 20 MB download limit
            raise FileRefused(f"{file.name}: Telegram did not hand it over ({error})") from None
        info = _RemoteFileInfo.model_validate(result if isinstance(result, dict) else {})
        check_size(file, info.file_size, limit)
        if not info.file_path or ".." in info.file_path:
            raise FileRefused(f"{file.name}: Telegram gave no download path")
        url = f"{self._base}/file/bot{self._token}/{quote(info.file_path)}"
        return await download(self._http, "telegram file", url, file, limit, secrets=(self._token,))

    async def deliver_file(self, conversation: str, file: Attachment) -> None:
        """sendPhoto for a PNG or JPEG up to 10 MB, sendDocument for anything else.

        Files are posted as multipart/form-data (https://core.telegram.org/bots/api#sending-files;
        photos at most 10 MB, other files 50 MB).
        """
        info = file.info
        photo = info.type in ("image/png", "image/jpeg") and info.size <= PHOTO_MAX_BYTES
        method, field = ("sendPhoto", "photo") if photo else ("sendDocument", "document")
        url = f"{self._base}/bot{self._token}/{method}"
        response = await post_form(
            self._http,
            f"telegram {method}",
            url,
            data={"chat_id": conversation},
            file=(field, info.name, file.body, info.type),
            secrets=(self._token,),
        )
        bot_answer(response, method, self._token)

    async def close(self) -> None:
        """The shared client is closed by the runtime."""


async def call_bot_api(
    http: httpx.AsyncClient, base: str, token: str, method: str, params: dict[str, Any]
) -> Any:
    """One Bot API call; DeliveryError (token redacted) unless Telegram says ok."""
    url = f"{base.rstrip('/')}/bot{token}/{method}"
    response = await post_json(http, f"telegram {method}", url, params, secrets=(token,))
    return bot_answer(response, method, token)


def bot_answer(response: httpx.Response, method: str, token: str) -> Any:
    """The result of a Bot API answer; DeliveryError (token redacted) unless Telegram says ok."""
    try:
        answer = _Answer.model_validate(json_object(response))
    except ValidationError:
        answer = _Answer()
    if response.status_code == 200 and answer.ok:
        return answer.result
    description = redact(answer.description or response.reason_phrase, token)
    status = response.status_code
    raise DeliveryError(
        f"telegram {method}: HTTP {status}: {description}",
        retryable=retryable_status(status),
        retry_after=answer.parameters.retry_after if answer.parameters else None,
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
