"""Where a turn's replies go, so a job created during the turn reports back to the same place.

`AgentDeps` knows the channel and session of a turn but not the platform conversation (a
Telegram chat id, a Slack channel/thread) that the outbox needs. Whoever runs a turn on behalf of
a chat wraps it in `reply_origin(channel, conversation)`; the scheduling tools read it here.
Without it (web chat, API) the session id stands in: those channels deliver into the session.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Origin:
    """A channel and a conversation on it, as `Outbox.send` takes them."""

    channel: str
    conversation: str


_ORIGIN: ContextVar[Origin | None] = ContextVar("reply_origin", default=None)


@contextmanager
def reply_origin(channel: str, conversation: str) -> Iterator[Origin]:
    """Mark the turns run inside this block as answering `conversation` on `channel`."""
    origin = Origin(channel, conversation)
    token = _ORIGIN.set(origin)
    try:
        yield origin
    finally:
        _ORIGIN.reset(token)


def current_origin(channel: str, session_id: str) -> Origin:
    """The origin of the running turn on `channel`, else the session itself."""
    origin = _ORIGIN.get()
    if origin is not None and origin.channel == channel:
        return origin
    return Origin(channel, session_id)
