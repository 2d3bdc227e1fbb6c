"""Expiry of attachments, `ATTACHMENT_RETENTION_DAYS` after each was last stored.

Every save of an attachment (web upload or channel file, agent/runtime/attachments.py) writes
`done-attachments/<YYYY-MM-DD>/attachments/<owner>/<sha256>.json` for that day and moves the
entry there when the same bytes are stored again, so the entry's day is the last time anyone sent
the file. The sweep (agent/runtime/retention.py, on the cron tick) deletes the bytes and any
transcript, then the description and the entry, once that day is older than the retention. Turns
keep the name, type and size, so a turn whose file expired still renders, with the file shown as
expired (`TurnView.attachments[].expired`, docs/attachments.md).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from agent.runtime.attachments import PREFIX, last_stored
from agent.runtime.retention import ATTACHMENTS_DONE_PREFIX, Retention
from agent.runtime.store.base import StateStore

TRANSCRIPT_SUFFIX = ".transcript.json"  # agent/runtime/transcription.py `transcript_key`


def _utcnow() -> datetime:
    return datetime.now(UTC)


def attachment_retention(
    store: StateStore, *, days: int, clock: Callable[[], datetime] = _utcnow
) -> Retention:
    """The sweep that expires attachments `days` after they were last stored."""
    retention = Retention(store, days=days, clock=clock, index=ATTACHMENTS_DONE_PREFIX)

    async def expire(meta_key: str) -> bool:
        if not meta_key.endswith(".json"):
            return False  # not an entry this module writes: keep
        last = await last_stored(store, meta_key)
        if last is not None and last >= retention.cutoff():
            # Stored again since (an entry a crash left behind): the newer entry decides.
            return False
        # The bytes and the transcript (agent/runtime/transcription.py) first; the sweep then
        # deletes the description and the entry, so a crash in between leaves a description
        # without bytes (shown as expired) that the next sweep deletes.
        base = meta_key.removesuffix(".json")
        await store.delete(base)
        await store.delete(f"{base}{TRANSCRIPT_SUFFIX}")
        return True

    retention.guard(PREFIX, expire)
    return retention
