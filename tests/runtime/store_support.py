"""Test stores: an in-memory StateStore with the backends' conditional semantics, and a wrapper
that counts reads and writes."""

from __future__ import annotations

from agent.runtime.errors import PreconditionFailed
from agent.runtime.store.base import ObjectInfo, StateStore, StoredObject, etag_of


class MemoryStore:
    """A StateStore in a dict (fast enough to hold sessions of thousands of turns)."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    async def get(self, key: str) -> StoredObject | None:
        body = self.objects.get(key)
        return None if body is None else StoredObject(key, body, etag_of(body))

    async def put(
        self, key: str, body: bytes, *, if_none_match: bool = False, if_match: str | None = None
    ) -> str:
        current = self.objects.get(key)
        if if_none_match and current is not None:
            raise PreconditionFailed(key)
        if if_match is not None and (current is None or etag_of(current) != if_match):
            raise PreconditionFailed(key)
        self.objects[key] = body
        return etag_of(body)

    async def list(
        self, prefix: str, *, start_after: str | None = None, max_keys: int | None = None
    ) -> list[ObjectInfo]:
        keys = sorted(k for k in self.objects if k.startswith(prefix) and k > (start_after or ""))
        return [ObjectInfo(k, etag_of(self.objects[k]), len(self.objects[k])) for k in keys][
            :max_keys
        ]

    async def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    async def check(self) -> None:
        return None

    async def flush(self) -> None:
        return None

    async def close(self) -> None:
        return None


class CountingStore:
    """Counts storage reads (get and list calls) and writes, delegating everything."""

    def __init__(self, inner: StateStore) -> None:
        self.inner = inner
        self.reads: list[str] = []
        self.writes: list[str] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def get(self, key: str) -> StoredObject | None:
        self.reads.append(f"get {key}")
        return await self.inner.get(key)

    async def list(
        self, prefix: str, *, start_after: str | None = None, max_keys: int | None = None
    ) -> list[ObjectInfo]:
        self.reads.append(f"list {prefix}")
        return await self.inner.list(prefix, start_after=start_after, max_keys=max_keys)

    async def put(
        self, key: str, body: bytes, *, if_none_match: bool = False, if_match: str | None = None
    ) -> str:
        self.writes.append(key)
        return await self.inner.put(key, body, if_none_match=if_none_match, if_match=if_match)
