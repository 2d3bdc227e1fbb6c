"""One page of a session's turns, reading only that page's turn objects.

Turn keys are `sessions/<id>/<seq:08d>.json` with no gaps (agent.runtime.sessions), so the keys of
turns `before - limit .. before - 1` are computed, not listed. The newest turn number, needed for
the default (newest) page, is found with O(log n) one-key listings (StartAfter + MaxKeys 1).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from agent.runtime.sessions import Turn, turn_key
from agent.runtime.store.base import StateStore

_TURN_NAME = re.compile(r"^([0-9]{8})\.json$")
_READ_CONCURRENCY = 16


@dataclass(frozen=True, slots=True)
class TurnPage:
    """Turns `before - limit .. before - 1` in order, and the `before` of the older page."""

    turns: list[Turn]
    older: int | None


async def latest_seq(store: StateStore, session_id: str) -> int:
    """The highest turn number, in O(log n) one-key listings (no turn object is read)."""
    prefix = f"sessions/{session_id}/"

    async def first_from(seq: int) -> int | None:
        after = f"{prefix}{seq - 1:08d}.json" if seq > 1 else None
        infos = await store.list(prefix, start_after=after, max_keys=1)
        # Turn names are digits, which sort before any other object under the prefix.
        found = _TURN_NAME.match(infos[0].key[len(prefix) :]) if infos else None
        return int(found.group(1)) if found else None

    if await first_from(1) is None:
        return 0
    low, high = 1, 2  # a turn >= low exists; find a high with none (sequences have no gaps)
    while (seen := await first_from(high)) is not None:
        low, high = seen, seen * 2
    while high - low > 1:
        middle = (low + high) // 2
        if await first_from(middle) is None:
            high = middle
        else:
            low = middle
    return low


async def read_turns(
    store: StateStore, session_id: str, before: int | None, limit: int
) -> TurnPage:
    """One page of a session's turns, newest page by default, reading only its turn objects."""
    end = (await latest_seq(store, session_id) + 1) if before is None else before
    start = max(1, end - limit)
    gate = asyncio.Semaphore(_READ_CONCURRENCY)

    async def fetch(seq: int) -> Turn | None:
        async with gate:
            obj = await store.get(turn_key(session_id, seq))
        return None if obj is None else Turn.model_validate_json(obj.body)

    loaded = await asyncio.gather(*(fetch(seq) for seq in range(start, end)))
    turns = [turn for turn in loaded if turn is not None]
    return TurnPage(turns, start if start > 1 and turns else None)
