"""The durable outbox: every outgoing channel message is stored before it is sent, then retried.

    outbox/messages/<id>.json   the message (id = sha256 of the idempotency key), updated If-Match;
                                files it carries are named by attachment id, never inlined
    outbox/pending/<id>         marker of an unfinished message; what a restart resumes
    done/<day>/outbox/messages/<id>.json   once sent or failed: expiry index (runtime/retention.py)

A message record is deleted only by the retention sweep, and only once it is no longer pending:
a message waiting for a sandbox that slept for weeks is still delivered when it wakes.

`send` creates the message with If-None-Match, so a retried or resumed caller never queues it
twice, and returns once it is durable; delivery runs in the background with backoff (honouring a
platform's 429 `retry_after`), split at the platform's length limit, with per-part progress
stored so a retry never repeats a part that went out. A delivery attempt holds a short lease in
the record, so two runtimes overlapping in a rollout do not both send it.

The one window no store can close: a crash after the platform accepted a part and before its
progress was written re-sends that part on restart (chat APIs take no idempotency key). It is
one store write wide; anything else — crash, restart, redelivered webhook — sends exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel

from agent.runtime.attachments import Attachment, load_owned, owner_of
from agent.runtime.errors import (
    DeliveryError,
    PreconditionFailed,
    RequestError,
    RuntimeHostError,
    StoreError,
)
from agent.runtime.keyed_tasks import KeyedTasks
from agent.runtime.retention import mark_done
from agent.runtime.sessions import Turn, now
from agent.runtime.store.base import StateStore

log = logging.getLogger("agent.runtime.outbox")

WEB = "web"  # the reply already lives in the session: nothing to send
_LEASE_POLL = 1.0  # seconds between looks at a message another runtime has leased


class Deliverer(Protocol):
    """Sends one message part on one platform (the channel adapters)."""

    max_chars: int

    async def deliver(self, conversation: str, text: str) -> None:
        """Send it, or raise DeliveryError."""
        ...


@runtime_checkable
class FileDeliverer(Protocol):
    """A platform that can also send a file (a screenshot, a memory file) the agent sent back."""

    async def deliver_file(self, conversation: str, file: Attachment) -> None:
        """Upload and post it, or raise DeliveryError."""
        ...


class OutboxFile(BaseModel):
    """A file a message carries: a stored attachment (agent/runtime/attachments.py) by id, so a
    restart re-reads the bytes from the store instead of the outbox holding them."""

    owner: str  # attachments.owner_of(user): the key segment the attachment is stored under
    id: str
    name: str


class OutboxError(RuntimeHostError):
    """A message cannot be queued (unknown or disabled channel)."""


class OutboxMessage(BaseModel):
    """One outgoing message and its delivery progress."""

    id: str
    idempotency_key: str
    channel: str
    conversation: str
    parts: list[str]
    sent_parts: int = 0
    files: list[OutboxFile] = []  # sent in order after the text parts
    sent_files: int = 0
    status: Literal["pending", "sent", "failed"] = "pending"
    attempts: int = 0
    next_attempt_at: datetime
    lease_owner: str | None = None
    lease_until: datetime | None = None
    last_error: str | None = None
    created_at: datetime
    updated_at: datetime


def outbox_files(turn: Turn) -> list[OutboxFile]:
    """The files a turn's agent sent back, as a message names them."""
    owner = owner_of(turn.user)
    return [OutboxFile(owner=owner, id=file.id, name=file.name) for file in turn.files]


def message_id(idempotency_key: str) -> str:
    """The storage id of a message: safe as a key segment whatever the caller's key holds."""
    return hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]


OUTBOX_MESSAGES = "outbox/messages/"


def _record_key(mid: str) -> str:
    return f"{OUTBOX_MESSAGES}{mid}.json"


def _pending_key(mid: str) -> str:
    return f"outbox/pending/{mid}"


