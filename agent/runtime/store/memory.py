"""A StateStore held in memory: the contract's reference semantics without any I/O.

Conditional writes as R2 makes them (`if_none_match`, `if_match`), listings in key order with
`start_after` / `max_keys` served from a sorted key list, so a listing costs what it returns.
Tests and benchmarks use it where the store is not the subject (sessions of thousands of turns);
nothing in the runtime selects it.
"""

from __future__ import annotations

import bisect

from agent.runtime.errors import PreconditionFailed
from agent.runtime.store.base import ObjectInfo, StoredObject, check_key, etag_of


class MemoryStore:
    """A StateStore in a dict, with its keys kept sorted for listings."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self._keys: list[str] = []

    def seed(self, key: str, body: bytes) -> None:
        """Store `body` at `key` at once (no conditions): for filling a store before a test."""
        if key not in self.objects:
            bisect.insort(self._keys, key)
        self.objects[key] = body

    async def get(self, key: str) -> StoredObject | None:
        body = self.objects.get(check_key(key))
        return None if body is None else StoredObject(key, body, etag_of(body))

    async def put(
        self, key: str, body: bytes, *, if_none_match: bool = False, if_match: str | None = None
    ) -> str:
        current = self.objects.get(check_key(key))
        if if_none_match and current is not None:
            raise PreconditionFailed(key)
        if if_match is not None and (current is None or etag_of(current) != if_match):
            raise PreconditionFailed(key)
        if current is None:
            bisect.insort(self._keys, key)
        self.objects[key] = body
        return etag_of(body)

    async def list(
        self, prefix: str, *, start_after: str | None = None, max_keys: int | None = None
    ) -> list[ObjectInfo]:
        start = bisect.bisect_left(self._keys, prefix)
        if start_after is not None:
            start = max(start, bisect.bisect_right(self._keys, start_after))
        found: list[ObjectInfo] = []
        for key in self._keys[start:]:
            if not key.startswith(prefix) or (max_keys is not None and len(found) >= max_keys):
                break
            body = self.objects[key]
            found.append(ObjectInfo(key, etag_of(body), len(body)))
        return found

    async def delete(self, key: str) -> None:
        if self.objects.pop(check_key(key), None) is not None:
            del self._keys[bisect.bisect_left(self._keys, key)]

    async def check(self) -> None:
        return None

    async def flush(self) -> None:
        return None

    async def close(self) -> None:
        return None
