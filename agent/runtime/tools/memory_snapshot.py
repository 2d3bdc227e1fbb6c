"""The memory search index, persisted: a start reads one snapshot instead of every memory file.

    memory-index/snapshot-1.sqlite.z    the FTS5 database with its manifest of indexed etags

The snapshot is a cache, never the truth: each search still lists `workspace/` and re-reads only
the files whose etag differs from the manifest (one LIST per 1,000 keys, one GET per changed
file). So a snapshot that is old (a crash before the next save, or another runtime's older copy
winning the last write) costs a few extra reads, never a wrong answer, and a missing or damaged
one means one full rebuild. That is why a plain last-writer-wins put is enough here, unlike the
conditional writes that protect turns and memory files.

Saves are debounced: the first change schedules one after `delay_s`, changes meanwhile join it, so
a burst of notes costs one upload and there is at most one save per `delay_s`. Shutdown saves
what is pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from agent.runtime.errors import StoreError
from agent.runtime.store.base import StateStore
from agent.runtime.tools.memory_index import MemoryIndex, SnapshotError

SNAPSHOT_KEY = "memory-index/snapshot-1.sqlite.z"
SNAPSHOT_DELAY_S = 15.0

log = logging.getLogger(__name__)


class IndexSnapshots:
    """Restores the index from the store and saves it back after changes, debounced."""

    def __init__(
        self,
        store: StateStore,
        delay_s: float = SNAPSHOT_DELAY_S,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._store = store
        self._delay_s = delay_s
        self._sleep = sleep
        self._dump: Callable[[], bytes] | None = None
        self._dirty = False
        self._task: asyncio.Task[None] | None = None
        self._save_lock = asyncio.Lock()

    async def restore(self) -> MemoryIndex:
        """The stored index, or an empty one when there is none or it cannot be used."""
        stored = await self._store.get(SNAPSHOT_KEY)
        if stored is None:
            return MemoryIndex()
        try:
            return MemoryIndex.load(stored.body)
        except SnapshotError as error:
            log.warning("memory index snapshot ignored, rebuilding from the files: %s", error)
            return MemoryIndex()

    def changed(self, dump: Callable[[], bytes]) -> None:
        """Note that the index changed; `dump` gives its bytes when the save comes."""
        self._dump = dump
        self._dirty = True
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._save_later())

    async def _save_later(self) -> None:
        while self._dirty:
            await self._sleep(self._delay_s)
            await self.save()

    async def save(self) -> None:
        """Upload the index now if it changed since the last upload."""
        async with self._save_lock:
            if not self._dirty or self._dump is None:
                return
            self._dirty = False
            try:
                # Taken without an await in between: one consistent state of the index.
                body = self._dump()
            except SnapshotError as error:
                log.warning("memory index snapshot not saved: %s", error)
                return
            try:
                await self._store.put(SNAPSHOT_KEY, body)
            except StoreError as error:
                self._dirty = True  # the next change or the shutdown tries again
                log.warning("memory index snapshot not saved: %s", error)
            except asyncio.CancelledError:
                self._dirty = True
                raise

    async def idle(self) -> None:
        """Wait until no save is scheduled (tests and shutdown)."""
        if self._task is not None:
            await asyncio.wait([self._task])

    async def close(self) -> None:
        """Stop the timer and save what is pending."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.save()
