"""Session history in the state store, laid out so no acknowledged turn can be lost.

Layout (below the sandbox's state prefix):

    sessions/<session>/<seq:08d>.json    one immutable object per turn, If-None-Match: *

plus the session's owner record and listing entries, created at its first turn before the turn
itself (agent.runtime.session_index).

A turn is acknowledged only after its own object was created. Writers never overwrite: the
sequence number is claimed by the conditional create itself, so two writers (two runtimes, or a
restart overlapping a shutdown) that both try `seq` get exactly one winner; the loser re-reads the
turns it missed and tries the next number. A writer only writes `seq` after seeing `seq - 1`, so
sequences have no gaps and listing the prefix restores the whole history.

If a create times out after R2 stored it and the retry then sees 412, the stored object carries the
writer's own `turn_id`, which is recognised as success instead of writing the turn twice.
Sessions load lazily on first use and stay cached (bounded LRU) in this process.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agent.runtime.errors import PreconditionFailed, RequestError, StoreError
from agent.runtime.session_index import SessionIndex
from agent.runtime.store.base import StateStore

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_MAX_CLAIMS = 64
_LOAD_CONCURRENCY = 16


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


@dataclass
class _Session:
    turns: list[Turn] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def next_seq(self) -> int:
        return len(self.turns) + 1


def check_session_id(session_id: str) -> str:
    """Reject ids that are not safe key segments."""
    if not SESSION_ID.match(session_id):
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


class SessionStore:
    """Append-only session histories over a StateStore, cached in memory."""

    def __init__(self, store: StateStore, max_cached: int = 512) -> None:
        self._store = store
        self._max_cached = max_cached
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self.index = SessionIndex(store)

    def _entry(self, session_id: str) -> tuple[_Session, bool]:
        entry = self._sessions.get(session_id)
        fresh = entry is None
        if entry is None:
            entry = self._sessions[session_id] = _Session()
        self._sessions.move_to_end(session_id)
        while len(self._sessions) > self._max_cached:
            oldest, victim = next(iter(self._sessions.items()))
            if victim.lock.locked():
                break
            del self._sessions[oldest]
        return entry, fresh

    @asynccontextmanager
    async def open(self, session_id: str) -> AsyncIterator[list[Turn]]:
        """Hold the session for one turn: its history, loaded lazily, stable until released."""
        entry, fresh = self._entry(check_session_id(session_id))
        async with entry.lock:
            if fresh or not entry.turns:
                await self._catch_up(session_id, entry)
            yield entry.turns

    async def read(self, session_id: str) -> list[Turn]:
        """The session's turns, including any another writer added since we last looked."""
        entry, _ = self._entry(check_session_id(session_id))
        async with entry.lock:
            await self._catch_up(session_id, entry)
            return list(entry.turns)

    async def append(self, session_id: str, draft: Turn) -> Turn:
        """Durably add a turn (caller holds `open`); return it with the sequence it won."""
        entry, _ = self._entry(session_id)
        if not entry.turns:
            await self.index.register(session_id, draft)
        for attempt in range(_MAX_CLAIMS):
            turn = draft.model_copy(update={"seq": entry.next_seq})
            key = turn_key(session_id, turn.seq)
            try:
                await self._store.put(key, turn.model_dump_json().encode(), if_none_match=True)
            except PreconditionFailed:
                existing = await self._store.get(key)
                if existing is not None:
                    winner = Turn.model_validate_json(existing.body)
                    if winner.turn_id == turn.turn_id:  # our own write, acknowledged late
                        entry.turns.append(winner)
                        return winner
                before = entry.next_seq
                await self._catch_up(session_id, entry)
                if entry.next_seq == before:
                    # The winner's object is not listed yet (R2 409 while its write is in flight).
                    await asyncio.sleep(min(0.005 * 2**attempt, 0.5))
                continue
            entry.turns.append(turn)
            return turn
        raise StoreError(f"session {session_id!r}: no free turn number after {_MAX_CLAIMS} tries")

    async def _catch_up(self, session_id: str, entry: _Session) -> None:
        known = entry.next_seq
        infos = await self._store.list(f"sessions/{session_id}/")
        missing = [info.key for info in infos if _seq_of(info.key) >= known]
        if not missing:
            return
        gate = asyncio.Semaphore(_LOAD_CONCURRENCY)

        async def fetch(key: str) -> Turn:
            async with gate:
                obj = await self._store.get(key)
            if obj is None:
                raise StoreError(f"turn {key!r} vanished while loading session {session_id!r}")
            return Turn.model_validate_json(obj.body)

        loaded = await asyncio.gather(*(fetch(key) for key in missing))
        for turn in sorted(loaded, key=lambda t: t.seq):
            if turn.seq != entry.next_seq:
                raise StoreError(f"session {session_id!r} has a gap before turn {turn.seq}")
            entry.turns.append(turn)


def _seq_of(key: str) -> int:
    name = key.rsplit("/", 1)[-1]
    stem = name.removesuffix(".json")
    return int(stem) if stem.isdigit() else 0


def now() -> datetime:
    """Timezone-aware UTC now."""
    return datetime.now(UTC)