def split_message(text: str, limit: int) -> list[str]:
    """Parts of at most `limit` characters, cut at a paragraph, line or word break when possible."""
    text = text.strip() or "(empty reply)"
    parts: list[str] = []
    while len(text) > limit:
        window = text[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"), window.rfind(" "))
        if cut < limit // 2:
            cut = limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    parts.append(text)
    return parts


class Outbox:
    """Durable, idempotent, retried delivery of channel messages."""

    def __init__(
        self,
        store: StateStore,
        deliverers: Mapping[str, Deliverer],
        *,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
        max_attempts: int = 10,
        lease: float = 30.0,
        clock: Callable[[], datetime] = now,
    ) -> None:
        self._store = store
        self._deliverers = dict(deliverers)
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._max_attempts = max_attempts
        self._lease = timedelta(seconds=lease)
        self._clock = clock
        self._owner = uuid.uuid4().hex
        self._tasks = KeyedTasks()
        # Messages whose `send` is between its two writes, and a wake-up for when one ends: a
        # resume that lists the marker first must not take it for a crash leftover and drop it.
        self._storing: dict[str, int] = {}
        self._stored = asyncio.Condition()
        self.last_error: dict[str, str] = {}  # per channel, for the status API

    async def send(
        self,
        channel: str,
        conversation: str,
        text: str,
        *,
        idempotency_key: str,
        files: Sequence[OutboxFile] = (),
    ) -> None:
        """Store the message durably (once per idempotency key) and deliver it in the background;
        `files` follow the text, each once."""
        if channel == WEB:
            return
        deliverer = self._deliverers.get(channel)
        if deliverer is None:
            raise OutboxError(f"channel {channel!r} is not enabled; see GET /api/channels")
        mid = message_id(idempotency_key)
        moment = self._clock()
        record = OutboxMessage(
            id=mid,
            idempotency_key=idempotency_key,
            channel=channel,
            conversation=conversation,
            parts=split_message(text, deliverer.max_chars),
            files=list(files),
            next_attempt_at=moment,
            created_at=moment,
            updated_at=moment,
        )
        # Marker first: a crash between the two leaves a marker without a message (dropped on
        # resume), never a message nobody will deliver.
        self._storing[mid] = self._storing.get(mid, 0) + 1
        try:
            await self._store.put(_pending_key(mid), b"")
            try:
                await self._store.put(
                    _record_key(mid), record.model_dump_json().encode(), if_none_match=True
                )
            except PreconditionFailed:
                existing = await self._load(mid)
                if existing is None or existing[0].status != "pending":
                    await self._store.delete(_pending_key(mid))
                    return
        finally:
            await self._stored_one(mid)
        self._spawn(mid)

    async def start(self) -> int:
        """Resume every unfinished message; return how many."""
        infos = await self._store.list("outbox/pending/")
        for info in infos:
            self._spawn(info.key.rsplit("/", 1)[-1])
        return len(infos)

    async def close(self) -> None:
        """Stop delivering; unfinished messages stay pending for the next start."""
        await self._tasks.close()

    async def idle(self) -> None:
        """Wait until no delivery is in progress (tests, shutdown reports)."""
        await self._tasks.idle()

    async def get(self, idempotency_key: str) -> OutboxMessage | None:
        """The stored message for this key, if any."""
        loaded = await self._load(message_id(idempotency_key))
        return loaded[0] if loaded else None

    async def _stored_one(self, mid: str) -> None:
        left = self._storing.pop(mid) - 1
        if left:
            self._storing[mid] = left
        async with self._stored:
            self._stored.notify_all()

    def _spawn(self, mid: str) -> None:
        self._tasks.spawn(mid, self._run(mid), name=f"outbox-{mid[:8]}")

    async def _load(self, mid: str) -> tuple[OutboxMessage, str] | None:
        obj = await self._store.get(_record_key(mid))
        if obj is None:
            return None
        return OutboxMessage.model_validate_json(obj.body), obj.etag

    async def _save(self, record: OutboxMessage, etag: str) -> str:
        record.updated_at = self._clock()
        return await self._store.put(
            _record_key(record.id), record.model_dump_json().encode(), if_match=etag
        )

    async def _finished(self, record: OutboxMessage) -> None:
        # Index first, marker last: until the marker is gone a restart comes back here.
        await mark_done(self._store, _record_key(record.id), record.updated_at)
        await self._store.delete(_pending_key(record.id))

    async def is_finished(self, record_key: str) -> bool:
        """Retention guard: True unless the message under `record_key` is still pending."""
        obj = await self._store.get(record_key)
        return obj is None or OutboxMessage.model_validate_json(obj.body).status != "pending"

    async def _run(self, mid: str) -> None:
        delay = self._base_delay
        while True:
            try:
                done = await self._attempt(mid)
            except StoreError as error:  # includes a lost If-Match race: re-read and go on
                log.warning("outbox %s: state store: %s; retrying", mid[:8], error)
                done = False
                await asyncio.sleep(min(delay, self._max_delay))
                delay *= 2
            except Exception:  # an adapter bug must not strand the message until a restart
                log.exception("outbox %s: unexpected error; retrying", mid[:8])
                done = False
                await asyncio.sleep(min(delay, self._max_delay))
                delay *= 2
            if done:
                return

    async def _attempt(self, mid: str) -> bool:
        """One pass over the message; True when nothing is left to do."""
        loaded = await self._load(mid)
        if loaded is None and mid in self._storing:
            # Its `send` has written the marker, not yet the message: wait for it, then look again
            # (that send's own spawn is dropped while this task runs).
            async with self._stored:
                await self._stored.wait_for(lambda: mid not in self._storing)
            return False
        if loaded is None or loaded[0].status != "pending":
            if loaded is not None:  # finished before a crash took its index entry with it
                await mark_done(self._store, _record_key(mid), loaded[0].updated_at)
            await self._store.delete(_pending_key(mid))
            return True
        record, etag = loaded
        moment = self._clock()
        if record.lease_until and record.lease_until > moment and record.lease_owner != self._owner:
            # Another runtime is delivering it: look again soon (it may finish or release early).
            await asyncio.sleep(min((record.lease_until - moment).total_seconds(), _LEASE_POLL))
            return False
        if record.next_attempt_at > moment:
            await asyncio.sleep((record.next_attempt_at - moment).total_seconds())
            return False
        deliverer = self._deliverers.get(record.channel)
        if deliverer is None:
            return await self._fail(record, etag, f"channel {record.channel!r} is not enabled")
        record.attempts += 1
        record.lease_owner, record.lease_until = self._owner, moment + self._lease
        etag = await self._save(record, etag)
        try:
            while record.sent_parts < len(record.parts):
                try:
                    await deliverer.deliver(record.conversation, record.parts[record.sent_parts])
                except DeliveryError as error:
                    return await self._retry_or_fail(record, etag, error)
                record.sent_parts += 1
                etag = await self._save(record, etag)
            while record.sent_files < len(record.files):
                try:
                    await self._deliver_file(deliverer, record, record.files[record.sent_files])
                except DeliveryError as error:
                    return await self._retry_or_fail(record, etag, error)
                record.sent_files += 1
                etag = await self._save(record, etag)
        except asyncio.CancelledError:
            # A graceful stop hands the message over at once instead of after the lease.
            record.lease_owner = record.lease_until = None
            with contextlib.suppress(StoreError):
                await self._save(record, etag)
            raise
        record.status, record.lease_owner, record.lease_until = "sent", None, None
        await self._save(record, etag)
        await self._finished(record)
        self.last_error.pop(record.channel, None)
        log.info(
            "outbox %s: delivered to %s in %d part(s) and %d file(s)",
            mid[:8],
            record.channel,
            len(record.parts),
            len(record.files),
        )
        return True

    async def _deliver_file(
        self, deliverer: Deliverer, record: OutboxMessage, file: OutboxFile
    ) -> None:
        if not isinstance(deliverer, FileDeliverer):
            raise DeliveryError(
                f"{record.channel}: this channel cannot send files", retryable=False
            )
        try:
            attachment = await load_owned(self._store, file.owner, file.id)
        except RequestError:
            raise DeliveryError(
                f"{record.channel}: file {file.name!r} is no longer stored (expired?)",
                retryable=False,
            ) from None
        # Sent under the name the agent gave it (the store keeps the content's first name).
        info = attachment.info.model_copy(update={"name": file.name})
        await deliverer.deliver_file(record.conversation, replace(attachment, info=info))

    async def _retry_or_fail(self, record: OutboxMessage, etag: str, error: DeliveryError) -> bool:
        self.last_error[record.channel] = str(error)
        if not error.retryable or record.attempts >= self._max_attempts:
            return await self._fail(record, etag, str(error))
        backoff = min(self._base_delay * 2 ** (record.attempts - 1), self._max_delay)
        wait = max(backoff, error.retry_after or 0.0)
        record.next_attempt_at = self._clock() + timedelta(seconds=wait)
        record.lease_owner, record.lease_until, record.last_error = None, None, str(error)
        await self._save(record, etag)
        log.warning(
            "outbox %s: %s; attempt %d, next in %.1f s", record.id[:8], error, record.attempts, wait
        )
        return False

    async def _fail(self, record: OutboxMessage, etag: str, reason: str) -> bool:
        record.status, record.last_error = "failed", reason
        record.lease_owner = record.lease_until = None
        await self._save(record, etag)
        await self._finished(record)
        log.error("outbox %s: giving up on %s: %s", record.id[:8], record.channel, reason)
        return True
