"""The persisted memory index: a start reads its snapshot and only the files changed since."""

from __future__ import annotations

import asyncio
import sqlite3
import zlib
from collections import Counter
from pathlib import Path

import pytest
from suite_support import s3

from agent.runtime.errors import StoreError
from agent.runtime.store.base import ObjectInfo, StateStore, StoredObject
from agent.runtime.store.local import LocalDirStore
from agent.runtime.store.r2 import R2Store
from agent.runtime.tools import memory_index
from agent.runtime.tools.memory import MemoryBook
from agent.runtime.tools.memory_index import MemoryIndex, SnapshotError
from agent.runtime.tools.memory_snapshot import SNAPSHOT_KEY, IndexSnapshots

pytestmark = pytest.mark.anyio


class CountingStore:
    """A StateStore that counts the requests it passes on: what a start costs in reads."""

    def __init__(self, inner: StateStore) -> None:
        self.inner = inner
        self.gets: Counter[str] = Counter()
        self.lists = 0
        self.puts: Counter[str] = Counter()

    async def get(self, key: str) -> StoredObject | None:
        self.gets[key] += 1
        return await self.inner.get(key)

    async def put(
        self, key: str, body: bytes, *, if_none_match: bool = False, if_match: str | None = None
    ) -> str:
        self.puts[key] += 1
        return await self.inner.put(key, body, if_none_match=if_none_match, if_match=if_match)

    async def list(self, prefix: str) -> list[ObjectInfo]:
        self.lists += 1
        return await self.inner.list(prefix)

    async def delete(self, key: str) -> None:
        await self.inner.delete(key)

    async def check(self) -> None:
        await self.inner.check()

    async def flush(self) -> None:
        await self.inner.flush()

    async def close(self) -> None:
        await self.inner.close()

    def file_gets(self) -> int:
        return sum(count for key, count in self.gets.items() if key != SNAPSHOT_KEY)


def note(day: int) -> str:
    return f"memory/2026-{1 + day // 28:02d}-{1 + day % 28:02d}-{day}.md"


async def seed(store: StateStore, count: int) -> None:
    gate = asyncio.Semaphore(32)

    async def one(day: int) -> None:
        async with gate:
            body = f"- 09:00 note {day} about topic{day}\n- shared word harbour\n"
            await store.put("workspace/" + note(day), body.encode())

    await asyncio.gather(*(one(day) for day in range(count)))


async def start(inner: StateStore, query: str) -> tuple[CountingStore, MemoryBook, set[str]]:
    """A fresh runtime's memory: count what its first search reads."""
    counting = CountingStore(inner)
    book = MemoryBook(counting, "UTC")
    hits = await book.search(query, limit=2000)
    return counting, book, {hit.path for hit in hits}


@pytest.mark.slow  # over half a second of CPU (make test-cost)
async def test_a_start_reads_the_snapshot_and_only_changed_files(tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path / "state")
    await seed(store, 1000)
    first, book, found = await start(store, "harbour")
    assert len(found) == 1000
    assert (first.file_gets(), first.gets[SNAPSHOT_KEY]) == (1000, 1)  # no snapshot yet: rebuild
    await book.close()  # a graceful stop saves the index
    assert first.puts[SNAPSHOT_KEY] == 1

    second, book, found = await start(store, "topic777")
    assert found == {note(777)}
    assert (second.gets[SNAPSHOT_KEY], second.file_gets(), second.lists) == (1, 0, 1)
    await book.close()
    assert second.puts[SNAPSHOT_KEY] == 0  # nothing changed: nothing to save

    # Another runtime edits two files, deletes one and adds one, then dies before saving.
    other = MemoryBook(store, "UTC")
    for day in (3, 500):
        text = await other.read(note(day))
        assert text is not None
        await other.write(note(day), f"- rewritten {day} mentions lighthouse\n", text.etag)
    await store.delete("workspace/" + note(9))
    await other.write("MEMORY.md", "- lighthouse keeper is Ana\n", None)

    third, book, found = await start(store, "lighthouse")
    assert found == {note(3), note(500), "MEMORY.md"}
    assert third.gets[SNAPSHOT_KEY] == 1
    assert sorted(third.gets - Counter({SNAPSHOT_KEY: 1})) == sorted(
        ["workspace/" + note(3), "workspace/" + note(500), "workspace/MEMORY.md"]
    )
    assert note(9) not in {hit.path for hit in await book.search("topic9")}  # deleted
    assert note(3) not in {hit.path for hit in await book.search("topic3")}  # rewritten
    await book.close()


async def test_two_runtimes_writing_memory_never_leave_a_wrong_index(tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path / "state")
    await seed(store, 20)
    one, two = MemoryBook(store, "UTC"), MemoryBook(store, "UTC")
    await one.search("harbour")
    await two.search("harbour")
    await one.append(note(1), "- swim at dawn\n")
    await two.append(note(1), "- rowing at dusk\n")  # on top of one's edit
    await one.write("MEMORY.md", "- boat is blue\n", None)
    await two.close()  # two saves first: its index lacks MEMORY.md
    await one.close()  # one saves last: its note(1) predates two's line
    reads = []
    for query, expected in [("dusk", {note(1)}), ("dawn", {note(1)}), ("blue", {"MEMORY.md"})]:
        counting, book, found = await start(store, query)
        assert found == expected
        reads.append(counting.file_gets())
        await book.close()
    assert reads == [1, 0, 0]  # note(1), whose stored etag is newer; then the repaired snapshot


