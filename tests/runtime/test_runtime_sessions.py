"""Session layout: concurrent writers lose no turn; a late acknowledgement is no duplicate."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent.runtime.errors import PreconditionFailed, StoreError
from agent.runtime.sessions import SessionStore, Turn, now, turn_key
from agent.runtime.store.base import StateStore
from agent.runtime.store.local import LocalDirStore

pytestmark = pytest.mark.anyio


def draft(prompt: str, turn_id: str) -> Turn:
    return Turn(
        seq=1,
        turn_id=turn_id,
        user="u",
        channel="api",
        created_at=now(),
        prompt=prompt,
        reply=f"re: {prompt}",
        model="offline",
    )


async def add(sessions: SessionStore, session_id: str, prompt: str, turn_id: str) -> Turn:
    async with sessions.open(session_id):
        return await sessions.append(session_id, draft(prompt, turn_id))


async def test_turns_persist_and_restore_lazily(tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path)
    first = SessionStore(store)
    for index in range(3):
        turn = await add(first, "s1", f"m{index}", f"t{index}")
        assert turn.seq == index + 1
    restarted = SessionStore(store)  # a new process: nothing cached
    turns = await restarted.read("s1")
    assert [t.prompt for t in turns] == ["m0", "m1", "m2"]
    page = await restarted.index.page(None, None, 10)
    assert [m.title for m in page.sessions] == ["m0"]


async def test_two_writers_one_session_lose_nothing(tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path)
    a, b = SessionStore(store), SessionStore(store)
    await add(a, "s", "a0", "a0")
    await b.read("s")  # both caches now end at seq 1
    await add(a, "s", "a1", "a1")
    late = await add(b, "s", "b1", "b1")  # b's seq 2 is taken: it re-reads and takes 3
    assert late.seq == 3
    turns = await SessionStore(store).read("s")
    assert [(t.seq, t.turn_id) for t in turns] == [(1, "a0"), (2, "a1"), (3, "b1")]


async def test_many_concurrent_writers(tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path)
    writers = [SessionStore(store) for _ in range(4)]

    async def run(index: int, writer: SessionStore) -> list[Turn]:
        return [await add(writer, "s", f"w{index}-{n}", f"w{index}-{n}") for n in range(10)]

    acked = [
        t
        for batch in await asyncio.gather(*(run(i, w) for i, w in enumerate(writers)))
        for t in batch
    ]
    stored = await SessionStore(store).read("s")
    assert sorted(t.turn_id for t in stored) == sorted(t.turn_id for t in acked)
    assert [t.seq for t in stored] == list(range(1, 41))


class LateAckStore:
    """Stores the first turn write, then reports 412 as a retried request would see it."""

    def __init__(self, inner: StateStore) -> None:
        self.inner = inner
        self.tripped = False

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def put(
        self, key: str, body: bytes, *, if_none_match: bool = False, if_match: str | None = None
    ) -> str:
        etag = await self.inner.put(key, body, if_none_match=if_none_match, if_match=if_match)
        if key.startswith("sessions/") and not self.tripped:
            self.tripped = True
            raise PreconditionFailed(key)
        return etag


async def test_own_write_acknowledged_late_is_not_duplicated(tmp_path: Path) -> None:
    store = LateAckStore(LocalDirStore(tmp_path))
    sessions = SessionStore(store)  # type: ignore[arg-type]
    turn = await add(sessions, "s", "hello", "t-1")
    assert (turn.seq, turn.turn_id) == (1, "t-1")
    assert await store.inner.get(turn_key("s", 2)) is None
    assert len(await SessionStore(store.inner).read("s")) == 1


async def test_a_gap_is_reported_not_papered_over(tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path)
    await add(SessionStore(store), "s", "one", "t1")
    await store.put(
        turn_key("s", 3),
        draft("three", "t3").model_copy(update={"seq": 3}).model_dump_json().encode(),
    )
    with pytest.raises(StoreError, match="gap before turn 3"):
        await SessionStore(store).read("s")


class ConflictInFlight:
    """R2's 409 ConditionalRequestConflict: the first create loses, yet nothing is stored."""

    def __init__(self, inner: StateStore) -> None:
        self.inner = inner
        self.conflicts = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def put(
        self, key: str, body: bytes, *, if_none_match: bool = False, if_match: str | None = None
    ) -> str:
        if key.startswith("sessions/") and self.conflicts < 2:
            self.conflicts += 1
            raise PreconditionFailed(key)
        return await self.inner.put(key, body, if_none_match=if_none_match, if_match=if_match)


async def test_a_conflict_with_nothing_stored_is_retried_at_the_same_number(
    tmp_path: Path,
) -> None:
    store = ConflictInFlight(LocalDirStore(tmp_path))
    turn = await add(SessionStore(store), "s", "hello", "t-1")  # type: ignore[arg-type]
    assert (turn.seq, store.conflicts) == (1, 2)
    assert [t.turn_id for t in await SessionStore(store.inner).read("s")] == ["t-1"]
