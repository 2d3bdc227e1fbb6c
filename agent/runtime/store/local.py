"""Local-directory backend for development: the same conditional semantics as R2, on a disk.

Creates are atomic with `link(2)` (fails if the name exists); replacements happen under an
exclusive `flock` on the store root so an If-Match check and its `rename(2)` cannot interleave with
another process. Every write is fsynced (file, then directory) before it returns.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import fcntl
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from agent.runtime.errors import PreconditionFailed, StoreError
from agent.runtime.store.base import ObjectInfo, StoredObject, check_key, etag_of

_TMP = ".tmp-"
_LOCK = ".lock"


class LocalDirStore:
    """A StateStore in a directory tree."""

    def __init__(self, root: Path, prefix: str = "") -> None:
        self._root = root
        self._prefix = prefix
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self._root / check_key(self._prefix + key)

    async def get(self, key: str) -> StoredObject | None:
        """The object, or None."""
        return await asyncio.to_thread(self._get, key)

    def _get(self, key: str) -> StoredObject | None:
        try:
            body = self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return StoredObject(key, body, etag_of(body))

    async def put(
        self, key: str, body: bytes, *, if_none_match: bool = False, if_match: str | None = None
    ) -> str:
        """Write durably; conditional as documented on StateStore."""
        return await asyncio.to_thread(self._put, key, body, if_none_match, if_match)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self._root / _LOCK, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _put(self, key: str, body: bytes, if_none_match: bool, if_match: str | None) -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f"{_TMP}{uuid.uuid4().hex}"
        with open(tmp, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            with self._locked():
                if if_none_match:
                    try:
                        os.link(tmp, path)
                    except FileExistsError:
                        raise PreconditionFailed(key) from None
                else:
                    if if_match is not None:
                        current = self._get(key)
                        if current is None or current.etag != if_match:
                            raise PreconditionFailed(key)
                    os.replace(tmp, path)
                _fsync_dir(path.parent)
        finally:
            tmp.unlink(missing_ok=True)
        return etag_of(body)

    async def list(
        self, prefix: str, *, start_after: str | None = None, max_keys: int | None = None
    ) -> list[ObjectInfo]:
        """Objects under `prefix`, in key order, after `start_after`, at most `max_keys`."""
        return await asyncio.to_thread(self._list, prefix, start_after, max_keys)

    def _list(
        self, prefix: str, start_after: str | None, max_keys: int | None
    ) -> builtins.list[ObjectInfo]:
        full = self._prefix + prefix
        after = self._prefix + start_after if start_after is not None else ""
        # Walk only the deepest directory the prefix names, not the whole tree.
        base = self._root / full.rsplit("/", 1)[0] if "/" in full else self._root
        keys: builtins.list[str] = []
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                if name.startswith(_TMP) or name == _LOCK:
                    continue
                rel = (Path(dirpath) / name).relative_to(self._root).as_posix()
                if rel.startswith(full) and rel > after:
                    keys.append(rel)
        keys.sort()
        found: builtins.list[ObjectInfo] = []
        for rel in keys[:max_keys] if max_keys is not None else keys:
            try:
                body = (self._root / rel).read_bytes()  # only the listed page is read
            except FileNotFoundError:
                continue
            found.append(ObjectInfo(rel[len(self._prefix) :], etag_of(body), len(body)))
        return found

    async def delete(self, key: str) -> None:
        """Remove the object if present."""
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    async def check(self) -> None:
        """The directory exists and is writable."""
        if not os.access(self._root, os.W_OK):
            raise StoreError(f"state directory {self._root} is not writable")

    async def flush(self) -> None:
        """Nothing is buffered."""

    async def close(self) -> None:
        """Nothing to release."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
