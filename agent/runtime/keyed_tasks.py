"""Background tasks keyed by name: at most one running per key, all stopped together.

The channel inbox (one task per webhook record) and the outbox (one per message) both use it:
the key makes resuming idempotent, and closing cancels the work, which stays durable in the
store for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any


class KeyedTasks:
    """Tasks by key; once closed, nothing new starts."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._closed = False

    def spawn(
        self, key: str, work: Coroutine[Any, Any, None], *, name: str
    ) -> asyncio.Task[None] | None:
        """Run `work` as task `name` unless closed or `key` is already running (then drop it)."""
        if self._closed or key in self._tasks:
            work.close()
            return None
        task: asyncio.Task[None] = asyncio.create_task(work, name=name)
        self._tasks[key] = task
        task.add_done_callback(lambda _t: self._tasks.pop(key, None))
        return task

    async def close(self) -> None:
        """Cancel every task and wait for each to end."""
        self._closed = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def idle(self) -> None:
        """Wait until no task runs (including tasks started meanwhile)."""
        while self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
