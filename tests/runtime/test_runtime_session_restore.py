"""Restoring a long session reads a checkpoint and the few turns after it, not the history.

Big sessions are built by writing turn objects (and the summary/checkpoint objects the runtime
would have written) straight into the store; running 5,000 model turns would only add time.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from runtime_support import CountingStore

from agent.runtime.errors import PreconditionFailed
from agent.runtime.sessions import (
    CHECKPOINT_EVERY,
    DEFAULT_CACHE_BYTES,
    Checkpoint,
    SessionStore,
    Summary,
    Turn,
    cache_budget,
    checkpoint_key,
    now,
    summary_key,
    turn_id_key,
    turn_key,
)
from agent.runtime.store.local import LocalDirStore

pytestmark = pytest.mark.anyio


def make_turn(seq: int, prompt: str | None = None) -> Turn:
    return Turn(
        seq=seq,
        turn_id=f"t{seq}",
        user="u",
        channel="api",
        created_at=now(),
        prompt=prompt or f"message {seq}",
        reply=f"reply {seq}",
        model="offline",
    )


def write(root: Path, key: str, body: str) -> None:
    path = root / key
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True)
    path.write_text(body)


def build_session(
    root: Path, session_id: str, *, turns: int, summarised: int, checkpoint: int
) -> None:
    """What the runtime leaves behind: turns, a summary of the first ones, a checkpoint."""
    for seq in range(1, turns + 1):
        write(root, turn_key(session_id, seq), make_turn(seq).model_dump_json())
    summary = Summary(covers=summarised, text="facts so far", model="offline", created_at=now())
    write(root, summary_key(session_id, summarised), summary.model_dump_json())
    for upto in range(summarised + CHECKPOINT_EVERY, checkpoint + 1, CHECKPOINT_EVERY):
        tail = [make_turn(seq) for seq in range(summarised + 1, upto + 1)]
        snapshot = Checkpoint(upto=upto, summary=summary, turns=tail)
        write(root, checkpoint_key(session_id, upto), snapshot.model_dump_json())


@pytest.mark.slow  # over half a second of CPU (make test-cost)
async def test_cold_restore_of_5000_turns_reads_at_most_10_objects(tmp_path: Path) -> None:
    build_session(tmp_path, "long", turns=5000, summarised=4980, checkpoint=4996)
    store = CountingStore(LocalDirStore(tmp_path))
    sessions = SessionStore(store)  # type: ignore[arg-type]
    async with sessions.open("long") as window:
        assert window.summary is not None
        assert window.summary.covers == 4980
        assert [t.seq for t in window.turns] == list(range(4981, 5001))
        assert window.next_seq == 5001
    assert len(store.reads) <= 10, store.reads
    # The next turn lands after the history and costs no further read.
    store.reads.clear()
    async with sessions.open("long"):
        turn = await sessions.append("long", make_turn(1, "hello again"))
    assert turn.seq == 5001
    assert store.reads == []


async def test_restore_without_the_newest_checkpoint_is_still_complete(tmp_path: Path) -> None:
    build_session(tmp_path, "s", turns=60, summarised=40, checkpoint=56)
    (tmp_path / checkpoint_key("s", 56)).unlink()  # lost, or never written (crash)
    store = CountingStore(LocalDirStore(tmp_path))
    async with SessionStore(store).open("s") as window:  # type: ignore[arg-type]
        assert [t.seq for t in window.turns] == list(range(41, 61))
    assert len(store.reads) <= 5 + 8  # the older checkpoint, then 8 turns after it


async def test_a_summary_newer_than_the_checkpoint_is_used(tmp_path: Path) -> None:
    # The runtime compacted after its last checkpoint, then was killed.
    build_session(tmp_path, "s", turns=30, summarised=10, checkpoint=26)
    newer = Summary(covers=27, text="newer facts", model="offline", created_at=now())
    write(tmp_path, summary_key("s", 27), newer.model_dump_json())
    store = CountingStore(LocalDirStore(tmp_path))
    async with SessionStore(store).open("s") as window:  # type: ignore[arg-type]
        assert window.summary == newer
        assert [t.seq for t in window.turns] == [28, 29, 30]


async def test_checkpoints_are_written_every_few_turns_and_failures_do_not_fail_turns(
    tmp_path: Path,
) -> None:
    class FailingCheckpoints(CountingStore):
        async def put(self, key: str, body: bytes, **conditions: object) -> str:
            if key.startswith("session-checkpoints/") and len(self.writes) < 10:
                self.writes.append(key)
                raise OSError("injected")
            return await super().put(key, body, **conditions)  # type: ignore[arg-type]

    store = FailingCheckpoints(LocalDirStore(tmp_path))
    sessions = SessionStore(store)  # type: ignore[arg-type]
    for seq in range(1, 13):
        async with sessions.open("s"):
            draft = make_turn(1, f"m{seq}").model_copy(update={"turn_id": f"x{seq}"})
            await sessions.append("s", draft)
    stored = await LocalDirStore(tmp_path).list("session-checkpoints/s/")
    assert stored, "a checkpoint is written once the store accepts it"
    newest = Checkpoint.model_validate_json((tmp_path / stored[0].key).read_bytes())
    assert newest.upto >= 8
    assert [t.seq for t in newest.turns] == list(range(1, newest.upto + 1))
    restored = CountingStore(LocalDirStore(tmp_path))
    async with SessionStore(restored).open("s") as window:  # type: ignore[arg-type]
        assert [t.prompt for t in window.turns] == [f"m{n}" for n in range(1, 13)]


async def test_a_compacted_turn_id_is_found_through_its_marker(tmp_path: Path) -> None:
    store = CountingStore(LocalDirStore(tmp_path))
    sessions = SessionStore(store)  # type: ignore[arg-type]
    for seq in range(1, 6):
        async with sessions.open("s"):
            await sessions.append("s", make_turn(seq))
    async with sessions.open("s") as window:
        summary = Summary(covers=3, text="first three", model="offline", created_at=now())
        await window.compact(summary, window.turns[:3])
        assert [t.seq for t in window.turns] == [4, 5]
    cold = CountingStore(LocalDirStore(tmp_path))
    restarted = SessionStore(cold)  # type: ignore[arg-type]
    async with restarted.open("s") as window:
        assert window.summary == summary
        cold.reads.clear()
        found = await restarted.find_turn(window, "t2")
        assert found is not None
        assert (found.seq, found.prompt) == (2, "message 2")
        assert len(cold.reads) == 2  # the marker, then the turn itself
        assert await restarted.find_turn(window, "t5") is not None
        assert await restarted.find_turn(window, "never-sent") is None


async def test_two_writers_summarising_the_same_turns_keep_one_summary(tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path)
    a, b = SessionStore(store), SessionStore(store)
    for seq in range(1, 4):
        async with a.open("s"):
            await a.append("s", make_turn(seq))
    mine = Summary(covers=2, text="from a", model="offline", created_at=now())
    theirs = Summary(covers=2, text="from b", model="offline", created_at=now())
    async with a.open("s") as window:
        await window.compact(mine, window.turns[:2])
    async with b.open("s") as window:
        window.summary = None  # b restored before a compacted
        kept = await window.compact(theirs, [])
        assert kept == mine
    with pytest.raises(PreconditionFailed):
        await store.put(summary_key("s", 2), b"{}", if_none_match=True)


async def test_the_cache_stays_within_its_byte_budget(tmp_path: Path) -> None:
    budget = 400_000
    sessions = SessionStore(LocalDirStore(tmp_path), cache_bytes=budget)
    big = "x" * 2_000
    for index in range(40):
        async with sessions.open(f"s{index}"):
            for n in range(3):
                await sessions.append(f"s{index}", make_turn(1, f"{big}{n}"))
        assert sessions.cached_bytes <= budget
    # Evicted sessions come back from the store intact.
    async with sessions.open("s0") as window:
        assert [t.seq for t in window.turns] == [1, 2, 3]


async def test_turn_id_key_is_a_safe_segment() -> None:
    key = turn_id_key("s", "../../etc:passwd")
    assert key.startswith("turn-ids/s/")
    assert ".." not in key


def test_cache_budget_comes_from_the_setting_or_the_container_memory(tmp_path: Path) -> None:
    assert cache_budget(5_000_000, tmp_path) == 5_000_000
    assert cache_budget(None, tmp_path) == DEFAULT_CACHE_BYTES  # no cgroup files
    (tmp_path / "memory.max").write_text("max\n")
    assert cache_budget(None, tmp_path) == DEFAULT_CACHE_BYTES  # unlimited
    (tmp_path / "memory.max").write_text(f"{256 * 1024 * 1024}\n")  # a `lite` instance
    assert cache_budget(None, tmp_path) == 256 * 1024 * 1024 // 5
