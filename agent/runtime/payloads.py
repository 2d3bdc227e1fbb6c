"""Request and response bodies of the HTTP and WebSocket API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.runtime.sessions import SESSION_ID, Turn

SessionId = Field(default=None, pattern=SESSION_ID.pattern, examples=["trip-planning"])
MAX_MESSAGE_CHARS = 32_000


class ChatRequest(BaseModel):
    """Send one message; without `session_id` a new session starts."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    session_id: str | None = SessionId
    # Idempotency key: resending the same turn_id returns the stored turn instead of a new one.
    turn_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,128}$")


class WsChatFrame(ChatRequest):
    """A chat message over the WebSocket."""

    type: Literal["chat"]


class ChatReply(BaseModel):
    """A reply, sent only after its turn is durably stored."""

    session_id: str
    seq: int
    turn_id: str
    reply: str
    model: str
    offline: bool
    created_at: datetime

    @classmethod
    def of(cls, session_id: str, turn: Turn, offline: bool) -> ChatReply:
        """The reply view of a stored turn."""
        return cls(
            session_id=session_id,
            seq=turn.seq,
            turn_id=turn.turn_id,
            reply=turn.reply,
            model=turn.model,
            offline=offline,
            created_at=turn.created_at,
        )


class TurnView(BaseModel):
    """A stored turn as the API shows it (without the engine's raw messages)."""

    seq: int
    turn_id: str
    user: str
    channel: str
    created_at: datetime
    prompt: str
    reply: str
    model: str


class CronTick(BaseModel):
    """A scheduled tick forwarded by the Worker's cron trigger."""

    model_config = ConfigDict(extra="forbid")

    cron: str = Field(min_length=1, max_length=128, examples=["*/5 * * * *"])
    scheduled_time: datetime = Field(examples=["2026-11-26T21:00:00Z"])


class WebhookEnvelope(BaseModel):
    """An inbound channel event as recorded before any handler sees it."""

    channel: str
    request_id: str
    received_at: datetime
    payload: dict[str, Any]
