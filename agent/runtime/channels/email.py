"""Email through Cloudflare Email Routing: mail in via the Worker, replies out via the Worker.

The Worker's `email` handler has already admitted the message (allowlisted envelope sender,
Email Routing's DMARC/SPF/DKIM verdicts, From = sender; agent/edge/src/email.ts), parsed it and
claimed its Message-ID; it arrives as a small JSON event. The Message-ID is the event id, so a
message delivered twice is answered once (inbox), and the session is the thread: the root
Message-ID (first of References, else In-Reply-To, else its own), so a reply to the agent's reply
continues the same conversation.

Replies are not sent with `message.reply()`: that works only inside the `email` handler, and a
turn may outlast it. The durable outbox delivers them like every other channel's, by posting to
the Worker (`POST <EMAIL_RELAY_URL>`, i.e. /webhooks/email), which sends them with its
`send_email` binding (agent/edge/src/email_reply.ts). The outbox's `conversation` carries what a
threaded reply needs: recipient, subject, In-Reply-To and References (RFC 5322 section 3.6.4:
the parent's References followed by the parent's Message-ID).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.runtime.attachments import Attachment
from agent.runtime.channels.api import json_object, post_json, retryable_status
from agent.runtime.channels.base import (
    DeliveryError,
    Ignored,
    InboundMessage,
    Parsed,
    redact,
    retry_after_header,
)

# One reply is one mail; the relay takes up to 1 MiB, so text is split only past this.
MAX_CHARS = 100_000
MAX_REFERENCES = 20  # as the relay accepts
RELAY_HEADER = "X-Agent-Email-Relay"
# The relay takes at most 5 MiB of JSON (agent/edge/src/email_reply.ts); base64 grows a file by 4/3.
MAX_FILE_BYTES = 3_500_000


class _Inbound(BaseModel):
    """The event the Worker forwards (InboundEmail in agent/edge/src/email.ts)."""

    model_config = ConfigDict(extra="ignore")

    message_id: str = Field(pattern=r"^<[^<>\s]+>$")
    sender: str = Field(alias="from")
    from_name: str = ""
    subject: str = ""
    text: str
    truncated: bool = False
    in_reply_to: str | None = None
    references: list[str] = []
    thread: str


class ReplyAddress(BaseModel):
    """Where and how a reply goes: the outbox's `conversation`, as JSON."""

    to: str
    subject: str
    in_reply_to: str
    references: list[str]


def reply_subject(subject: str) -> str:
    """`Re: <subject>`, without stacking `Re: Re:`."""
    subject = subject.strip()
    if subject.lower().startswith("re:"):
        return subject
    return f"Re: {subject}" if subject else "Re: your message"


def reply_references(references: list[str], message_id: str) -> list[str]:
    """The parent's References then its Message-ID, the thread's root kept when trimmed."""
    chain = [*references, message_id]
    if len(chain) <= MAX_REFERENCES:
        return chain
    return [chain[0], *chain[-(MAX_REFERENCES - 1) :]]


class EmailChannel:
    """The email channel: one address on the stack's zone, replies through the Worker."""

    name = "email"
    max_chars = MAX_CHARS

    def __init__(self, relay_url: str, credential: str, http: httpx.AsyncClient) -> None:
        self._url = relay_url
        self._credential = credential
        self._http = http

    def parse(self, payload: dict[str, Any]) -> Parsed:
        """The message as a turn of its thread."""
        try:
            mail = _Inbound.model_validate(payload)
        except ValidationError:
            return Ignored("malformed email event")
        text = mail.text.strip()
        if not text:
            return Ignored("email without text (attachments are not handled yet)")
        if mail.truncated:
            text += "\n\n[The message was longer; only its beginning is shown.]"
        prompt = f"Subject: {mail.subject}\n\n{text}" if mail.subject else text
        address = ReplyAddress(
            to=mail.sender,
            subject=reply_subject(mail.subject),
            in_reply_to=mail.message_id,
            references=reply_references(mail.references, mail.message_id),
        )
        conversation = address.model_dump_json()
        return InboundMessage(
            event_id=mail.message_id,
            sender=mail.sender.lower(),
            sender_name=mail.from_name or mail.sender,
            conversation=conversation,
            thread=mail.thread,
            text=prompt,
            direct=True,
            home=conversation,
        )

    def immediate_response(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Nothing: the Worker answers Email Routing itself."""
        return None

    async def deliver(self, conversation: str, text: str) -> None:
        """One reply in the thread `conversation` names, sent by the Worker."""
        await self._relay(conversation, text, None)

    async def deliver_file(self, conversation: str, file: Attachment) -> None:
        """A file the agent sent back, attached to one more mail in the same thread."""
        info = file.info
        if len(file.body) > MAX_FILE_BYTES:
            raise DeliveryError(
                f"email: {info.name} is {info.size} bytes; mail through the Worker carries files "
                f"of at most {MAX_FILE_BYTES} bytes",
                retryable=False,
            )
        attachment = {
            "name": info.name,
            "type": info.type,
            "content": base64.b64encode(file.body).decode(),
        }
        await self._relay(conversation, f"Attached: {info.name}", attachment)

    async def _relay(self, conversation: str, text: str, attachment: dict[str, str] | None) -> None:
        try:
            address = ReplyAddress.model_validate(json.loads(conversation))
        except (ValueError, ValidationError):
            unreadable = "email: stored reply address is unreadable"
            raise DeliveryError(unreadable, retryable=False) from None
        body = {
            "to": address.to,
            "subject": address.subject,
            "text": text,
            "in_reply_to": address.in_reply_to,
            "references": address.references,
            "attachment": attachment,
        }
        response = await post_json(
            self._http,
            "email relay",
            self._url,
            body,
            secrets=(self._credential,),
            headers={RELAY_HEADER: self._credential},
        )
        status = response.status_code
        if status == 202:
            return
        answer = json_object(response)
        detail = redact(str(answer.get("error") or "error"), self._credential)
        raise DeliveryError(
            f"email relay: HTTP {status}: {detail}",
            retryable=retryable_status(status),
            retry_after=retry_after_header(response.headers.get("Retry-After")),
        )

    async def close(self) -> None:
        """The shared client is closed by the runtime."""
