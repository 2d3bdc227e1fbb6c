"""The state store seam: a small object-store Protocol with conditional writes.

Conditional puts carry the durability guarantees: `if_none_match=True` creates only if the key is
absent (S3 `If-None-Match: *`), `if_match=<etag>` replaces only the version the caller read
(`If-Match`). A lost race raises `PreconditionFailed`; callers decide how to retry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from agent.runtime.errors import StoreError


@dataclass(frozen=True, slots=True)
class StoredObject:
    """One object's body and the version tag a later `if_match` refers to."""

    key: str
    body: bytes
    etag: str


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """A listing entry."""

    key: str
    etag: str
    size: int


class StateStore(Protocol):
    """Where sessions, memory files and the workspace live."""

    async def get(self, key: str) -> StoredObject | None:
        """The object, or None if it does not exist."""
        ...

    async def put(
        self, key: str, body: bytes, *, if_none_match: bool = False, if_match: str | None = None
    ) -> str:
        """Write durably and return the new etag; raise PreconditionFailed on a lost race."""
        ...

    async def list(
        self, prefix: str, *, start_after: str | None = None, max_keys: int | None = None
    ) -> list[ObjectInfo]:
        """Objects whose key starts with `prefix`, in key order: only keys after `start_after`,
        at most `max_keys` of them (S3 ListObjectsV2 `StartAfter` / `MaxKeys`)."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error."""
        ...

    async def check(self) -> None:
        """Raise StoreError unless the backend is reachable (used by readiness)."""
        ...

    async def flush(self) -> None:
        """Push any buffered writes to durable storage (no-op for write-through backends)."""
        ...

    async def close(self) -> None:
        """Release clients and files."""
        ...


def etag_of(body: bytes) -> str:
    """The S3-style etag of a single-part object: its quoted MD5."""
    return '"' + hashlib.md5(body, usedforsecurity=False).hexdigest() + '"'


MAX_KEY_BYTES = 1024  # S3 and R2 object keys
MAX_SEGMENT_BYTES = 255  # a file name on the local backend (NAME_MAX)


def check_key(key: str) -> str:
    """Reject keys that could escape a prefix or a directory, or that no backend can store."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in {"", ".", ".."} for p in parts):
        raise StoreError(f"invalid state key {key!r}: use 'a/b/c' segments without '.' or '..'")
    if any(ord(char) < 0x20 or char == "\x7f" for char in key):
        raise StoreError(f"invalid state key {key!r}: control characters are not allowed")
    try:
        encoded = key.encode()
    except UnicodeEncodeError:
        raise StoreError(f"invalid state key {key!r}: not valid Unicode text") from None
    if len(encoded) > MAX_KEY_BYTES or any(len(p.encode()) > MAX_SEGMENT_BYTES for p in parts):
        raise StoreError(
            f"invalid state key {key[:64]!r}…: at most {MAX_KEY_BYTES} bytes, "
            f"{MAX_SEGMENT_BYTES} per segment"
        )
    return key
