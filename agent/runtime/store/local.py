"""Local-directory backend for development: the same conditional semantics as R2, on a disk.

Creates are atomic with `link(2)` (fails if the name exists); replacements happen under an
exclusive `flock` on the store root so an If-Match check and its `rename(2)` cannot interleave with
another process. Every write is fsynced (file, then directory) before it returns.

No symbolic link is ever followed below the root: every path is walked one directory at a time
from a descriptor of the root with O_NOFOLLOW (`openat(2)`), so a link planted anywhere in a key's
path (`sessions -> /etc`) is refused with a StoreError, and cannot be swapped in between a check
and the use either, because there is no separate check. Listings skip links.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import errno
import fcntl
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

from agent.runtime.errors import PreconditionFailed, StoreError
from agent.runtime.store.base import ObjectInfo, StoredObject, check_key, etag_of

_TMP = ".tmp-"
_LOCK = ".lock"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class SymlinkRefused(StoreError):
    """A key's path runs through a symbolic link; the local store does not follow links."""

    def __init__(self, key: str) -> None:
        super().__init__(
            f"state key {key!r} runs through a symbolic link in the state directory; "
            "the local store never follows links: replace the link with a real directory or file"
        )


class LocalDirStore:
    """A StateStore in a directory tree."""

    def __init__(self, root: Path, prefix: str = "") -> None:
        self._root = root
        self._prefix = prefix
        root.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def _directory(self, key: str, parts: builtins.list[str], create: bool) -> Iterator[int]:
        """A descriptor of root/parts..., reached without following any link."""
        fd = os.open(self._root, _DIR_FLAGS)
        try:
            for part in parts:
                if create:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, dir_fd=fd)
                child = _open(key, part, _DIR_FLAGS, fd)
                os.close(fd)
                fd = child
            yield fd
        finally:
            os.close(fd)

    def _split(self, key: str) -> tuple[builtins.list[str], str]:
        *parents, name = check_key(self._prefix + key).split("/")
        if name == _LOCK or name.startswith(_TMP):
            raise StoreError(
                f"invalid state key {key!r}: names '{_LOCK}' and '{_TMP}*' are the local "
                "store's own files"
            )
        return parents, name

    async def get(self, key: str) -> StoredObject | None:
        """The object, or None."""
        return await asyncio.to_thread(self._get, key)

    def _get(self, key: str) -> StoredObject | None:
        parents, name = self._split(key)
        try:
            with self._directory(key, parents, create=False) as parent:
                body = _read(key, parent, name)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return None if body is None else StoredObject(key, body, etag_of(body))

    async def put(
        self, key: str, body: bytes, *, if_none_match: bool = False, if_match: str | None = None
    ) -> str:
        """Write durably; conditional as documented on StateStore."""
        return await asyncio.to_thread(self._put, key, body, if_none_match, if_match)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(
            self._root / _LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666
        )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _put(self, key: str, body: bytes, if_none_match: bool, if_match: str | None) -> str:
        parents, name = self._split(key)
        with self._directory(key, parents, create=True) as parent:
            tmp = f"{_TMP}{uuid.uuid4().hex}"
            with open(os.open(tmp, _CREATE_FLAGS, 0o666, dir_fd=parent), "wb") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                with self._locked():
                    if if_none_match:
                        try:
                            os.link(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)
                        except FileExistsError:
                            raise PreconditionFailed(key) from None
                    else:
                        if if_match is not None:
                            current = _read(key, parent, name)
                            if current is None or etag_of(current) != if_match:
                                raise PreconditionFailed(key)
                        os.replace(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)
                    os.fsync(parent)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp, dir_fd=parent)
        return etag_of(body)

    async def list(
        self, prefix: str, *, start_after: str | None = None, max_keys: int | None = None
    ) -> builtins.list[ObjectInfo]:
        """Objects under `prefix`, in key order, after `start_after`, at most `max_keys`."""
        return await asyncio.to_thread(self._list, prefix, start_after, max_keys)

    def _list(
        self, prefix: str, start_after: str | None, max_keys: int | None
    ) -> builtins.list[ObjectInfo]:
        full = self._prefix + prefix
        after = self._prefix + start_after if start_after is not None else ""
        # Walk only the deepest directory the prefix names, not the whole tree.
        base = full.rsplit("/", 1)[0] if "/" in full else ""
        parts = base.split("/") if base else []
        if any(part in {"", ".", ".."} for part in parts):
            return []  # no valid key has such a segment
        keys: builtins.list[str] = []
        try:
            with self._directory(full, parts, create=False) as top:
                for dirpath, _dirs, files, _dirfd in os.fwalk(dir_fd=top, follow_symlinks=False):
                    for name in files:
                        rel = os.path.normpath(os.path.join(base, dirpath, name))
                        if name.startswith(_TMP) or name == _LOCK or not rel.startswith(full):
                            continue
                        if rel > after:
                            keys.append(rel[len(self._prefix) :])
        except (FileNotFoundError, NotADirectoryError, SymlinkRefused):
            return []
        keys.sort()
        found: builtins.list[ObjectInfo] = []
        for key in keys:  # read (for the etag) only the page asked for
            if max_keys is not None and len(found) >= max_keys:
                break
            try:
                stored = self._get(key)
            except SymlinkRefused:
                continue  # a link is not an object of this store
            if stored is not None:
                found.append(ObjectInfo(key, stored.etag, len(stored.body)))
        return found

    async def delete(self, key: str) -> None:
        """Remove the object if present."""
        await asyncio.to_thread(self._delete, key)

    def _delete(self, key: str) -> None:
        parents, name = self._split(key)
        with (
            contextlib.suppress(FileNotFoundError, NotADirectoryError),
            self._directory(key, parents, create=False) as parent,
        ):
            os.unlink(name, dir_fd=parent)  # removes a link itself, never its target

    async def check(self) -> None:
        """The directory exists and is writable."""
        if not os.access(self._root, os.W_OK):
            raise StoreError(f"state directory {self._root} is not writable")

    async def flush(self) -> None:
        """Nothing is buffered."""

    async def close(self) -> None:
        """Nothing to release."""


def _open(key: str, name: str, flags: int, directory: int) -> int:
    """An O_NOFOLLOW open of `name` in `directory`; a link there is SymlinkRefused."""
    try:
        return os.open(name, flags, dir_fd=directory)
    except OSError as error:
        # Linux answers ELOOP for a link, or ENOTDIR when O_DIRECTORY met a link first.
        if error.errno == errno.ELOOP or (
            error.errno == errno.ENOTDIR
            and stat.S_ISLNK(os.stat(name, dir_fd=directory, follow_symlinks=False).st_mode)
        ):
            raise SymlinkRefused(key) from None
        raise


def _read(key: str, directory: int, name: str) -> bytes | None:
    """The file's bytes, or None if it does not exist; never through a link."""
    try:
        fd = _open(key, name, _READ_FLAGS, directory)
    except FileNotFoundError:
        return None
    with open(fd, "rb") as handle:
        return handle.read()
