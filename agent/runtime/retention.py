"""Expiry of finished write-once records, done by the runtime because a bucket rule cannot.

R2 object lifecycle rules select objects by key prefix (and age) only
(https://developers.cloudflare.com/r2/buckets/object-lifecycles/). Such a rule cannot tell a
delivered outbox message from one still pending under the same prefix, and cannot reach the
per-user subtrees (`users/<id>/...`) without covering everything in them. So each runtime
expires its own finished records, inside its own key prefix (shared or per-user alike):

    done/<YYYY-MM-DD>/<record key>   empty; written when that record finished, on that day (UTC)

`sweep` (run from the cron tick, at most once per `interval`) walks `done/` in key order, that
is oldest day first, and for each day older than the retention asks the record's guard whether
it is finished *now*. Only then are the record and its index entry deleted; a record that is
still pending, or whose kind has no guard, is never deleted. Each sweep examines at most
`batch` entries, so one tick stays short however much has piled up.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from agent.runtime.store.base import StateStore

log = logging.getLogger("agent.runtime.retention")

DONE_PREFIX = "done/"
# Attachments have their own index and retention (agent/runtime/attachment_retention.py).
ATTACHMENTS_DONE_PREFIX = "done-attachments/"
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# True when the record under this key is finished (or gone) and may be deleted.
Guard = Callable[[str], Awaitable[bool]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def done_key(record_key: str, finished_at: datetime, index: str = DONE_PREFIX) -> str:
    """The index entry saying `record_key` finished at `finished_at`."""
    return f"{index}{finished_at.date().isoformat()}/{record_key}"


async def mark_done(
    store: StateStore, record_key: str, finished_at: datetime, index: str = DONE_PREFIX
) -> None:
    """Index a finished record for expiry (idempotent: a repeat rewrites the same empty entry)."""
    await store.put(done_key(record_key, finished_at, index), b"")


@dataclass
class SweepReport:
    """What one sweep did."""

    deleted: int = 0
    kept_pending: int = 0


class Retention:
    """Deletes finished records once they are `days` old, never a pending one."""

    def __init__(
        self,
        store: StateStore,
        *,
        days: int,
        batch: int = 100,
        interval: timedelta = timedelta(hours=1),
        clock: Callable[[], datetime] = _utcnow,
        index: str = DONE_PREFIX,
    ) -> None:
        self._store = store
        self._index = index
        self.days = days
        self._batch = batch
        self._interval = interval
        self._clock = clock
        self._guards: dict[str, Guard] = {}
        self._last_sweep: datetime | None = None

    def cutoff(self) -> str:
        """The first day (YYYY-MM-DD) whose entries are kept: entries before it are due."""
        return (self._clock() - timedelta(days=self.days)).date().isoformat()

    def guard(self, key_prefix: str, is_finished: Guard) -> None:
        """Records under `key_prefix` expire only when `is_finished(key)` says so."""
        self._guards[key_prefix] = is_finished

    async def sweep_due(self) -> SweepReport | None:
        """Sweep unless one ran less than `interval` ago (cron ticks come every few minutes)."""
        moment = self._clock()
        if self._last_sweep is not None and moment - self._last_sweep < self._interval:
            return None
        report = await self.sweep()
        self._last_sweep = moment
        return report

    async def sweep(self) -> SweepReport:
        """Delete up to `batch` finished records older than the retention."""
        cutoff = self.cutoff()
        report = SweepReport()
        examined = 0
        for info in await self._store.list(self._index):
            day, _, record_key = info.key.removeprefix(self._index).partition("/")
            if not _DAY.match(day) or not record_key:
                continue
            if day >= cutoff or examined >= self._batch:
                break  # key order is day order: everything after is younger
            examined += 1
            if not await self._finished(record_key):
                report.kept_pending += 1
                continue
            # Record first: a crash in between leaves an entry whose record is gone, which the
            # next sweep finds finished and drops.
            await self._store.delete(record_key)
            await self._store.delete(info.key)
            report.deleted += 1
        if report.deleted or report.kept_pending:
            log.info(
                "retention: deleted %d finished record(s) older than %d days; %d still pending",
                report.deleted,
                self.days,
                report.kept_pending,
            )
        return report

    async def _finished(self, record_key: str) -> bool:
        guard = next((g for p, g in self._guards.items() if record_key.startswith(p)), None)
        if guard is None:
            return False  # a kind nobody vouches for is kept
        try:
            return await guard(record_key)
        except ValueError as error:  # unreadable record: keep it rather than guess
            log.warning("retention: keeping %s: %s", record_key, error)
            return False
