"""Keep the gateway's state directory durable in the state store, continuously.

- Restore: before the gateway starts, every stored file is written back (the store is the truth;
  stale SQLite `-wal`/`-shm` sidecars are removed so they cannot be replayed onto a restored DB).
- Persist: file changes (inotify through watchfiles) are uploaded as soon as writes pause, at
  most once per `debounce_s` while they continue; unchanged content is never re-sent. SQLite
  files are never copied raw: a live WAL database is read through SQLite's online backup API
  into a consistent snapshot first.
- Final flush: after the gateway stopped, one full scan uploads whatever is still different.
Moltworker syncs every 30 s with rclone; here the loss window is the debounce plus one upload.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

import stamina
from watchfiles import awatch

from agent.runtime.errors import StoreError
from agent.runtime.store.base import StateStore

log = logging.getLogger("agent.runtime.openclaw")

PREFIX = "openclaw/"
SQLITE_MAGIC = b"SQLite format 3\x00"
SIDECARS = ("-wal", "-shm", "-journal")
SKIP_TOP = frozenset({"cache", "tmp", "logs", "npm", "media"})  # caches, locks, reinstallable
RENDERED = frozenset({"openclaw.json"})  # rendered from settings at every start
MAX_PARALLEL = 8
# A file's mtime is only as fine as the kernel's coarse clock (a few ms), and a rewritten SQLite WAL
# keeps its size: a write landing in the same tick as our last read leaves the signature unchanged.
# Like git's "racily clean" entries, a signature is trusted only once its newest mtime is this much
# older than the moment it was taken; until then the file is read and compared by digest.
SETTLED_NS = 2_000_000_000


def persisted(rel: PurePosixPath) -> bool:
    """Whether a path (relative to the state dir) belongs in the store."""
    name = rel.name
    return not (
        rel.parts[0] in SKIP_TOP
        or str(rel) in RENDERED
        or name.endswith((*SIDECARS, ".tmp"))
        or ".lock" in name
        or "reindex-lock" in name
        or ".generation-" in name
    )


def in_skipped_tree(rel: PurePosixPath) -> bool:
    """Whether a path lies in a tree that is never persisted, walked or watched (`.`: no)."""
    return bool(rel.parts) and rel.parts[0] in SKIP_TOP


def persisted_files(root: Path, below: PurePosixPath | None = None) -> set[PurePosixPath]:
    """The persisted files under `root/below` (all of `root` by default), relative to `root`.

    The skipped trees are never entered: with Slack on they hold ~25,000 files (`npm/` and the
    plugin installer's copies in `tmp/`), and walking them made every rescan cost ~1.5 s of CPU.
    """
    found: set[PurePosixPath] = set()
    pending = [below or PurePosixPath()]
    if in_skipped_tree(pending[0]):
        return found
    while pending:
        rel_dir = pending.pop()
        try:
            with os.scandir(root.joinpath(*rel_dir.parts)) as listing:
                entries = list(listing)
        except (FileNotFoundError, NotADirectoryError):  # removed meanwhile
            continue
        for entry in entries:
            rel = rel_dir / entry.name
            if entry.is_dir(follow_symlinks=False):
                if not in_skipped_tree(rel):
                    pending.append(rel)
            elif entry.is_file() and persisted(rel):
                found.add(rel)
    return found


def _database_of(rel: PurePosixPath) -> PurePosixPath:
    for suffix in SIDECARS:
        if rel.name.endswith(suffix):
            return rel.with_name(rel.name[: -len(suffix)])
    return rel


def snapshot_sqlite(path: Path) -> bytes:
    """A consistent copy of a live SQLite database (online backup API, read-only source)."""
    with tempfile.TemporaryDirectory(prefix="oc-snap-") as tmp:
        target = Path(tmp) / "copy.sqlite"
        source = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=10.0)
        try:
            copy = sqlite3.connect(target)
            try:
                source.backup(copy)
            finally:
                copy.close()
        finally:
            source.close()
        return target.read_bytes()


def _read(path: Path) -> bytes | None:
    try:
        with path.open("rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
            if head != SQLITE_MAGIC:
                return head + handle.read()
    except (FileNotFoundError, IsADirectoryError):
        return None
    try:
        return snapshot_sqlite(path)
    except sqlite3.Error as error:
        raise StoreError(f"could not snapshot SQLite database {path.name}: {error}") from error


def _signature(path: Path) -> tuple[int, ...] | None:
    try:
        main = path.stat()
    except OSError:
        return None
    try:
        wal = path.with_name(path.name + "-wal").stat()
        return (main.st_size, main.st_mtime_ns, wal.st_size, wal.st_mtime_ns)
    except OSError:
        return (main.st_size, main.st_mtime_ns)


def _settled(signature: tuple[int, ...] | None, taken_ns: int) -> bool:
    """Whether no write can hide behind this signature (its mtimes are older than the window)."""
    return signature is not None and max(signature[1::2]) < taken_ns - SETTLED_NS


class StateSync:
    """Mirror of one state directory under `openclaw/` in the store."""

    def __init__(
        self, store: StateStore, root: Path, *, debounce_s: float = 1.0, rescan_s: float = 30.0
    ) -> None:
        self._store = store
        self._rescan_s = rescan_s
        self._root = root
        self._debounce_ms = max(50, int(debounce_s * 1000))
        self._uploaded: dict[str, str] = {}  # relative path -> sha256 of the stored body
        self._seen: dict[str, tuple[int, ...]] = {}  # relative path -> _signature at last sync
        self._pending: set[PurePosixPath] = set()
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._limit = asyncio.Semaphore(MAX_PARALLEL)
        self.restored_files = 0
        self.uploads = 0
        self.last_synced_at: float | None = None  # time.time() of the last durable upload

    async def restore(self) -> int:
        """Write every stored file into the state directory (parallel downloads); how many."""
        self._root.mkdir(parents=True, exist_ok=True)
        keys = [info.key for info in await self._store.list(PREFIX)]
        wanted = [key for key in keys if persisted(PurePosixPath(key[len(PREFIX) :]))]
        restored = await asyncio.gather(*(self._restore_one(key) for key in wanted))
        self.restored_files = sum(restored)
        return self.restored_files

    async def _restore_one(self, key: str) -> bool:
        async with self._limit:
            stored = await self._store.get(key)
        if stored is None:
            return False
        rel = PurePosixPath(key[len(PREFIX) :])
        await asyncio.to_thread(self._write_restored, rel, stored.body)
        self._uploaded[str(rel)] = hashlib.sha256(stored.body).hexdigest()
        return True

    def _write_restored(self, rel: PurePosixPath, body: bytes) -> None:
        target = self._root.joinpath(*rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        for suffix in SIDECARS:  # a stale WAL must never be replayed onto the restored database
            target.with_name(target.name + suffix).unlink(missing_ok=True)
        staging = target.with_name(target.name + ".restore.tmp")
        staging.write_bytes(body)
        staging.replace(target)

    def start(self) -> None:
        """Watch the directory and upload changes until `stop`."""
        self._root.mkdir(parents=True, exist_ok=True)
        logging.getLogger("watchfiles").setLevel(logging.WARNING)  # one line per change batch
        self._tasks = [
            asyncio.create_task(self._watch(), name="openclaw-sync-watch"),
            asyncio.create_task(self._drain(), name="openclaw-sync-upload"),
        ]

    async def stop(self) -> None:
        """Stop watching (call `sync_all` afterwards for the final flush)."""
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def sync_all(self) -> int:
        """Upload every persisted file that differs from the store; delete removed ones."""
        present = await asyncio.to_thread(persisted_files, self._root)
        gone = {PurePosixPath(rel) for rel in self._uploaded} - present
        return await self._sync_files(present | gone)  # files already: nothing to expand

    async def sync_paths(self, rels: Iterable[PurePosixPath]) -> int:
        """Upload (or delete) the given paths; return how many objects changed in the store."""
        return await self._sync_files(await asyncio.to_thread(self._expand, rels))

    async def _sync_files(self, rels: set[PurePosixPath]) -> int:
        wanted = {_database_of(rel) for rel in rels}
        results = await asyncio.gather(*(self._sync_one(rel) for rel in wanted if persisted(rel)))
        changed = sum(results)
        if changed:
            self.last_synced_at = time.time()
        return changed

    def _expand(self, rels: Iterable[PurePosixPath]) -> set[PurePosixPath]:
        # Files created in a brand-new directory before inotify watches it raise no event of
        # their own: a directory event stands for everything below it.
        out: set[PurePosixPath] = set()
        for rel in rels:
            if self._root.joinpath(*rel.parts).is_dir():
                out |= persisted_files(self._root, rel)
            else:
                out.add(rel)
        return out

    async def _sync_one(self, rel: PurePosixPath) -> bool:
        async with self._limit:
            path = self._root.joinpath(*rel.parts)
            # Readers (our own snapshots too) make inotify report the WAL as modified without
            # writing it: an unchanged size and mtime of the file and its WAL means no new data.
            taken_ns = time.time_ns()
            signature = _signature(path)
            if signature is not None and self._seen.get(str(rel)) == signature:
                return False
            settled = _settled(signature, taken_ns)
            body = await asyncio.to_thread(_read, path)
            key = PREFIX + str(rel)
            if body is None:
                if self._uploaded.pop(str(rel), None) is None:
                    return False
                await self._store.delete(key)
                return True
            digest = hashlib.sha256(body).hexdigest()
            if self._uploaded.get(str(rel)) == digest:
                if settled and signature is not None:
                    self._seen[str(rel)] = signature
                return False
            await self._store.put(key, body)
            self._uploaded[str(rel)] = digest
            if settled and signature is not None:
                self._seen[str(rel)] = signature
            self.uploads += 1
            return True

    async def _watch(self) -> None:
        async for changes in awatch(
            self._root, debounce=self._debounce_ms, step=50, stop_event=self._stop
        ):
            for _change, raw in changes:
                rel = PurePosixPath(Path(raw).relative_to(self._root).as_posix())
                # Readers touch `-shm` (our own snapshots included): it never holds data.
                # Directories land here too; reading one yields "absent", which uploads nothing.
                # Skipped trees (npm installs, caches) are dropped here, never expanded.
                if not in_skipped_tree(rel) and not rel.name.endswith("-shm"):
                    self._pending.add(rel)
            if self._pending:
                self._wake.set()

    async def _drain(self) -> None:
        # A full scan first (changes made before the watcher was registered), then on every
        # change batch; a periodic rescan (cheap: unchanged files are only stat'ed) covers
        # events inotify may drop, such as a queue overflow.
        # Uploads start at most once per debounce interval: a lone change is sent at once, a
        # busy gateway (a turn rewrites its SQLite WAL many times a second) costs one upload of
        # each changed file per interval instead of one per write.
        rescan = True
        last_batch = -self._debounce_ms / 1000
        while True:
            if not rescan:
                try:
                    await asyncio.wait_for(self._wake.wait(), self._rescan_s)
                except TimeoutError:
                    rescan = True
            await asyncio.sleep(max(0.0, last_batch + self._debounce_ms / 1000 - time.monotonic()))
            last_batch = time.monotonic()
            self._wake.clear()
            batch, self._pending = self._pending, set()
            # In-memory retries (the files stay on disk; a restart rescans): backoff from 1 s to
            # 30 s, with jitter, and changes made meanwhile wait for the next batch.
            async for attempt in stamina.retry_context(
                on=StoreError, attempts=None, timeout=None, wait_initial=1.0, wait_max=30.0
            ):
                with attempt:
                    try:
                        if rescan:
                            await self.sync_all()
                            rescan = False
                        await self.sync_paths(batch)
                    except StoreError as error:
                        log.warning(
                            "OpenClaw state upload failed (%s); retrying in %.1f s",
                            error,
                            attempt.next_wait,
                        )
                        raise
