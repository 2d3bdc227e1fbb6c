"""`WriteClock`: a pass-through StateStore that remembers when the last write returned.

With write-through backends a returned put or delete is durable (in R2 or on local disk), so
`last_write_at` is the time of the last durable write that `GET /api/state` reports. The app wraps
its store once (`watch_writes`) at startup.
"""

from __future__ import annotations

from datetime import UTC, datetime

from agent.runtime.store.base import ObjectInfo, StateStore, StoredObject


class WriteClock:
    """A StateStore that delegates everything and remembers when the last write returned."""

    def __init__(self, inner: StateStore) -> None:
        self.inner = inner
        self.last_write_at: datetime | None = None

    async def get(self, key: str) -> StoredObject | None:
        return await self.inner.get(key)

    async def put(
        self, key: str, body: bytes, *, if_none_match: bool = False, if_match: str | None = None
    ) -> str:
        etag = await self.inner.put(key, body, if_none_match=if_none_match, if_match=if_match)
        self.last_write_at = datetime.now(UTC)
        return etag

    async def list(
        self, prefix: str, *, start_after: str | None = None, max_keys: int | None = None
    ) -> list[ObjectInfo]:
        return await self.inner.list(prefix, start_after=start_after, max_keys=max_keys)

    async def delete(self, key: str) -> None:
        await self.inner.delete(key)
        self.last_write_at = datetime.now(UTC)

    async def check(self) -> None:
        await self.inner.check()

    async def flush(self) -> None:
        await self.inner.flush()

    async def close(self) -> None:
        await self.inner.close()


def watch_writes(store: StateStore) -> StateStore:
    """`store`, wrapped so that /api/state can report its last durable write."""
    return store if isinstance(store, WriteClock) else WriteClock(store)
