"""Long histories and many sessions, stored fast and in exactly the runtime's own layout.

Turns are written by the runtime's own `SessionStore` (so whatever objects it writes beside the
turns, such as index entries or checkpoints, exist as they would after real use), over a
StateStore that keeps objects in memory; `publish` then puts them straight into moto's backend in
this process, skipping ~20 ms of HTTP per object on a loaded 2-core machine. Every turn is a
copy of one real turn the runtime stored (its engine messages included), with the prompt
changed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends

from agent.runtime.sessions import SessionStore, Turn
from agent.runtime.store.memory import MemoryStore

MARKER = "BENCH-TEMPLATE-PROMPT"
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class SeedStore(MemoryStore):
    """A StateStore in memory whose new objects `publish` copies into a moto bucket."""

    def __init__(self, bucket: str) -> None:
        super().__init__()
        self._bucket = bucket
        self._unpublished: list[str] = []

    async def put(
        self, key: str, body: bytes, *, if_none_match: bool = False, if_match: str | None = None
    ) -> str:
        etag = await super().put(key, body, if_none_match=if_none_match, if_match=if_match)
        self._unpublished.append(key)
        return etag

    def publish(self) -> int:
        """Copy the objects written since the last publish into the bucket; how many."""
        keys, self._unpublished = dict.fromkeys(self._unpublished), []
        return put_objects(self._bucket, {key: self.objects[key] for key in keys})


def put_objects(bucket: str, objects: dict[str, bytes]) -> int:
    """Store `objects` in a bucket of the moto server running in this process; how many."""
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
    for key, body in objects.items():
        backend.put_object(bucket, key, body)
    return len(objects)


class TurnFactory:
    """Copies of one stored turn (prompt `MARKER`) with other prompts, numbers and times."""

    def __init__(self, template: bytes) -> None:
        stored = json.loads(template)
        if MARKER not in stored["prompt"]:
            raise ValueError(f"the template turn's prompt must contain {MARKER!r}")
        self._text = json.dumps(stored)

    def turn(self, session_id: str, seq: int, when: datetime) -> Turn:
        text = self._text.replace(MARKER, f"message {seq} of {session_id}")
        data = json.loads(text)
        data.update(seq=seq, turn_id=f"seed-{session_id}-{seq}", created_at=when.isoformat())
        return Turn.model_validate(data)


async def seed_session(
    store: SeedStore, factory: TurnFactory, session_id: str, turns: int, start: datetime
) -> None:
    """Append `turns` turns to a new session through the runtime's own SessionStore."""
    sessions = SessionStore(store)
    for seq in range(1, turns + 1):
        draft = factory.turn(session_id, seq, start + timedelta(seconds=seq))
        async with sessions.open(session_id):
            await sessions.append(session_id, draft)
