"""The periodic-sync design Moltworker uses, kept only as a measured counter-example.

Writes land in memory, are acknowledged at once, and reach the inner store every `interval`
seconds (Moltworker runs rclone to R2 every 30 s). A process killed between syncs loses every
acknowledged write since the last one. Selected with STATE_SYNC_MODE=periodic; the benchmark runs
it under the same kill schedule as write-through to count the loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from agent.runtime.errors import PreconditionFailed
from agent.runtime.store.base import ObjectInfo, StateStore, StoredObject, etag_of

log = logging.getLogger(__name__)
_TRANSFERS = 8  # parallel uploads per sync, like rclone's --transfers


class PeriodicSyncStore:
    """Buffers writes in memory and copies them to `inner` on a timer."""

    def __init__(self, inner: StateStore, interval: float) -> None:
        self._inner = inner
        self._interval = interval
        self._pending: dict[str, bytes | None] = {}  # None marks a pending delete
        self._task: asyncio.Task[None] | None = None

    def _ensure_timer(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._sync_forever())

    async def _sync_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except Exception:
                log.exception("periodic sync failed; retrying next interval")

    async def get(self, key: str) -> StoredObject | None:
        """The buffered version if any, else the inner store's."""
        if key in self._pending:
            body = self._pending[key]
            return None if body is None else StoredObject(key, body, etag_of(body))
        return await self._inner.get(key)

    async def put(
        self, key: str, body: bytes, *, if_none_match: bool = False, if_match: str | None = None
    ) -> str:
        """Buffer the write; conditions are checked against what this process can see."""
        self._ensure_timer()
        if if_none_match or if_match is not None:
            current = await self.get(key)
            if if_none_match and current is not None:
                raise PreconditionFailed(key)
            if if_match is not None and (current is None or current.etag != if_match):
                raise PreconditionFailed(key)
        self._pending[key] = body
        return etag_of(body)

    async def list(
        self, prefix: str, *, start_after: str | None = None, max_keys: int | None = None
    ) -> list[ObjectInfo]:
        """The inner listing overlaid with buffered writes."""
        buffered = [key for key in self._pending if key.startswith(prefix)]
        # Buffered deletes can hide inner keys: ask for enough to still fill the page.
        inner_max = None if max_keys is None else max_keys + len(buffered)
        inner = await self._inner.list(prefix, start_after=start_after, max_keys=inner_max)
        merged = {info.key: info for info in inner}
        for key in buffered:
            body = self._pending[key]
            if start_after is not None and key <= start_after:
                continue
            if body is None:
                merged.pop(key, None)
            else:
                merged[key] = ObjectInfo(key, etag_of(body), len(body))
        found = [merged[key] for key in sorted(merged)]
        return found if max_keys is None else found[:max_keys]

    async def delete(self, key: str) -> None:
        """Buffer the delete."""
        self._ensure_timer()
        self._pending[key] = None

    async def check(self) -> None:
        """Readiness of the inner store."""
        await self._inner.check()

    async def flush(self) -> None:
        """Copy every buffered write to the inner store."""
        batch, self._pending = self._pending, {}
        gate = asyncio.Semaphore(_TRANSFERS)

        async def copy(key: str, body: bytes | None) -> None:
            async with gate:
                if body is None:
                    await self._inner.delete(key)
                else:
                    await self._inner.put(key, body)

        try:
            await asyncio.gather(*(copy(key, body) for key, body in batch.items()))
        except BaseException:
            # Keep what did not make it (newer buffered writes win).
            self._pending = {**batch, **self._pending}
            raise

    async def close(self) -> None:
        """Stop the timer, sync once more, close the inner store."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
        await self._inner.close()
