"""Session history in the state store, laid out so no acknowledged turn can be lost.

Layout (below the sandbox's state prefix; `~n` is 99999999 - n, so the newest sorts first):

    sessions/<session>/<seq:08d>.json            one immutable object per turn, If-None-Match: *
    session-summaries/<session>/<~covers>.json   a running summary of turns 1..covers
    session-checkpoints/<session>/<~upto>.json   summary + the verbatim turns after it, up to `upto`
    turn-ids/<session>/<sha256(turn_id)>.json    turn_id -> seq, for turns the summary covers

plus the session's owner record and listing entries, created at its first turn before the turn
itself (agent.runtime.session_index).

A turn is acknowledged only after its own object was created. Writers never overwrite: the
sequence number is claimed by the conditional create itself, so two writers (two runtimes, or a
restart overlapping a shutdown) that both try `seq` get exactly one winner; the loser re-reads the
turns it missed and tries the next number. A writer only writes `seq` after seeing `seq - 1`, so
sequences have no gaps. If a create times out after R2 stored it and the retry then sees 412, the
stored object carries the writer's own `turn_id`, which is recognised as success.

Turn objects are the truth; everything else is derived and only ever created, never replaced:
- A summary is written by the engine when it compacts (docs/sessions.md). Before it is created,
  a turn-id marker exists for every turn it covers, so a retried `turn_id` is found either in the
  window or through its marker (one read), never by scanning the history.
- A checkpoint is written every CHECKPOINT_EVERY turns. Losing one (or failing to write it) costs
  reads, never turns: restore takes the newest checkpoint, the newest summary, and lists only the
  turn keys after both (`start_after`), so a cold session costs a constant number of reads.

In memory a session is a window: the newest summary, the turns after it, and the next sequence
number. Windows are cached LRU under a byte budget; a locked window is never evicted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from agent.runtime.attachments import AttachmentInfo
from agent.runtime.errors import PreconditionFailed, RequestError, StoreError
from agent.runtime.session_index import SessionIndex
from agent.runtime.store.base import StateStore

log = logging.getLogger(__name__)

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
CHECKPOINT_EVERY = 4  # a cold restore then reads at most 3 turns after the newest checkpoint
CACHE_SHARE_OF_MEMORY = 5  # the cache may take 1/5 of the container's memory
# A fifth of a `lite` instance (256 MiB): with it, 200 long sessions stay under 200 MiB RSS
# (bench runtime.sessions_scale; a quarter measured 200.7 MiB).
DEFAULT_CACHE_BYTES = 256 * 1024 * 1024 // CACHE_SHARE_OF_MEMORY
CGROUP = Path("/sys/fs/cgroup")
# Parsed turns take several times their JSON size in Python objects (measured 6.1x for turns with
# their parsed pydantic-ai messages); the cache budget counts that, not the bytes on the wire.
IN_MEMORY_FACTOR = 7
_MAX_CLAIMS = 64
_LOAD_CONCURRENCY = 16
_NEWEST_FIRST = 99_999_999


class Turn(BaseModel):
    """One user message and the agent's reply, with the engine's serialized messages."""

    model_config = ConfigDict(frozen=True)

    seq: int = Field(ge=1)
    turn_id: str
    user: str
    channel: str
    created_at: datetime
    prompt: str
    reply: str
    model: str
    # Opaque to this module: the engine's own serialization (pydantic-ai's ModelMessagesTypeAdapter
    # JSON for the native engine).
    messages: list[Any] = Field(default_factory=list)
    # The message's attachments (agent/runtime/attachments.py), as the UI shows them.
    attachments: list[AttachmentInfo] = Field(default_factory=list)
    # Files the agent sent back in this turn (tools/send_file.py), stored as the user's attachments.
    files: list[AttachmentInfo] = Field(default_factory=list)
    # The engine's parsed form of `messages`, kept with the turn so it is validated once per load.
    _parsed: Any = PrivateAttr(default=None)

    def parsed(self, parse: Any) -> Any:
        """`parse(self.messages)`, computed once per loaded turn."""
        if self._parsed is None:
            self._parsed = parse(self.messages)
        return self._parsed


class Summary(BaseModel):
    """A running summary of turns 1..covers, written by the model that answers."""

    model_config = ConfigDict(frozen=True)

    covers: int = Field(ge=1)
    text: str
    model: str
    created_at: datetime


class Checkpoint(BaseModel):
    """What a cold session needs: the summary and the verbatim turns after it, up to `upto`."""

    upto: int = Field(ge=1)
    summary: Summary | None
    turns: list[Turn]


class TurnIdMarker(BaseModel):
    """Where the turn with this turn_id lives (written before a summary covers it)."""

    turn_id: str
    seq: int


@dataclass
class SessionWindow:
    """A session as the engine sees it: the newest summary, the turns after it, what comes next."""

    session_id: str
    owner: SessionStore
    summary: Summary | None = None
    turns: list[Turn] = field(default_factory=list)
    next_seq: int = 1
    checkpointed: int = 0  # `upto` of the newest checkpoint known to exist
    loaded: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _sizes: dict[int, int] = field(default_factory=dict)  # seq -> JSON bytes

    @property
    def size(self) -> int:
        """Estimated bytes this window holds in memory."""
        summary = len(self.summary.text) if self.summary is not None else 0
        return (sum(self._sizes.values()) + summary) * IN_MEMORY_FACTOR

    def _add(self, turn: Turn, size: int) -> None:
        if turn.seq != self.next_seq:
            raise StoreError(f"session {self.session_id!r} has a gap before turn {turn.seq}")
        self.turns.append(turn)
        self._sizes[turn.seq] = size
        self.next_seq = turn.seq + 1

    def _adopt(self, summary: Summary) -> None:
        if self.summary is not None and self.summary.covers >= summary.covers:
            return
        self.summary = summary
        self.turns = [turn for turn in self.turns if turn.seq > summary.covers]
        self._sizes = {seq: size for seq, size in self._sizes.items() if seq > summary.covers}
        self.next_seq = max(self.next_seq, summary.covers + 1)

    async def compact(self, summary: Summary, folded: Sequence[Turn]) -> Summary:
        """Durably store `summary` (covering `folded`), then drop those turns from the window."""
        return await self.owner.record_summary(self, summary, folded)


def cache_budget(configured: int | None, cgroup: Path = CGROUP) -> int:
    """AGENT_SESSION_CACHE_BYTES, else a fifth of the container's memory limit (cgroup v2, then
    v1), else DEFAULT_CACHE_BYTES when no limit is visible."""
    if configured is not None:
        return configured
    for name in ("memory.max", "memory/memory.limit_in_bytes"):
        try:
            raw = (cgroup / name).read_text().strip()
        except OSError:
            continue
        # v2 writes "max" and v1 a huge number when unlimited: no limit to derive from.
        if raw.isdigit() and int(raw) < 1 << 50:
            return int(raw) // CACHE_SHARE_OF_MEMORY
    return DEFAULT_CACHE_BYTES


def check_session_id(session_id: str) -> str:
    """Reject ids that are not safe key segments."""
    if not SESSION_ID.fullmatch(session_id):
        raise RequestError(
            422,
            f"invalid session_id {session_id!r}",
            "use 1-64 letters, digits, '-' or '_', e.g. 'trip-planning'",
        )
    return session_id


def new_session_id() -> str:
    """A fresh random session id."""
    return uuid.uuid4().hex


def turn_key(session_id: str, seq: int) -> str:
    """Where a turn lives."""
    return f"sessions/{session_id}/{seq:08d}.json"


def summary_key(session_id: str, covers: int) -> str:
    """Where the summary of turns 1..covers lives (newest first in a listing)."""
    return f"session-summaries/{session_id}/{_NEWEST_FIRST - covers:08d}.json"


def checkpoint_key(session_id: str, upto: int) -> str:
    """Where the checkpoint up to turn `upto` lives (newest first in a listing)."""
    return f"session-checkpoints/{session_id}/{_NEWEST_FIRST - upto:08d}.json"


def turn_id_key(session_id: str, turn_id: str) -> str:
    """Where the marker of a client's turn_id lives (hashed: any id becomes a safe key)."""
    digest = hashlib.sha256(turn_id.encode()).hexdigest()
    return f"turn-ids/{session_id}/{digest}.json"


