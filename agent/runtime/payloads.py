"""Request and response bodies of the HTTP and WebSocket API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_ai.messages import (
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    ToolCallPart,
    ToolReturnPart,
)

from agent.runtime.attachments import AttachmentInfo
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
    # Ids from POST /api/attachments (at most AGENT_ATTACHMENT_MAX_PER_MESSAGE, checked per turn).
    attachments: list[str] = Field(default_factory=list, max_length=20)


class WsChatFrame(ChatRequest):
    """A chat message over the WebSocket."""

    type: Literal["chat"]


class WsStopFrame(BaseModel):
    """Stop the turn being generated on this socket (only that one, when `turn_id` is given)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["stop"]
    turn_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,128}$")


# Tool arguments and results are shown, not replayed: a fetched page can be megabytes.
TOOL_TEXT_LIMIT = 4_000


def clip(text: str, limit: int = TOOL_TEXT_LIMIT) -> str:
    """`text`, cut to `limit` characters with a note of how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n… ({len(text) - limit} more characters)"


class ToolView(BaseModel):
    """One tool call of a turn: what the model asked for and what came back."""

    call_id: str
    name: str
    args: str
    result: str | None = None
    ok: bool | None = None

    @classmethod
    def all_of(cls, messages: list[Any]) -> list[ToolView]:
        """The tool calls recorded in a turn's engine messages, in call order."""
        calls: dict[str, ToolView] = {}
        for message in ModelMessagesTypeAdapter.validate_python(messages):
            for part in message.parts:
                if isinstance(message, ModelResponse) and isinstance(part, ToolCallPart):
                    calls[part.tool_call_id] = cls(
                        call_id=part.tool_call_id,
                        name=part.tool_name,
                        args=clip(part.args_as_json_str()),
                    )
                elif isinstance(message, ModelRequest) and isinstance(
                    part, ToolReturnPart | RetryPromptPart
                ):
                    call = calls.get(part.tool_call_id)
                    if call is not None:
                        text = (
                            part.model_response()
                            if isinstance(part, RetryPromptPart)
                            else part.model_response_str()
                        )
                        call.result = clip(text)
                        call.ok = isinstance(part, ToolReturnPart) and part.outcome == "success"
        return list(calls.values())


class ChatReply(BaseModel):
    """A reply, sent only after its turn is durably stored."""

    session_id: str
    seq: int
    turn_id: str
    reply: str
    model: str
    offline: bool
    created_at: datetime
    # The message's attachments as the turn keeps them (audio with its transcript), and the
    # files the agent sent back (tools/send_file.py).
    attachments: list[AttachmentInfo] = Field(default_factory=list)
    files: list[AttachmentInfo] = Field(default_factory=list)

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
            attachments=turn.attachments,
            files=turn.files,
        )


class AttachmentView(AttachmentInfo):
    """An attachment as a stored turn shows it; `expired` once retention deleted the file."""

    expired: bool = False


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
    tools: list[ToolView] = Field(default_factory=list)
    attachments: list[AttachmentView] = Field(default_factory=list)
    files: list[AttachmentInfo] = Field(default_factory=list)  # sent back by the agent

    @classmethod
    def of(cls, turn: Turn) -> TurnView:
        """The view of a stored turn, with the tool calls its messages record."""
        view = cls.model_validate(turn, from_attributes=True)
        view.tools = ToolView.all_of(turn.messages)
        return view


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
    # The message's files, stored before this record was (agent/runtime/channels/files.py), and
    # the ones refused (too large, unreadable type...), told to the sender instead of a turn.
    attachments: list[AttachmentInfo] = Field(default_factory=list)
    refused: list[str] = Field(default_factory=list)
