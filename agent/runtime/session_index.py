"""Who owns each session, listings newest first in O(page), and exact session counts.

Layout (below the sandbox's state prefix), every object created once with If-None-Match: *
except the two counters, which change only with If-Match:

    session-owners/<session>.json                      the session's entry: owner, title, time
    session-order/all/<order>.json                     the same entry, for the admin listing
    session-order/by-owner/<owner-hash>/<order>.json   the same entry, for its owner's listing
    session-counts/all.json                            {"count", "recent", "newest"}: everyone
    session-counts/by-owner/<owner-hash>.json          {"count", "recent", "newest"}: one owner
    session-migrations/index-v2.json                   marker: the old layout was migrated

`<order>` is `<17-digit inverted microseconds since 1970>-<session>`: S3 lists keys in ascending
UTF-8 order, so ascending keys are newest first, and a page is one ListObjectsV2 call with
StartAfter (the cursor) and MaxKeys, then one GET per entry on the page (entries never change, so
they are cached). A cursor is a key, not an offset: a session created while someone pages is
either before the cursor (and not shown again) or after it, never shown twice.

A counter also carries the `newest` entries (up to 100), so the first page of a listing, the one
every UI load asks for, is one read of the counter instead of a list call plus a read per entry.
A session is in `newest` once its counter bump is done, which is before its first turn is written;
later pages (and a first page larger than `newest`) come from the listing entries.

`<owner-hash>` is a SHA-256 of the canonical identity, so no email appears in a key.

The entries are written at a session's first turn, before the turn itself (SessionStore.append
calls `register`): owner record first (the If-None-Match winner owns the session), then both
listing entries, then both counters. A crash between steps is repaired when the first turn is
retried, because every step is idempotent: listing entries derive from the stored owner record,
and a counter bump is skipped when the session is already among the counter's `recent` ids.

Sessions created before this layout have only `session-index/<session>.json`. They are migrated
once, on the first listing or count (not at startup, which reads no session): every old entry
gets an owner record and listing entries (If-None-Match, so running it twice, or in two runtimes
at once, is harmless), then the marker is created. Counters start from one recount of the
listing keys (keys only, no object reads) when they do not exist yet, which is after migration.
A single old session is also migrated on the spot when it is opened before any listing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from pydantic import BaseModel, Field

from agent.runtime.errors import PreconditionFailed, RequestError, StoreError
from agent.runtime.store.base import StateStore

log = logging.getLogger("agent.runtime.sessions")

OWNERS = "session-owners/"
ORDER_ALL = "session-order/all/"
ORDER_BY_OWNER = "session-order/by-owner/"
COUNT_ALL = "session-counts/all.json"
COUNT_BY_OWNER = "session-counts/by-owner/"
LEGACY = "session-index/"
MIGRATED = "session-migrations/index-v2.json"

# Channels where the turn's user is a signed-in web identity (the Worker's X-Agent-User), and
# scheduled jobs that answer in such a session. Chat-platform channels (telegram, slack, discord)
# map a whole chat, possibly a group, to one session: any sender of that chat may add to it.
WEB_CHANNELS = frozenset({"api", "ws", "web"})

CURSOR = re.compile(r"^[0-9]{17}-[A-Za-z0-9_-]{1,64}$")
CURSOR_EXAMPLE = "?cursor=99998234953600000-trip-planning"
_MAX_MICROS = 10**17 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RECENT = 256  # session ids a counter remembers, so a retried bump is not counted twice
_NEWEST = 100  # listing entries a counter carries: the first page, in one read
_CAS_TRIES = 64
_READ_CONCURRENCY = 16


class FirstTurn(Protocol):
    """What the index reads from a session's first turn (a `sessions.Turn`)."""

    @property
    def prompt(self) -> str: ...
    @property
    def user(self) -> str: ...
    @property
    def channel(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


class SessionMeta(BaseModel):
    """The listing entry of a session. `created_by` is its owner."""

    session_id: str
    title: str
    created_by: str
    created_at: datetime


class _Count(BaseModel):
    count: int = Field(ge=0)
    recent: list[str] = Field(default_factory=list)
    newest: list[SessionMeta] = Field(default_factory=list)  # newest first, by order_name


def _with_newest(newest: list[SessionMeta], meta: SessionMeta) -> list[SessionMeta]:
    kept = [m for m in newest if m.session_id != meta.session_id]
    return sorted([meta, *kept], key=order_name)[:_NEWEST]


def canonical_identity(identity: str) -> str:
    """The form identities are compared and hashed in (emails are case-insensitive)."""
    return identity.strip().lower()


def owner_hash(identity: str) -> str:
    """The key segment of an identity: a hash, so no email appears in a key."""
    digest = hashlib.sha256(b"edgeagent-session-owner\0" + canonical_identity(identity).encode())
    return digest.hexdigest()[:32]


def same_identity(a: str, b: str) -> bool:
    """Whether two identities name the same principal."""
    return canonical_identity(a) == canonical_identity(b)


def order_name(meta: SessionMeta) -> str:
    """`<inverted time>-<session>`: ascending key order is newest first."""
    micros = (meta.created_at - _EPOCH) // timedelta(microseconds=1)
    return f"{_MAX_MICROS - micros:017d}-{meta.session_id}"


def owner_key(session_id: str) -> str:
    """Where a session's owner record lives."""
    return f"{OWNERS}{session_id}.json"


def _owner_prefix(identity: str) -> str:
    return f"{ORDER_BY_OWNER}{owner_hash(identity)}/"


def _owner_count(identity: str) -> str:
    return f"{COUNT_BY_OWNER}{owner_hash(identity)}.json"


def not_found(session_id: str) -> RequestError:
    """The one answer for a session that is absent or someone else's (existence is not leaked)."""
    return RequestError(404, f"no session {session_id!r}", "list your sessions at /api/sessions")


def check_cursor(cursor: str) -> str:
    """Reject cursors this module did not hand out."""
    if not CURSOR.match(cursor):
        raise RequestError(
            422,
            "invalid query parameter: cursor",
            f"pass back the next_cursor of the previous page, e.g. {CURSOR_EXAMPLE}",
        )
    return cursor


@dataclass(frozen=True, slots=True)
class SessionPage:
    """One page of a listing and the cursor of the next (None on the last page)."""

    sessions: list[SessionMeta]
    next_cursor: str | None


class SessionIndex:
    """Owner records, newest-first listings and counters over a StateStore."""

    def __init__(self, store: StateStore, max_cached: int = 8192) -> None:
        self._store = store
        self._max_cached = max_cached
        self._metas: OrderedDict[str, SessionMeta] = OrderedDict()  # immutable once created
        self._migrated = False
        self._migrating = asyncio.Lock()

    def _remember(self, meta: SessionMeta) -> SessionMeta:
        self._metas[meta.session_id] = meta
        self._metas.move_to_end(meta.session_id)
        while len(self._metas) > self._max_cached:
            self._metas.popitem(last=False)
        return meta

    async def meta(self, session_id: str) -> SessionMeta | None:
        """The session's entry (migrating an old-layout one on the spot), or None."""
        cached = self._metas.get(session_id)
        if cached is not None:
            return cached
        obj = await self._store.get(owner_key(session_id))
        if obj is not None:
            return self._remember(SessionMeta.model_validate_json(obj.body))
        legacy = await self._store.get(f"{LEGACY}{session_id}.json")
        if legacy is None:
            return None
        meta = SessionMeta.model_validate_json(legacy.body)
        await self._index(meta)
        stored = await self._store.get(owner_key(session_id))
        if stored is None:
            raise StoreError(f"owner record of session {session_id!r} vanished after creation")
        return self._remember(SessionMeta.model_validate_json(stored.body))

    async def register(self, session_id: str, draft: FirstTurn) -> SessionMeta:
        """At a session's first turn: claim it for `draft.user`, list it and count it.

        If another writer created the session first, its entry stands, and a web identity other
        than its owner is refused with 404 before its turn is written.
        """
        meta = SessionMeta(
            session_id=session_id,
            title=draft.prompt[:80],
            created_by=draft.user,
            created_at=draft.created_at,
        )
        stored = await self._index(meta)
        if draft.channel in WEB_CHANNELS and not same_identity(stored.created_by, draft.user):
            raise not_found(session_id)
        await self._bump(COUNT_ALL, ORDER_ALL, stored)
        await self._bump(_owner_count(stored.created_by), _owner_prefix(stored.created_by), stored)
        return stored

    async def _index(self, meta: SessionMeta) -> SessionMeta:
        """Create the owner record (or adopt the stored one) and both listing entries."""
        try:
            await self._store.put(
                owner_key(meta.session_id), meta.model_dump_json().encode(), if_none_match=True
            )
            stored = meta
        except PreconditionFailed:
            obj = await self._store.get(owner_key(meta.session_id))
            if obj is None:
                raise StoreError(f"owner record of {meta.session_id!r} is being written") from None
            stored = SessionMeta.model_validate_json(obj.body)
        body = stored.model_dump_json().encode()
        name = order_name(stored)
        for prefix in (ORDER_ALL, _owner_prefix(stored.created_by)):
            with contextlib.suppress(PreconditionFailed):
                await self._store.put(f"{prefix}{name}.json", body, if_none_match=True)
        return self._remember(stored)

    async def _bump(self, key: str, prefix: str, meta: SessionMeta) -> None:
        """Count the session once in the counter at `key` (exact under concurrent writers)."""
        for attempt in range(_CAS_TRIES):
            obj = await self._store.get(key)
            if obj is None:
                # The recount lists this session's entry, written before this bump.
                if await self._recount(key, prefix):
                    return
                continue
            count = _Count.model_validate_json(obj.body)
            if meta.session_id in count.recent:
                return
            bumped = _Count(
                count=count.count + 1,
                recent=[meta.session_id, *count.recent][:_RECENT],
                newest=_with_newest(count.newest, meta),
            )
            try:
                await self._store.put(key, bumped.model_dump_json().encode(), if_match=obj.etag)
            except PreconditionFailed:
                await asyncio.sleep(min(0.002 * 2**attempt, 0.2))
                continue
            return
        raise StoreError(f"counter {key!r}: still contended after {_CAS_TRIES} tries")

    async def _recount(self, key: str, prefix: str) -> bool:
        """Create a missing counter from the listing keys; False if another writer did first."""
        await self.ensure_migrated()
        infos = await self._store.list(prefix)
        names = [info.key[len(prefix) :].removesuffix(".json") for info in infos]
        recent = [name.split("-", 1)[1] for name in names[:_RECENT]]
        heads = [await self._store.get(info.key) for info in infos[:_NEWEST]]
        newest = [SessionMeta.model_validate_json(obj.body) for obj in heads if obj is not None]
        count = _Count(count=len(infos), recent=recent, newest=sorted(newest, key=order_name))
        try:
            await self._store.put(key, count.model_dump_json().encode(), if_none_match=True)
        except PreconditionFailed:
            return False
        return True

    async def count(self, identity: str | None) -> int:
        """Sessions of `identity`, or of everyone for None, from the counter (one read)."""
        key, prefix = (
            (COUNT_ALL, ORDER_ALL)
            if identity is None
            else (_owner_count(identity), _owner_prefix(identity))
        )
        for _ in range(_CAS_TRIES):
            obj = await self._store.get(key)
            if obj is not None:
                return _Count.model_validate_json(obj.body).count
            await self._recount(key, prefix)
        raise StoreError(f"counter {key!r} could not be read")

    async def page(self, identity: str | None, cursor: str | None, limit: int) -> SessionPage:
        """One page of `identity`'s sessions (everyone's for None), newest first."""
        await self.ensure_migrated()
        prefix = ORDER_ALL if identity is None else _owner_prefix(identity)
        if cursor is None:
            head = await self._head(identity, limit)
            if head is not None:
                return head
        after = None if cursor is None else f"{prefix}{check_cursor(cursor)}.json"
        infos = await self._store.list(prefix, start_after=after, max_keys=limit + 1)
        shown = infos[:limit]
        gate = asyncio.Semaphore(_READ_CONCURRENCY)

        async def entry(key: str) -> SessionMeta | None:
            session_id = key[len(prefix) :].removesuffix(".json").split("-", 1)[1]
            cached = self._metas.get(session_id)
            if cached is not None:
                return cached
            async with gate:
                obj = await self._store.get(key)
            if obj is None:
                return None
            return self._remember(SessionMeta.model_validate_json(obj.body))

        metas = await asyncio.gather(*(entry(info.key) for info in shown))
        next_cursor = None
        if len(infos) > limit:
            next_cursor = shown[-1].key[len(prefix) :].removesuffix(".json")
        return SessionPage([m for m in metas if m is not None], next_cursor)

    async def _head(self, identity: str | None, limit: int) -> SessionPage | None:
        """The first page from the counter's `newest` entries, when they cover it (one read)."""
        key = COUNT_ALL if identity is None else _owner_count(identity)
        obj = await self._store.get(key)
        if obj is None:
            return None
        count = _Count.model_validate_json(obj.body)
        covered = len(count.newest) >= min(limit, count.count)
        if not covered or len(count.newest) < min(count.count, _NEWEST):
            return None  # a counter from before `newest` existed, or one still filling
        shown = count.newest[:limit]
        for meta in shown:
            self._remember(meta)
        more = count.count > len(shown)
        return SessionPage(shown, order_name(shown[-1]) if more and shown else None)

    async def ensure_migrated(self) -> None:
        """Index every old-layout entry once (idempotent; bounded by the old entries)."""
        if self._migrated:
            return
        async with self._migrating:
            if self._migrated:
                return
            if await self._store.get(MIGRATED) is None:
                migrated = await self._migrate()
                with contextlib.suppress(PreconditionFailed):
                    marker = json.dumps({"migrated": migrated, "at": datetime.now(UTC).isoformat()})
                    await self._store.put(MIGRATED, marker.encode(), if_none_match=True)
                log.info("session index: migrated %d sessions of the old layout", migrated)
            self._migrated = True

    async def _migrate(self) -> int:
        infos = await self._store.list(LEGACY)
        gate = asyncio.Semaphore(_READ_CONCURRENCY)

        async def one(key: str) -> int:
            async with gate:
                obj = await self._store.get(key)
                if obj is None:
                    return 0
                await self._index(SessionMeta.model_validate_json(obj.body))
                return 1

        return sum(await asyncio.gather(*(one(info.key) for info in infos)))