class SessionStore:
    """Append-only session histories over a StateStore, windows cached in memory."""

    def __init__(self, store: StateStore, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self._store = store
        self._cache_bytes = cache_bytes
        self._sessions: OrderedDict[str, SessionWindow] = OrderedDict()
        self.index = SessionIndex(store)

    @property
    def cached_bytes(self) -> int:
        """Estimated bytes of every cached window."""
        return sum(window.size for window in self._sessions.values())

    def _entry(self, session_id: str) -> SessionWindow:
        window = self._sessions.get(session_id)
        if window is None:
            window = self._sessions[session_id] = SessionWindow(session_id, self)
        self._sessions.move_to_end(session_id)
        return window

    def _evict(self) -> None:
        total = self.cached_bytes
        for session_id, window in list(self._sessions.items()):  # least recently used first
            if total <= self._cache_bytes:
                return
            if not window.lock.locked():
                total -= window.size
                del self._sessions[session_id]

    async def warm(self) -> None:
        """Run a cold restore's read path once (list with max_keys, get), so readiness means a
        session can be restored now; raises StoreError if it cannot."""
        await self._store.list("session-checkpoints/", max_keys=1)
        await self._store.get(checkpoint_key("readiness-probe", 1))
        Checkpoint.model_validate_json(Checkpoint(upto=1, summary=None, turns=[]).model_dump_json())

    @asynccontextmanager
    async def open(self, session_id: str) -> AsyncIterator[SessionWindow]:
        """Hold the session for one turn: its window, restored lazily, stable until released."""
        window = self._entry(check_session_id(session_id))
        try:
            async with window.lock:
                if not window.loaded:
                    await self._restore(window)
                yield window
        finally:
            self._evict()

    async def read(self, session_id: str) -> list[Turn]:
        """Every stored turn of the session, read from the store (not cached: it is unbounded)."""
        prefix = f"sessions/{check_session_id(session_id)}/"
        infos = await self._store.list(prefix)
        turns = await self._fetch_turns(session_id, [info.key for info in infos])
        for expected, turn in enumerate(turns, start=1):
            if turn.seq != expected:
                raise StoreError(f"session {session_id!r} has a gap before turn {turn.seq}")
        return turns

    async def find_turn(self, window: SessionWindow, turn_id: str) -> Turn | None:
        """The stored turn with this turn_id: in the window, else through its marker (one read)."""
        for turn in window.turns:
            if turn.turn_id == turn_id:
                return turn
        if window.summary is None:
            return None  # every stored turn is in the window
        obj = await self._store.get(turn_id_key(window.session_id, turn_id))
        if obj is None:
            return None
        marker = TurnIdMarker.model_validate_json(obj.body)
        if marker.turn_id != turn_id:
            return None
        stored = await self._store.get(turn_key(window.session_id, marker.seq))
        return Turn.model_validate_json(stored.body) if stored is not None else None

    async def append(self, session_id: str, draft: Turn) -> Turn:
        """Durably add a turn (caller holds `open`); return it with the sequence it won."""
        window = self._entry(session_id)
        if window.next_seq == 1:
            await self.index.register(session_id, draft)
        for attempt in range(_MAX_CLAIMS):
            turn = draft.model_copy(update={"seq": window.next_seq})
            key = turn_key(session_id, turn.seq)
            body = turn.model_dump_json().encode()
            try:
                await self._store.put(key, body, if_none_match=True)
            except PreconditionFailed:
                existing = await self._store.get(key)
                if existing is not None:
                    winner = Turn.model_validate_json(existing.body)
                    if winner.turn_id == turn.turn_id:  # our own write, acknowledged late
                        window._add(winner, len(existing.body))
                        await self._checkpoint(window)
                        return winner
                before = window.next_seq
                await self._catch_up(window)
                if window.next_seq == before:
                    # The winner's object is not listed yet (R2 409 while its write is in flight).
                    await asyncio.sleep(min(0.005 * 2**attempt, 0.5))
                continue
            window._add(turn, len(body))
            await self._checkpoint(window)
            return turn
        raise StoreError(f"session {session_id!r}: no free turn number after {_MAX_CLAIMS} tries")

    async def record_summary(
        self, window: SessionWindow, summary: Summary, folded: Sequence[Turn]
    ) -> Summary:
        """Create the summary object (markers for the turns it covers first), then adopt it."""
        session_id = window.session_id
        gate = asyncio.Semaphore(_LOAD_CONCURRENCY)

        async def mark(turn: Turn) -> None:
            marker = TurnIdMarker(turn_id=turn.turn_id, seq=turn.seq).model_dump_json().encode()
            async with gate:
                with contextlib.suppress(PreconditionFailed):  # already marked: same content
                    await self._store.put(
                        turn_id_key(session_id, turn.turn_id), marker, if_none_match=True
                    )

        await asyncio.gather(*(mark(turn) for turn in folded))
        key = summary_key(session_id, summary.covers)
        try:
            await self._store.put(key, summary.model_dump_json().encode(), if_none_match=True)
        except PreconditionFailed:
            # Another writer summarised the same turns first: its summary stands.
            existing = await self._store.get(key)
            if existing is not None:
                summary = Summary.model_validate_json(existing.body)
        window._adopt(summary)
        return summary

    async def _checkpoint(self, window: SessionWindow) -> None:
        upto = window.next_seq - 1
        if upto - window.checkpointed < CHECKPOINT_EVERY:
            return
        checkpoint = Checkpoint(upto=upto, summary=window.summary, turns=list(window.turns))
        try:
            await self._store.put(
                checkpoint_key(window.session_id, upto),
                checkpoint.model_dump_json().encode(),
                if_none_match=True,
            )
        except PreconditionFailed:
            pass  # another writer checkpointed the same turns
        except Exception:  # an optimisation only: the turn is stored, reads just cost more
            log.warning("checkpoint of session %r failed", window.session_id, exc_info=True)
            return
        window.checkpointed = upto

    async def _restore(self, window: SessionWindow) -> None:
        session_id = window.session_id
        checkpoints, summaries = await asyncio.gather(
            self._store.list(f"session-checkpoints/{session_id}/", max_keys=1),
            self._store.list(f"session-summaries/{session_id}/", max_keys=1),
        )
        checkpoint_obj, summary_obj = await asyncio.gather(
            self._store.get(checkpoints[0].key) if checkpoints else _none(),
            self._store.get(summaries[0].key) if summaries else _none(),
        )
        if checkpoint_obj is not None:
            checkpoint = Checkpoint.model_validate_json(checkpoint_obj.body)
            window.summary = checkpoint.summary
            window.next_seq = (checkpoint.summary.covers + 1) if checkpoint.summary else 1
            for turn in checkpoint.turns:
                window._add(turn, len(turn.model_dump_json()))
            if window.next_seq != checkpoint.upto + 1:
                raise StoreError(f"checkpoint {checkpoints[0].key!r} does not end at its turn")
            window.checkpointed = checkpoint.upto
        if summary_obj is not None:
            window._adopt(Summary.model_validate_json(summary_obj.body))
        await self._catch_up(window)
        window.loaded = True

    async def _catch_up(self, window: SessionWindow) -> None:
        session_id = window.session_id
        known = window.next_seq - 1
        after = turn_key(session_id, known) if known else None
        infos = await self._store.list(f"sessions/{session_id}/", start_after=after)
        gate = asyncio.Semaphore(_LOAD_CONCURRENCY)

        async def fetch(key: str) -> tuple[Turn, int]:
            async with gate:
                obj = await self._store.get(key)
            if obj is None:
                raise StoreError(f"turn {key!r} vanished while loading session {session_id!r}")
            return Turn.model_validate_json(obj.body), len(obj.body)

        loaded = await asyncio.gather(*(fetch(info.key) for info in infos))
        for turn, size in sorted(loaded, key=lambda pair: pair[0].seq):
            window._add(turn, size)

    async def _fetch_turns(self, session_id: str, keys: list[str]) -> list[Turn]:
        gate = asyncio.Semaphore(_LOAD_CONCURRENCY)

        async def fetch(key: str) -> Turn:
            async with gate:
                obj = await self._store.get(key)
            if obj is None:
                raise StoreError(f"turn {key!r} vanished while loading session {session_id!r}")
            return Turn.model_validate_json(obj.body)

        return sorted(await asyncio.gather(*(fetch(key) for key in keys)), key=lambda t: t.seq)


async def _none() -> None:
    return None


def now() -> datetime:
    """Timezone-aware UTC now."""
    return datetime.now(UTC)
