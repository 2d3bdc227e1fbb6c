"""WhatsApp over the Cloud API (webhook mode), replies with the Graph API `messages` endpoint.

The edge has already checked X-Hub-Signature-256 and the delivery's replay key
(agent/edge/src/webhooks.ts); here the `messages` webhook's text messages become turns. The
message id (`wamid.…`) is the event id, so Meta's retries of one message are answered once (inbox).

Replies: `POST <graph>/<phone-number-id>/messages` with the access token as a bearer
(https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages). A free-form (non
template) message may only be sent within 24 hours of the person's last message, the
customer-service window (https://developers.facebook.com/docs/whatsapp/pricing#customer-service-windows);
outside it Graph answers error 131047 ("Re-engagement message"). The adapter remembers each
sender's last signed message time and, when the window is known to be closed, refuses the reply
itself with a non-retryable DeliveryError that says so: the outbox records it as failed with that
reason (and logs it) instead of retrying or dropping it silently. After a restart the time is not
known, and Graph's 131047 answer is turned into the same error.

Media messages (image, document, audio, voice notes are `audio` with `voice: true`, sticker)
carry a media id: `GET <graph>/<media-id>` answers its URL, `file_size` and type, and the URL is
downloaded with the access token as a bearer, within 5 minutes
(https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media#retrieve-media-url,
#download-media), before the webhook is acknowledged (agent/runtime/channels/files.py). The token
goes only to graph.facebook.com and Meta's media host (lookaside.fbsbx.com).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from agent.runtime.attachments import Attachment
from agent.runtime.channels.api import (
    TIMEOUT,
    json_object,
    post_form,
    post_json,
    retryable_status,
)
from agent.runtime.channels.base import (
    DeliveryError,
    Ignored,
    InboundMessage,
    Parsed,
    RemoteFile,
    redact,
    retry_after_header,
)
from agent.runtime.channels.files import FileRefused, check_size, download, platform_url

MAX_CHARS = 4096  # text.body limit of a Cloud API text message
IMAGE_MAX_BYTES = 5 * 1024 * 1024  # larger pictures go as documents (100 MB)
WINDOW_S = 24 * 3600
OUTSIDE_WINDOW = 131047
# Graph error codes worth retrying: rate and throughput limits, and transient "unknown" errors
# (https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes).
_RETRYABLE_CODES = {1, 2, 4, 80007, 130429, 131000, 131016, 131056}
MEDIA_TYPES = ("image", "document", "audio", "sticker")
MEDIA_HOSTS = ("fbsbx.com", "facebook.com")
_DEFAULT_NAMES = {"image": "image.jpg", "audio": "audio.ogg", "sticker": "sticker.webp"}


class _Media(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    caption: str = ""
    filename: str | None = None
    voice: bool = False


class _MediaUrl(BaseModel):
    """`GET /<media-id>`: where to download it, and its size."""

    model_config = ConfigDict(extra="allow")

    url: str
    file_size: int | None = None


class _Text(BaseModel):
    model_config = ConfigDict(extra="allow")
    body: str = ""


class _Message(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    timestamp: str
    type: str
    text: _Text | None = None
    image: _Media | None = None
    document: _Media | None = None
    audio: _Media | None = None
    sticker: _Media | None = None
    # `from` is a Python keyword.
    sender: str = ""

    def media(self) -> tuple[str, tuple[RemoteFile, ...]]:
        """The caption and the file of a media message ("" and none for any other)."""
        item: _Media | None = getattr(self, self.type) if self.type in MEDIA_TYPES else None
        if item is None:
            return "", ()
        name = item.filename or ("voice.ogg" if item.voice else _DEFAULT_NAMES.get(self.type))
        return item.caption.strip(), (RemoteFile(item.id, name or self.type),)

    @classmethod
    def of(cls, raw: dict[str, Any]) -> _Message:
        return cls.model_validate({**raw, "sender": str(raw.get("from", ""))})


class _Contact(BaseModel):
    model_config = ConfigDict(extra="allow")
    wa_id: str = ""
    profile: dict[str, Any] = {}


class _Value(BaseModel):
    model_config = ConfigDict(extra="allow")

    messages: list[dict[str, Any]] = []
    contacts: list[_Contact] = []
    metadata: dict[str, Any] = {}


class _Error(BaseModel):
    model_config = ConfigDict(extra="allow")
    message: str = ""
    code: int | None = None


def _values(payload: dict[str, Any]) -> list[_Value]:
    out: list[_Value] = []
    for entry in payload.get("entry") or []:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        for change in changes if isinstance(changes, list) else []:
            if isinstance(change, dict) and change.get("field") == "messages":
                out.append(_Value.model_validate(change.get("value") or {}))
    return out


class WhatsAppChannel:
    """WhatsApp Cloud API adapter (one business phone number)."""

    name = "whatsapp"
    max_chars = MAX_CHARS

    def __init__(
        self,
        access_token: str,
        phone_number_id: str,
        api_base_url: str,
        http: httpx.AsyncClient,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._token = access_token
        self._phone_number_id = phone_number_id
        self._base = api_base_url.rstrip("/")
        self._url = f"{self._base}/{phone_number_id}/messages"
        self._http = http
        self._now = now
        # wa_id -> unix seconds of their last message (Meta's signed timestamp).
        self._last_inbound: dict[str, float] = {}

    def parse(self, payload: dict[str, Any]) -> Parsed:
        """The delivery's text message from a person, or why it is ignored.

        Meta sends one message per `messages` notification in practice; should a delivery batch
        several, the first text message is taken (the edge keys batches by content).
        """
        if payload.get("object") != "whatsapp_business_account":
            return Ignored(f"not a WhatsApp Business Account event ({payload.get('object')!r})")
        try:
            values = _values(payload)
        except ValidationError:
            return Ignored("malformed messages change")
        for value in values:
            to = str(value.metadata.get("phone_number_id", ""))
            if to and to != self._phone_number_id:
                continue  # another number of the same business account
            names = {c.wa_id: str(c.profile.get("name", "")) for c in value.contacts}
            for raw in value.messages:
                try:
                    message = _Message.of(raw)
                except ValidationError:
                    return Ignored("malformed message")
                if not message.sender or not message.timestamp.isdigit():
                    return Ignored("message without a sender or timestamp")
                previous = self._last_inbound.get(message.sender, 0.0)
                self._last_inbound[message.sender] = max(previous, float(message.timestamp))
                caption, files = message.media()
                text = message.text.body.strip() if message.text else caption
                if not text and not files:
                    return Ignored(f"{message.type} messages are not handled (text and media)")
                return InboundMessage(
                    event_id=message.id,
                    sender=message.sender,
                    sender_name=names.get(message.sender) or message.sender,
                    conversation=message.sender,
                    thread=message.sender,
                    text=text,
                    direct=True,
                    home=message.sender,
                    files=files,
                )
        return Ignored("no message (statuses or other notifications)")

    def immediate_response(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Nothing: the subscription challenge is answered by the edge."""
        return None

    async def fetch_file(self, file: RemoteFile, limit: int) -> bytes:
        """The media's URL from Graph, then its bytes; the access token goes to Meta only."""
        bearer = {"Authorization": f"Bearer {self._token}"}
        try:
            response = await self._http.get(
                f"{self._base}/{file.ref}",
                params={"phone_number_id": self._phone_number_id},
                headers=bearer,
                timeout=TIMEOUT,
            )
        except httpx.HTTPError as error:
            detail = redact(str(error), self._token)
            raise DeliveryError(
                f"whatsapp media: {type(error).__name__}: {detail}", retryable=True
            ) from None
        if retryable_status(response.status_code):
            raise DeliveryError(f"whatsapp media: HTTP {response.status_code}", retryable=True)
        try:
            media = _MediaUrl.model_validate(json_object(response))
        except ValidationError:
            raise FileRefused(
                f"{file.name} could not be fetched from WhatsApp (HTTP {response.status_code})"
            ) from None
        check_size(file, media.file_size, limit)
        url = platform_url(media.url, hosts=MEDIA_HOSTS, api_base=self._base)
        return await download(
            self._http, "whatsapp media", url, file, limit, headers=bearer, secrets=(self._token,)
        )

    def window_open(self, wa_id: str) -> bool | None:
        """Whether the 24-hour customer-service window is open, or None when not known."""
        last = self._last_inbound.get(wa_id)
        if last is None:
            return None
        return self._now() - last < WINDOW_S

    async def deliver(self, conversation: str, text: str) -> None:
        """A text message to `conversation` (the person's WhatsApp id)."""
        if self.window_open(conversation) is False:
            raise DeliveryError(_outside_window(conversation), retryable=False)
        body = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": conversation,
            "type": "text",
            "text": {"preview_url": False, "body": text},
        }
        response = await post_json(
            self._http,
            "whatsapp messages",
            self._url,
            body,
            secrets=(self._token,),
            headers={"Authorization": f"Bearer {self._token}"},
        )
        status = response.status_code
        answer = json_object(response)
        if 200 <= status < 300 and answer.get("messages"):
            return
        try:
            error = _Error.model_validate(answer.get("error") or {})
        except ValidationError:
            error = _Error()
        if error.code == OUTSIDE_WINDOW:
            raise DeliveryError(_outside_window(conversation), retryable=False)
        detail = redact(error.message, self._token)
        raise DeliveryError(
            f"whatsapp messages: HTTP {status}: {detail or 'error'} (code {error.code})",
            retryable=retryable_status(status) or error.code in _RETRYABLE_CODES,
            retry_after=retry_after_header(response.headers.get("Retry-After")),
        )

    async def deliver_file(self, conversation: str, file: Attachment) -> None:
        """Upload the file as WhatsApp media, then send it as an image (PNG, JPEG up to 5 MB) or a
        document message.

        https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media#upload-media
        (multipart `messaging_product`, `type`, `file`; answers the media `id`), then
        https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages with
        `{"type": "image" | "document", ...: {"id": <media id>}}`.
        """
        if self.window_open(conversation) is False:
            raise DeliveryError(_outside_window(conversation), retryable=False)
        info = file.info
        bearer = {"Authorization": f"Bearer {self._token}"}
        response = await post_form(
            self._http,
            "whatsapp media",
            self._url.removesuffix("/messages") + "/media",
            data={"messaging_product": "whatsapp", "type": info.type},
            file=("file", info.name, file.body, info.type),
            secrets=(self._token,),
            headers=bearer,
        )
        media_id = json_object(response).get("id")
        if not response.is_success or not isinstance(media_id, str):
            raise self._graph_failure(response, "whatsapp media", conversation)
        image = info.type in ("image/png", "image/jpeg") and info.size <= IMAGE_MAX_BYTES
        kind = "image" if image else "document"
        media: dict[str, str] = {"id": media_id}
        if not image:
            media["filename"] = info.name
        body = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": conversation,
            "type": kind,
            kind: media,
        }
        response = await post_json(
            self._http, "whatsapp messages", self._url, body, secrets=(self._token,), headers=bearer
        )
        if not (response.is_success and json_object(response).get("messages")):
            raise self._graph_failure(response, "whatsapp messages", conversation)

    def _graph_failure(
        self, response: httpx.Response, what: str, conversation: str
    ) -> DeliveryError:
        """What a failed Graph call means: the closed window, retry, or a stated failure."""
        try:
            error = _Error.model_validate(json_object(response).get("error") or {})
        except ValidationError:
            error = _Error()
        if error.code == OUTSIDE_WINDOW:
            return DeliveryError(_outside_window(conversation), retryable=False)
        status = response.status_code
        return DeliveryError(
            f"{what}: HTTP {status}: {redact(error.message, self._token) or 'error'} "
            f"(code {error.code})",
            retryable=retryable_status(status) or error.code in _RETRYABLE_CODES,
            retry_after=retry_after_header(response.headers.get("Retry-After")),
        )

    async def close(self) -> None:
        """The shared client is closed by the runtime."""


def _outside_window(wa_id: str) -> str:
    return (
        f"whatsapp: not sent to {wa_id}: outside the 24-hour customer-service window (their last "
        "message is more than 24 hours old; Meta error 131047). Free-form replies resume when "
        "they write again; reaching them earlier needs an approved message template"
    )
