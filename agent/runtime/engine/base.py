"""The engine seam: whatever produces replies (pydantic-ai natively, later OpenClaw) sits here.

An engine turns (history, prompt) into a stream of text deltas ending with one `TurnOutcome`. It
never writes state: the chat service stores the outcome durably before anyone is told the reply.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from agent.runtime.engine.deps import AgentDeps
from agent.runtime.sessions import SessionWindow


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the reply as it is generated."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The model called a tool; it runs now. `args` is the call's JSON text."""

    call_id: str
    name: str
    args: str


@dataclass(frozen=True, slots=True)
class ToolResult:
    """A tool call finished: what goes back to the model, and whether the tool succeeded."""

    call_id: str
    name: str
    content: str
    ok: bool


@dataclass(frozen=True, slots=True)
class TurnOutcome:
    """The finished reply and the engine's serialized messages for this turn."""

    reply: str
    messages: list[Any]
    # Which model answered, when it differs from the engine's label (a job model, a fallback).
    model: str | None = None


# What a turn shows while it runs (the WebSocket streams these), then its one outcome.
StreamEvent = TextDelta | ToolCall | ToolResult
EngineEvent = StreamEvent | TurnOutcome


class Engine(Protocol):
    """A reply generator behind the runtime's HTTP service."""

    @property
    def model_label(self) -> str:
        """What answers, e.g. `offline` or `openai:gpt-5-mini`, shown with every reply."""
        ...

    @property
    def offline(self) -> bool:
        """True when replies come from the built-in deterministic model."""
        ...

    async def start(self) -> None:
        """Get ready to answer (readiness waits for this)."""
        ...

    def turn(
        self, session: SessionWindow, prompt: str, deps: AgentDeps
    ) -> AsyncIterator[EngineEvent]:
        """Stream one turn: TextDelta, ToolCall and ToolResult events, then one TurnOutcome.

        `session` is the window the engine may compact (`SessionWindow.compact`); it holds the
        session's summary and the turns after it, never the whole history.
        """
        ...

    async def close(self) -> None:
        """Release clients and subprocesses."""
        ...
