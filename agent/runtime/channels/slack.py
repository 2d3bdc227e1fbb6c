"""Slack over the Events API (HTTP mode), replies with `chat.postMessage` over httpx.

Handled: direct messages to the bot (`message` with `channel_type: im`) and mentions in
channels (`app_mention`, answered in the thread). Slack retries an event it did not see
acknowledged within 3 s; `event_id` dedupes those retries. Replies are JSON posts with the bot
token as a bearer (https://api.slack.com/web#posting_json) through the runtime's shared client
(`channels/api.py`); Slack answers HTTP 200 with `ok: false` for most errors, and 429 with a
Retry-After header when rate limited (https://api.slack.com/apis/rate-limits).

Files shared with a message (`subtype: file_share`, a `files` list of file objects,
https://api.slack.com/types/file) are downloaded from `url_private_download` with the bot token
as a bearer, which needs the `files:read` scope (https://api.slack.com/types/file#auth), before
the event is acknowledged (agent/runtime/channels/files.py). The token goes only to
files.slack.com.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from agent.runtime.attachments import Attachment
from agent.runtime.channels.api import json_object, post_form, post_json, retryable_status
from agent.runtime.channels.base import (
    DeliveryError,
    Ignored,
    InboundMessage,
    Parsed,
    RemoteFile,
    redact,
    retry_after_header,
)
from agent.runtime.channels.files import check_size, download, platform_url

MAX_CHARS = 4000  # Slack truncates past 40,000 and advises at most 4,000 per message
_MENTION = re.compile(r"^\s*<@[A-Z0-9]+>\s*")
_RETRYABLE_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable"}
FILE_HOSTS = ("files.slack.com",)


class _File(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = ""
    name: str | None = None
    size: int | None = None
    url_private_download: str | None = None
    url_private: str | None = None


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
    files: list[_File] = []


class _Callback(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["event_callback"]
    event_id: str
    event: _Event


class _Answer(BaseModel):
    """A Web API answer: `ok`, and `error` naming what went wrong."""

    model_config = ConfigDict(extra="allow")

    ok: bool = False
    error: str | None = None


class SlackChannel:
    """Slack Events API adapter."""

    name = "slack"
    max_chars = MAX_CHARS

    def __init__(self, token: str, api_base_url: str, http: httpx.AsyncClient) -> None:
        self._token = token
        self._base = api_base_url if api_base_url.endswith("/") else api_base_url + "/"
        self._http = http

    def parse(self, payload: dict[str, Any]) -> Parsed:
        """A DM or mention from a person, or why the event is ignored."""
        if payload.get("type") != "event_callback":
            return Ignored(f"not an event callback ({payload.get('type')!r})")
        try:
            callback = _Callback.model_validate(payload)
        except ValidationError:
            return Ignored("malformed event callback")
        event = callback.event
        new_message = event.subtype in (None, "file_share")
        if event.bot_id or not new_message or not event.user or not event.channel or not event.ts:
            return Ignored("not a new message from a person (bot, edit or system message)")
        text = _MENTION.sub("", event.text or "").strip()
        files = tuple(
            RemoteFile(url, f.name or f.id or "file", f.size)
            for f in event.files
            if (url := f.url_private_download or f.url_private)
        )
        if not text and not files:
            return Ignored("neither text nor a file")
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
            files=files,
        )

    def immediate_response(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Answer the Events API URL verification handshake."""
        if payload.get("type") == "url_verification" and isinstance(payload.get("challenge"), str):
            return {"challenge": payload["challenge"]}
        return None

    async def deliver(self, conversation: str, text: str) -> None:
        """chat.postMessage, in the thread for mentions."""
        channel, _, thread_ts = conversation.partition("/")
        body = {"channel": channel, "text": escape(text)}
        if thread_ts:
            body["thread_ts"] = thread_ts
        response = await post_json(
            self._http,
            "slack chat.postMessage",
            self._base + "chat.postMessage",
            body,
            secrets=(self._token,),
            headers={"Authorization": f"Bearer {self._token}"},
        )
        try:
            answer = _Answer.model_validate(json_object(response))
        except ValidationError:
            answer = _Answer()
        status = response.status_code
        if status == 200 and answer.ok:
            return
        code = redact(answer.error or "", self._token)
        raise DeliveryError(
            f"slack chat.postMessage: HTTP {status}: {code or 'error'}",
            retryable=retryable_status(status) or code in _RETRYABLE_ERRORS,
            retry_after=retry_after_header(response.headers.get("Retry-After")),
        )

    async def fetch_file(self, file: RemoteFile, limit: int) -> bytes:
        """The file from its private URL, with the bot token (scope files:read)."""
        check_size(file, None, limit)
        url = platform_url(file.ref, hosts=FILE_HOSTS, api_base=self._base)
        return await download(
            self._http,
            "slack file",
            url,
            file,
            limit,
            headers={"Authorization": f"Bearer {self._token}"},
            secrets=(self._token,),
            html_means="Slack answered a sign-in page (add the files:read scope to the app)",
        )

    async def deliver_file(self, conversation: str, file: Attachment) -> None:
        """Slack's external upload: get an upload URL, post the bytes there, then share the file
        in the conversation (in the thread for mentions). Needs the `files:write` scope.

        https://docs.slack.dev/reference/methods/files.getUploadURLExternal/ (form-encoded
        `filename`, `length`), then a POST of the file to `upload_url`, then
        https://docs.slack.dev/reference/methods/files.completeUploadExternal/ (`files`,
        `channel_id`, `thread_ts`).
        """
        info = file.info
        bearer = {"Authorization": f"Bearer {self._token}"}
        method = "files.getUploadURLExternal"
        response = await post_form(
            self._http,
            f"slack {method}",
            self._base + method,
            data={"filename": info.name, "length": str(info.size)},
            secrets=(self._token,),
            headers=bearer,
        )
        try:
            ticket = _UploadTicket.model_validate(self._ok(response, method))
        except ValidationError:
            raise DeliveryError(
                f"slack {method}: no upload_url in the answer", retryable=True
            ) from None
        # The upload URL is pre-signed by Slack: the bot token does not go there.
        uploaded = await post_form(
            self._http,
            "slack file upload",
            ticket.upload_url,
            data={},
            file=("file", info.name, file.body, info.type),
            secrets=(self._token, ticket.upload_url),
        )
        if not uploaded.is_success:
            raise DeliveryError(
                f"slack file upload: HTTP {uploaded.status_code}",
                retryable=retryable_status(uploaded.status_code),
            )
        channel, _, thread_ts = conversation.partition("/")
        body: dict[str, Any] = {
            "files": [{"id": ticket.file_id, "title": info.name}],
            "channel_id": channel,
        }
        if thread_ts:
            body["thread_ts"] = thread_ts
        method = "files.completeUploadExternal"
        response = await post_json(
            self._http,
            f"slack {method}",
            self._base + method,
            body,
            secrets=(self._token,),
            headers=bearer,
        )
        self._ok(response, method)

    def _ok(self, response: httpx.Response, method: str) -> dict[str, Any]:
        """The answer of a Web API call that succeeded; DeliveryError otherwise."""
        body = json_object(response)
        if response.status_code == 200 and body.get("ok") is True:
            return body
        code = redact(str(body.get("error") or ""), self._token)
        raise DeliveryError(
            f"slack {method}: HTTP {response.status_code}: {code or 'error'}"
            + (" (the app needs the files:write scope)" if code == "missing_scope" else ""),
            retryable=retryable_status(response.status_code) or code in _RETRYABLE_ERRORS,
            retry_after=retry_after_header(response.headers.get("Retry-After")),
        )

    async def close(self) -> None:
        """The shared client is closed by the runtime."""


class _UploadTicket(BaseModel):
    model_config = ConfigDict(extra="allow")

    upload_url: str
    file_id: str


def escape(text: str) -> str:
    """Slack's control characters escaped, so a reply cannot ping @channel or forge links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