@pytest.mark.parametrize(
    "broken",
    [
        b"not a snapshot",
        zlib.compress(b"SQLite format 3\x00 but not really"),
        "truncated",
        "foreign schema",
        "extra trigger",
    ],
)
async def test_a_missing_or_broken_snapshot_means_one_rebuild(
    tmp_path: Path, broken: bytes | str
) -> None:
    store = LocalDirStore(tmp_path / "state")
    await seed(store, 30)
    _, book, _ = await start(store, "harbour")
    await book.close()
    stored = await store.get(SNAPSHOT_KEY)
    assert stored is not None
    damaged = _broken(broken, stored.body)
    with pytest.raises(SnapshotError):
        MemoryIndex.load(damaged)
    await store.put(SNAPSHOT_KEY, damaged)

    counting, book, found = await start(store, "topic7")
    assert found == {note(7)}
    assert counting.file_gets() == 30
    await book.close()
    counting, book, found = await start(store, "topic8")  # the rebuilt index was saved
    assert (found, counting.file_gets()) == ({note(8)}, 0)
    await book.close()
    await store.delete(SNAPSHOT_KEY)
    counting, book, found = await start(store, "topic9")
    assert (found, counting.file_gets()) == ({note(9)}, 30)
    await book.close()


def _broken(kind: bytes | str, good: bytes) -> bytes:
    if isinstance(kind, bytes):
        return kind
    if kind == "truncated":
        return good[: len(good) // 2]
    db = sqlite3.connect(":memory:")
    if kind == "foreign schema":
        db.execute("CREATE TABLE lines (path, line, text)")
    else:  # our schema plus a trigger: code riding along must be refused, not run
        db.deserialize(zlib.decompress(good))
        db.execute("CREATE TABLE log (x)")
        db.execute("CREATE TRIGGER t AFTER DELETE ON files BEGIN INSERT INTO log VALUES (1); END")
    db.commit()
    return zlib.compress(db.serialize())


async def test_saves_are_debounced_into_one_upload_per_burst(tmp_path: Path) -> None:
    store = CountingStore(LocalDirStore(tmp_path / "state"))
    await seed(store.inner, 5)
    release = asyncio.Event()
    delays: list[float] = []

    async def sleep(delay: float) -> None:  # the injected clock: the delay ends when released
        delays.append(delay)
        await release.wait()
        release.clear()

    book = MemoryBook(store, "UTC", snapshots=IndexSnapshots(store, 15.0, sleep=sleep))
    await book.search("harbour")  # a rebuild: the first change of the burst
    for minute in range(4):
        await book.append(note(0), f"- 10:0{minute} tide table\n")
    await asyncio.sleep(0)
    assert (store.puts[SNAPSHOT_KEY], delays) == (0, [15.0])
    release.set()
    await book.snapshots.idle()
    assert store.puts[SNAPSHOT_KEY] == 1
    await book.write("MEMORY.md", "- moved to the coast\n", None)  # a new burst, a new delay
    await asyncio.sleep(0)
    assert delays == [15.0, 15.0]
    await book.close()  # shutdown does not wait for the delay
    assert store.puts[SNAPSHOT_KEY] == 2
    counting, book, found = await start(store.inner, "tide coast")
    assert (found, counting.file_gets()) == ({note(0), "MEMORY.md"}, 0)
    await book.close()


@pytest.mark.slow  # over half a second of CPU (make test-cost)
async def test_on_r2_a_start_reads_one_snapshot(moto_endpoint: str, r2_bucket: str) -> None:
    def open_r2() -> R2Store:
        return R2Store(
            bucket=r2_bucket,
            endpoint=moto_endpoint,
            access_key_id="test",
            secret_access_key="test",
            region="us-east-1",
            prefix="users/ana/",
        )

    assert s3(moto_endpoint).list_objects_v2(Bucket=r2_bucket)["KeyCount"] == 0
    store = open_r2()
    await seed(store, 40)
    _, book, found = await start(store, "harbour")
    assert len(found) == 40
    await book.write("MEMORY.md", "- kayak in the shed\n", None)  # etag from the put response
    await book.close()
    later = open_r2()
    counting, book, found = await start(later, "kayak")
    assert found == {"MEMORY.md"}
    assert (counting.gets[SNAPSHOT_KEY], counting.file_gets()) == (1, 0)  # S3 etags match
    await book.close()
    await store.close()
    await later.close()


class FlakyStore(CountingStore):
    """Fails the first `failures` snapshot uploads, as an unreachable R2 would."""

    def __init__(self, inner: StateStore, failures: int) -> None:
        super().__init__(inner)
        self.failures = failures

    async def put(
        self, key: str, body: bytes, *, if_none_match: bool = False, if_match: str | None = None
    ) -> str:
        if key == SNAPSHOT_KEY and self.failures > 0:
            self.failures -= 1
            raise StoreError(f"R2 write of {key!r} failed: unreachable")
        return await super().put(key, body, if_none_match=if_none_match, if_match=if_match)


async def test_a_failed_save_is_retried_and_an_oversized_index_is_not_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = FlakyStore(LocalDirStore(tmp_path / "state"), failures=1)
    await seed(store.inner, 10)
    book = MemoryBook(store, "UTC")
    await book.search("harbour")
    await book.snapshots.save()  # R2 unreachable: logged, still pending
    assert "memory index snapshot not saved: R2 write" in caplog.text
    assert await store.inner.get(SNAPSHOT_KEY) is None
    await book.close()  # shutdown tries again
    assert store.puts[SNAPSHOT_KEY] == 1
    assert await store.inner.get(SNAPSHOT_KEY) is not None

    monkeypatch.setattr(memory_index, "MAX_SNAPSHOT_BYTES", 4096)
    counting, book, _ = await start(store.inner, "harbour")  # the saved one is over the limit now
    assert counting.file_gets() == 10
    await book.close()
    assert counting.puts[SNAPSHOT_KEY] == 0
    assert "is over 4096" in caplog.text
