"""Audio attachments as text: Workers AI speech-to-text, called through AI Gateway.

When a turn runs, each audio attachment (a web-chat upload or a channel's voice note) gets a
transcript from AGENT_TRANSCRIPTION_MODEL, by default `@cf/openai/whisper-large-v3-turbo`, at
`<AI_GATEWAY_BASE_URL>/workers-ai/<model>` with the gateway token as `cf-aig-authorization` and
the run's `cf-aig-metadata`, like any model call. AI Gateway's Workers AI provider takes the REST
API's URL shape, `https://gateway.ai.cloudflare.com/v1/{account_id}/{gateway_id}/workers-ai/{model_id}`
(https://developers.cloudflare.com/ai-gateway/providers/workersai/); with the Workers AI key held
by AI Gateway (BYOK) no provider Authorization header is sent
(https://developers.cloudflare.com/ai-gateway/configuration/bring-your-own-keys/). The model
takes `{"audio": "<base64>"}` and answers `{"text", "transcription_info", ...}` inside the REST
envelope's `result` (https://developers.cloudflare.com/workers-ai/models/whisper-large-v3-turbo/).

The transcript is stored once next to the attachment, `attachments/<owner>/<sha256>.transcript.json`
(conditional create): the attachment is content-addressed, so the same audio never pays twice,
whether the turn is re-run, restored or the file sent again. Whatever stops a transcript (no AI
Gateway, too long, too large, the gateway failing) becomes a `transcript_note` the model reads and
passes on to the user; only a transcript is cached.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import struct
from collections.abc import Sequence
from dataclasses import replace

import httpx
from pydantic import BaseModel, ValidationError

from agent.runtime.ai_gateway import AI_GATEWAY_AUTH_HEADER
from agent.runtime.attachments import PREFIX, Attachment, owner_of
from agent.runtime.attribution import METADATA_HEADER, CallScope, header_value
from agent.runtime.errors import PreconditionFailed
from agent.runtime.settings import RuntimeSettings
from agent.runtime.store.base import StateStore

log = logging.getLogger("agent.runtime.transcription")

TIMEOUT = httpx.Timeout(120.0, connect=10.0)
NO_GATEWAY = (
    "speech-to-text needs AI Gateway, and none is configured here (AI_GATEWAY_BASE_URL is not set)"
)
_OPUS_RATE = 48_000  # Ogg Opus granule positions always count 48 kHz samples (RFC 7845 4)


class Transcript(BaseModel):
    """What is cached next to an attachment."""

    model: str
    text: str
    seconds: float | None = None


class _Result(BaseModel):
    text: str = ""


def transcript_key(user: str, attachment_id: str) -> str:
    """Where an attachment's transcript is cached."""
    return f"{PREFIX}{owner_of(user)}/{attachment_id}.transcript.json"


def audio_seconds(body: bytes, kind: str) -> float | None:
    """The duration that a WAV or Ogg (Opus, Vorbis) header states; None for other formats."""
    try:
        if kind == "audio/wav":
            return _wav_seconds(body)
        if kind == "audio/ogg":
            return _ogg_seconds(body)
    except (struct.error, ValueError, ZeroDivisionError):
        return None
    return None


def _wav_seconds(body: bytes) -> float | None:
    offset, byte_rate = 12, 0
    while offset + 8 <= len(body):
        chunk, size = body[offset : offset + 4], struct.unpack_from("<I", body, offset + 4)[0]
        if chunk == b"fmt ":
            byte_rate = struct.unpack_from("<I", body, offset + 16)[0]
        elif chunk == b"data" and byte_rate:
            # A streamed WAV may state 0 or 0xFFFFFFFF: then the bytes present count.
            data = size if 0 < size < len(body) else len(body) - offset - 8
            return float(data) / byte_rate
        offset += 8 + size + (size & 1)
    return None


def _ogg_seconds(body: bytes) -> float | None:
    # The last page's granule position is the stream's length in samples (RFC 3533 6).
    last = body.rfind(b"OggS")
    if last < 0 or last + 14 > len(body):
        return None
    granule: int = struct.unpack_from("<q", body, last + 6)[0]
    if b"OpusHead" in body[:512]:
        return granule / _OPUS_RATE
    vorbis = body.find(b"\x01vorbis")
    if vorbis >= 0:
        rate: int = struct.unpack_from("<I", body, vorbis + 12)[0]
        return granule / rate
    return None


