"""Attachments: files sent to the agent (web chat uploads, channel files), stored content-addressed
and shown to the model.

An upload (POST /api/attachments) is read as a stream with a size cap, its type is sniffed from
its first bytes (the name and the Content-Type header are not trusted), and it is stored once
under `attachments/<owner>/<sha256>` with a small `.json` description next to it, both by
conditional create: the same bytes uploaded twice are one object (only the description's
`used_on` day is rewritten, for expiry). `<owner>` is a hash of the
verified identity, so in a shared sandbox one user can neither read nor reference another's
files. A chat message names attachment ids; the turn keeps their descriptions, and the model
receives images as pydantic-ai `BinaryContent` (when it accepts images) and PDFs and text files as
text, within AGENT_ATTACHMENT_TEXT_CHARS (docs/attachments.md). Each save also indexes the file
for expiry (agent/runtime/attachment_retention.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field
from pydantic_ai.messages import BinaryContent, UserContent

from agent.runtime.errors import PreconditionFailed, RequestError
from agent.runtime.retention import ATTACHMENTS_DONE_PREFIX
from agent.runtime.store.base import StateStore

PREFIX = "attachments/"
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
AUDIO_TYPES = ("audio/ogg", "audio/mpeg", "audio/webm", "audio/wav", "audio/mp4")
ALLOWED_TYPES = (*IMAGE_TYPES, *AUDIO_TYPES, "application/pdf", "text/plain")
# ISO BMFF brands of audio files (M4A from phones and browsers' MediaRecorder).
_MP4_AUDIO_BRANDS = (b"M4A ", b"M4B ", b"mp42", b"isom", b"dash", b"iso5", b"iso6")
ATTACHMENT_ID = re.compile(r"^[0-9a-f]{64}$")
ATTACHMENT_HEADER = "[attachment "
TRANSCRIPT_PREFIX = "Transcript: "
UNTRANSCRIBED_PREFIX = "Not transcribed: "
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MAX_NAME_CHARS = 200
_SNIFF_TEXT_BYTES = 4096


class AttachmentInfo(BaseModel):
    """What the turn keeps and the UI shows: the id (the content's sha256), name, type, size."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(pattern=ATTACHMENT_ID.pattern)
    name: str
    type: str
    size: int = Field(ge=0)
    # Audio only, filled when a turn runs (agent/runtime/transcription.py): what was said, or why
    # there is no transcript. Never part of the stored description.
    transcript: str | None = None
    transcript_note: str | None = None

    @property
    def is_image(self) -> bool:
        """Whether the model may see it as a picture."""
        return self.type in IMAGE_TYPES

    @property
    def is_audio(self) -> bool:
        """Whether it is transcribed for the model."""
        return self.type in AUDIO_TYPES

    def public(self) -> dict[str, object]:
        """The JSON the API answers: the transcript fields only when there is one."""
        return self.model_dump(mode="json", exclude_none=True)

    def header(self) -> str:
        """The line that introduces the file to the model (the offline model reads it back)."""
        return f"{ATTACHMENT_HEADER}{self.name} ({self.type}, {self.size} bytes)]"


@dataclass(frozen=True, slots=True)
class Attachment:
    """A stored attachment's description and bytes."""

    info: AttachmentInfo
    body: bytes


def sniff(body: bytes) -> str | None:
    """The content type of `body` from its magic bytes, or None if it is not an allowed type."""
    if body.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if body.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if body.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if body[:4] == b"RIFF" and body[8:12] == b"WEBP":
        return "image/webp"
    if body.startswith(b"%PDF-"):
        return "application/pdf"
    audio = _sniff_audio(body)
    if audio is not None:
        return audio
    head = body[:_SNIFF_TEXT_BYTES]
    if b"\x00" in head:
        return None
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        # A multi-byte character cut at the sniffing window's end is still text.
        if error.start < len(head) - 3:
            return None
    return "text/plain"


def _sniff_audio(body: bytes) -> str | None:
    if body.startswith(b"OggS"):
        return "audio/ogg"
    if body[:4] == b"RIFF" and body[8:12] == b"WAVE":
        return "audio/wav"
    if body.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: WebM from a browser's MediaRecorder
        return "audio/webm"
    if body[4:8] == b"ftyp" and body[8:12] in _MP4_AUDIO_BRANDS:
        return "audio/mp4"
    # MP3: an ID3v2 tag, or an MPEG audio frame sync (11 set bits, layer III).
    if body.startswith(b"ID3") or (len(body) > 1 and body[0] == 0xFF and body[1] & 0xE6 == 0xE2):
        return "audio/mpeg"
    return None


def clean_name(raw: str | None) -> str:
    """A display name: the last path segment, no control characters, bounded; never a key."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(char for char in name if char.isprintable()).strip()
    return name[:_MAX_NAME_CHARS] or "attachment"


def owner_of(user: str) -> str:
    """The key segment of a user's attachments: a hash of the canonical identity."""
    return hashlib.sha256(user.strip().lower().encode()).hexdigest()[:32]


def _keys(user: str, attachment_id: str) -> tuple[str, str]:
    return _owned_keys(owner_of(user), attachment_id)


def _owned_keys(owner: str, attachment_id: str) -> tuple[str, str]:
    base = f"{PREFIX}{owner}/{attachment_id}"
    return base, base + ".json"


def _too_large(limit: int) -> RequestError:
    return RequestError(
        413,
        f"attachment larger than {limit} bytes (AGENT_ATTACHMENT_MAX_BYTES)",
        "send a smaller file, e.g. a screenshot instead of a scan; nothing was stored",
    )


async def read_capped(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """The whole stream, or a 413 as soon as it passes `limit` bytes."""
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    return bytes(body)


async def save(
    store: StateStore, user: str, name: str | None, body: bytes, *, at: datetime | None = None
) -> AttachmentInfo:
    """Check and store one upload (idempotent: the same bytes give the same id).

    Each save also records the day for expiry (ATTACHMENT_RETENTION_DAYS,
    agent/runtime/attachment_retention.py): an attachment expires that many days after it was
    last stored, so sending the same file again keeps it.
    """
    if not body:
        raise RequestError(422, "empty attachment", "send the file's bytes as the request body")
    kind = sniff(body)
    if kind is None:
        raise RequestError(
            415,
            "attachment type not allowed: the content is not PNG, JPEG, GIF, WebP, PDF, UTF-8 "
            "text or audio (Ogg, MP3, WebM, WAV, M4A)",
            "attach an image, a PDF, a text file or a voice note (the type is read from the "
            "content, not the name); nothing was stored",
        )
    digest = hashlib.sha256(body).hexdigest()
    info = AttachmentInfo(id=digest, name=clean_name(name), type=kind, size=len(body))
    key, meta_key = _keys(user, digest)
    day = (at or datetime.now(UTC)).date().isoformat()
    # Content, then its expiry entry, then its description: a description never names missing
    # bytes, and nothing stored lacks an expiry entry. Already stored is fine: content-addressed.
    with contextlib.suppress(PreconditionFailed):
        await store.put(key, body, if_none_match=True)
    await store.put(f"{ATTACHMENTS_DONE_PREFIX}{day}/{meta_key}", b"")
    with contextlib.suppress(PreconditionFailed):
        await store.put(meta_key, _description(info, day), if_none_match=True)
    stored = await store.get(meta_key)
    if stored is None:
        return info
    current = AttachmentInfo.model_validate_json(stored.body)
    last = _used_on(stored.body)
    if last != day:  # stored before: keep it from today, and move its expiry entry here
        await store.put(meta_key, _description(current, day))
        if last is not None:
            await store.delete(f"{ATTACHMENTS_DONE_PREFIX}{last}/{meta_key}")
    return current


def _description(info: AttachmentInfo, used_on: str) -> bytes:
    return json.dumps(
        {**info.model_dump(mode="json", exclude_none=True), "used_on": used_on}
    ).encode()


def _used_on(meta: bytes) -> str | None:
    """The day (YYYY-MM-DD) an attachment was last stored, from its description."""
    try:
        value = json.loads(meta).get("used_on")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and _DAY.match(value) else None


async def last_stored(store: StateStore, meta_key: str) -> str | None:
    """The day an attachment's description says it was last stored (None: gone or unknown)."""
    stored = await store.get(meta_key)
    return None if stored is None else _used_on(stored.body)


async def expired(store: StateStore, user: str, attachment_id: str) -> bool:
    """Whether a turn's attachment is gone (expired by retention, or deleted)."""
    if not ATTACHMENT_ID.match(attachment_id):
        return True
    key, _ = _keys(user, attachment_id)
    # A one-key listing instead of reading the bytes (`<sha>` sorts before `<sha>.json`).
    found = await store.list(key, max_keys=1)
    return not found or found[0].key != key


def not_found(attachment_id: str) -> RequestError:
    return RequestError(
        404,
        f"attachment not found: {attachment_id[:64]}",
        "upload it first with POST /api/attachments and send the returned id",
    )


async def load(store: StateStore, user: str, attachment_id: str) -> Attachment:
    """The user's attachment, or a 404 (also for another user's id: no existence leak)."""
    return await load_owned(store, owner_of(user), attachment_id)


async def load_owned(store: StateStore, owner: str, attachment_id: str) -> Attachment:
    """An attachment by its owner's key segment (the outbox keeps that, not the identity)."""
    if not ATTACHMENT_ID.match(attachment_id) or not re.fullmatch(r"[0-9a-f]{32}", owner):
        raise not_found(attachment_id)
    key, meta_key = _owned_keys(owner, attachment_id)
    meta, body = await store.get(meta_key), await store.get(key)
    if meta is None or body is None:
        raise not_found(attachment_id)
    return Attachment(AttachmentInfo.model_validate_json(meta.body), body.body)


async def load_all(
    store: StateStore, user: str, ids: Sequence[str], max_count: int
) -> list[Attachment]:
    """A message's attachments, checked before the turn runs."""
    if len(ids) > max_count:
        raise RequestError(
            422,
            f"too many attachments: {len(ids)} (AGENT_ATTACHMENT_MAX_PER_MESSAGE is {max_count})",
            f"send at most {max_count} files per message",
        )
    unique = list(dict.fromkeys(ids))
    return [await load(store, user, attachment_id) for attachment_id in unique]


def pdf_text(body: bytes) -> str:
    """The text of a PDF's pages (empty for a scan without a text layer)."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(body))
        return "\n".join((page.extract_text() or "") for page in reader.pages).strip()
    except (PdfReadError, ValueError, KeyError, TypeError) as error:
        return f"(the PDF could not be read: {type(error).__name__})"


def _audio_text(info: AttachmentInfo) -> str:
    if info.transcript is not None:
        return f"{info.header()}\n{TRANSCRIPT_PREFIX}{info.transcript or '(no speech)'}"
    note = info.transcript_note or "it was not transcribed"
    return (
        f"{info.header()}\n{UNTRANSCRIBED_PREFIX}{note}. Tell the user you could not listen to "
        "this audio, and why."
    )


def _as_text(attachment: Attachment, max_chars: int) -> str:
    info = attachment.info
    if info.type == "application/pdf":
        text = pdf_text(attachment.body)
    else:
        text = attachment.body.decode("utf-8", errors="replace")
    if len(text) > max_chars:
        text = text[:max_chars] + f"\n[… cut at {max_chars} characters]"
    return f"{info.header()}\n{text or '(no text found)'}"


def user_content(
    prompt: str, attachments: Sequence[Attachment], *, sees_images: bool, max_chars: int
) -> str | list[UserContent]:
    """The user prompt for the model: the text, then each attachment as a part it can read."""
    if not attachments:
        return prompt
    # Providers refuse an empty text part; a channel message may be only a file.
    parts: list[UserContent] = [prompt or "(the user sent only the attachments below)"]
    for attachment in attachments:
        info = attachment.info
        if info.is_audio:
            parts.append(_audio_text(info))
        elif not info.is_image:
            parts.append(_as_text(attachment, max_chars))
        elif sees_images:
            parts.append(info.header())
            parts.append(
                BinaryContent(attachment.body, media_type=info.type, identifier=info.id[:16])
            )
        else:
            parts.append(
                f"{info.header()}\nThe user attached this image, but the model answering cannot "
                "see images (AGENT_MODEL_IMAGES=false). Tell the user you cannot see images "
                "with this model."
            )
    return parts
