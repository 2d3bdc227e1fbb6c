"""Files attached to channel messages: fetched from the platform and stored before the webhook is
acknowledged.

`routes/inbound.py` calls `store_files` before it records the inbox record and answers the
platform, so "acknowledged ⇒ stored" holds for attachments as for turns: when a download or the
store fails for a reason that may pass (a platform 5xx or 429, a timeout, R2 down), the webhook
is answered 5xx, the edge lets the delivery back in (agent/edge/src/app.ts `settle`) and the
platform redelivers it. Storage is the web chat's (agent/runtime/attachments.py):
content-addressed under the sender's owner hash, so a redelivery stores nothing twice; and when
the event was already claimed by the inbox, nothing is fetched at all.

What cannot pass (too large, a type the agent cannot read, a file the platform no longer has,
too many files) is not a failure: the message is recorded with the reasons, and the sender gets
them as the reply instead of a turn (agent/runtime/channels/inbox.py). Sizes are checked before
downloading when the platform states one, and always while streaming.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

import httpx

from agent.runtime.attachments import AttachmentInfo, clean_name, save
from agent.runtime.channels.api import TIMEOUT
from agent.runtime.channels.base import InboundMessage, RemoteFile, redact
from agent.runtime.errors import DeliveryError, RequestError
from agent.runtime.store.base import StateStore

log = logging.getLogger("agent.runtime.channels")


class FileRefused(Exception):
    """A file that will not be stored, whatever the retries; the text is told to the sender."""


@runtime_checkable
class FileSource(Protocol):
    """A channel adapter that can download the files its messages carry."""

    name: str

    async def fetch_file(self, file: RemoteFile, limit: int) -> bytes:
        """The file's bytes (at most `limit`); FileRefused, or DeliveryError if it may pass."""
        ...


@dataclass
class StoredFiles:
    """The outcome for one message: what was stored, and what was refused and why."""

    attachments: list[AttachmentInfo] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def mib(size: int) -> str:
    """A size as people read it."""
    return f"{size / 1_048_576:.1f} MiB" if size >= 1_048_576 else f"{max(1, size // 1024)} KiB"


def too_large(name: str, limit: int) -> FileRefused:
    """The refusal of a file over the size cap."""
    return FileRefused(
        f"{name} is larger than {mib(limit)}, the agent's limit (AGENT_ATTACHMENT_MAX_BYTES)"
    )


def check_size(file: RemoteFile, size: int | None, limit: int) -> None:
    """Refuse before downloading when the platform states a size over the cap."""
    for stated in (file.size, size):
        if stated is not None and stated > limit:
            raise too_large(file.name, limit)


def platform_url(url: str, *, hosts: tuple[str, ...], api_base: str) -> str:
    """`url` if it points at the platform's file hosts (or the configured API's origin, which is
    where tests' fakes live); otherwise FileRefused, so no token is ever sent elsewhere."""
    parsed, base = urlsplit(url), urlsplit(api_base)
    same_origin = (parsed.scheme, parsed.netloc) == (base.scheme, base.netloc)
    host = (parsed.hostname or "").lower()
    known = parsed.scheme == "https" and any(
        host == allowed or host.endswith("." + allowed) for allowed in hosts
    )
    if not (same_origin or known):
        raise FileRefused(f"the file's address is not on {hosts[0]}")
    return url


async def download(
    http: httpx.AsyncClient,
    what: str,
    url: str,
    file: RemoteFile,
    limit: int,
    *,
    headers: dict[str, str] | None = None,
    secrets: tuple[str | None, ...] = (),
    html_means: str | None = None,
) -> bytes:
    """GET `url`, streamed and cut off past `limit` bytes; errors never quote a secret.

    `html_means`: what an HTML answer says instead of the file (Slack answers its sign-in page,
    with status 200, when the token lacks a scope).
    """
    try:
        async with http.stream("GET", url, headers=headers, timeout=TIMEOUT) as response:
            status = response.status_code
            if status == 429 or status >= 500:
                raise DeliveryError(f"{what}: HTTP {status}", retryable=True)
            if not response.is_success:
                raise FileRefused(
                    f"{file.name} could not be fetched from the platform (HTTP {status})"
                )
            kind = response.headers.get("content-type", "")
            if html_means and kind.startswith("text/html"):
                raise FileRefused(f"{file.name} could not be fetched: {html_means}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise too_large(file.name, limit)
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > limit:
                    raise too_large(file.name, limit)
            return bytes(body)
    except httpx.HTTPError as error:
        raise DeliveryError(
            f"{what}: {type(error).__name__}: {redact(str(error), *secrets)}", retryable=True
        ) from None
    except httpx.InvalidURL:  # a malformed address in a signed payload: no retry will fix it
        raise FileRefused(f"{file.name} could not be fetched (its address is malformed)") from None


_TYPES_HINT = (
    "the agent reads images (PNG, JPEG, GIF, WebP), PDFs, text files and voice notes or audio "
    "(OGG, MP3, AAC, M4A, WAV, WebM, AMR)"
)


async def store_files(
    source: FileSource,
    message: InboundMessage,
    store: StateStore,
    user: str,
    *,
    max_bytes: int,
    max_count: int,
) -> StoredFiles:
    """Fetch and store the message's files; DeliveryError when trying again may succeed."""
    outcome = StoredFiles()
    if len(message.files) > max_count:
        outcome.refused.append(
            f"{len(message.files)} files in one message; the agent takes at most {max_count} "
            "(AGENT_ATTACHMENT_MAX_PER_MESSAGE)"
        )
        return outcome
    for file in message.files:
        named = RemoteFile(file.ref, clean_name(file.name), file.size)
        try:
            body = await source.fetch_file(named, max_bytes)
            outcome.attachments.append(await save(store, user, named.name, body))
        except FileRefused as refusal:
            outcome.refused.append(str(refusal))
        except RequestError as error:  # save's checks: empty, or a type the agent cannot read
            reason = _TYPES_HINT if error.status == 415 else error.error
            outcome.refused.append(f"{named.name}: not stored ({reason})")
    if outcome.refused:
        log.info("%s event %s: refused: %s", source.name, message.event_id, outcome.refused)
    return outcome