class Transcriber:
    """Transcribes a turn's audio attachments, once per content."""

    def __init__(self, settings: RuntimeSettings, store: StateStore, http: httpx.AsyncClient):
        self._settings = settings
        self._store = store
        self._http = http

    async def transcribe_all(
        self, user: str, files: Sequence[Attachment], scope: CallScope
    ) -> list[Attachment]:
        """`files` with a transcript (or the reason for none) on each audio attachment."""
        out: list[Attachment] = []
        for file in files:
            if file.info.is_audio:
                file = await self._transcribed(user, file, scope)
            out.append(file)
        return out

    async def _transcribed(self, user: str, file: Attachment, scope: CallScope) -> Attachment:
        key = transcript_key(user, file.info.id)
        cached = await self._store.get(key)
        if cached is not None:
            with contextlib.suppress(ValidationError):
                return _with(file, transcript=Transcript.model_validate_json(cached.body).text)
        note = self._refusal(file)
        if note is not None:
            return _with(file, note=note)
        try:
            transcript = await self._call(file, scope)
        except _Failed as failure:
            log.warning("transcription of %s failed: %s", file.info.id[:12], failure)
            return _with(file, note=f"speech-to-text failed: {failure}")
        with contextlib.suppress(PreconditionFailed):  # a concurrent turn stored the same text
            await self._store.put(key, transcript.model_dump_json().encode(), if_none_match=True)
        return _with(file, transcript=transcript.text)

    def _refusal(self, file: Attachment) -> str | None:
        settings = self._settings
        if settings.ai_gateway_base_url is None:
            return NO_GATEWAY
        limit = settings.agent_transcription_max_bytes
        if file.info.size > limit:
            return (
                f"the audio is {file.info.size} bytes, over the {limit}-byte limit "
                "(AGENT_TRANSCRIPTION_MAX_BYTES); a shorter recording would be transcribed"
            )
        seconds = audio_seconds(file.body, file.info.type)
        longest = settings.agent_transcription_max_seconds
        if seconds is not None and seconds > longest:
            return (
                f"the audio is {seconds:.0f} s long, over the {longest} s limit "
                "(AGENT_TRANSCRIPTION_MAX_SECONDS); a shorter recording would be transcribed"
            )
        return None

    async def _call(self, file: Attachment, scope: CallScope) -> Transcript:
        settings = self._settings
        assert settings.ai_gateway_base_url is not None
        model = settings.agent_transcription_model
        url = f"{settings.ai_gateway_base_url.rstrip('/')}/workers-ai/{model}"
        headers = {METADATA_HEADER: header_value(scope)}
        if settings.ai_gateway_token is not None:
            token = settings.ai_gateway_token.get_secret_value()
            headers[AI_GATEWAY_AUTH_HEADER] = f"Bearer {token}"
        body = {"audio": base64.b64encode(file.body).decode("ascii")}
        try:
            response = await self._http.post(url, json=body, headers=headers, timeout=TIMEOUT)
        except httpx.HTTPError as error:
            raise _Failed(f"AI Gateway could not be reached ({type(error).__name__})") from None
        if not response.is_success:
            raise _Failed(f"AI Gateway answered HTTP {response.status_code}")
        try:
            answer = response.json()
            # The REST envelope `{"result": {...}, "success": true}`, or the bare result.
            raw = answer.get("result", answer) if isinstance(answer, dict) else None
            result = _Result.model_validate(raw)
        except (ValueError, ValidationError):
            raise _Failed("AI Gateway's answer held no transcript") from None
        return Transcript(
            model=model, text=result.text.strip(), seconds=audio_seconds(file.body, file.info.type)
        )


class _Failed(Exception):
    """Speech-to-text gave no transcript (the reason is safe to show: no URL, no token)."""


def _with(
    file: Attachment, *, transcript: str | None = None, note: str | None = None
) -> Attachment:
    info = file.info.model_copy(update={"transcript": transcript, "transcript_note": note})
    return replace(file, info=info)
