"""The native engine: a pydantic-ai agent in this process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Any

from pydantic_ai import AgentRunResultEvent
from pydantic_ai.messages import (
    FunctionToolCallEvent,
    FunctionToolResultEvent,
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelResponse,
    PartDeltaEvent,
    PartStartEvent,
    TextPart,
    TextPartDelta,
)
from pydantic_ai.models import Model

from agent.runtime.attachments import user_content
from agent.runtime.engine.agent import AgentToolset, build_agent
from agent.runtime.engine.base import EngineEvent, TextDelta, ToolCall, ToolResult, TurnOutcome
from agent.runtime.engine.context import ContextManager, context_budget
from agent.runtime.engine.deps import AgentDeps
from agent.runtime.errors import EngineError
from agent.runtime.sessions import SessionWindow


class NativeEngine:
    """Runs turns with pydantic-ai over the session window, within a token budget."""

    def __init__(
        self,
        model: Model,
        *,
        label: str,
        offline: bool,
        instructions: str,
        toolsets: Sequence[AgentToolset] = (),
        context_tokens: int | None = None,
        job_model: Model | None = None,
        job_label: str | None = None,
        routed: bool = False,
    ) -> None:
        self._model = model
        # Scheduled jobs and compaction summaries may use a cheaper model (AGENT_JOB_MODEL).
        self._job_model = job_model
        self._job_label = job_label
        self._routed = routed
        self.context = ContextManager(
            model,
            budget=context_budget(context_tokens, model),
            label=job_label if job_model is not None and job_label else label,
            summary_model=job_model,
        )
        self._agent = build_agent(model, instructions, toolsets, [self.context.capability()])
        self._label = label
        self._offline = offline

    @property
    def model_label(self) -> str:
        """The AGENT_MODEL value answering."""
        return self._label

    @property
    def offline(self) -> bool:
        """Whether the built-in offline model answers."""
        return self._offline

    async def start(self) -> None:
        """Nothing to warm: the model client connects on first use."""

    async def close(self) -> None:
        """Close the provider's HTTP client (connections to AI Gateway)."""
        for model in (self._model, self._job_model):
            closer = getattr(getattr(model, "client", None), "close", None)
            if closer is not None:
                await closer()

    async def turn(
        self, session: SessionWindow, prompt: str, deps: AgentDeps
    ) -> AsyncIterator[EngineEvent]:
        """Stream text deltas and tool calls, then the outcome with this turn's new messages."""
        # The context manager (a history processor) replaces this history with the budgeted
        # request before each model call; passing the window's turns keeps new_messages() right.
        past = self.context.history(session)
        run_deps = replace(deps, session=session)
        job = deps.job is not None and self._job_model is not None
        sees_images = deps.settings.agent_model_images or self._offline
        content = user_content(
            prompt,
            deps.attachments,
            sees_images=sees_images,
            max_chars=deps.settings.agent_attachment_text_chars,
        )
        async with self._agent.run_stream_events(
            content,
            message_history=past,
            deps=run_deps,
            model=self._job_model if job else None,
        ) as events:
            async for event in events:
                if isinstance(event, PartStartEvent) and isinstance(event.part, TextPart):
                    if event.part.content:
                        yield TextDelta(event.part.content)
                elif isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
                    if event.delta.content_delta:
                        yield TextDelta(event.delta.content_delta)
                elif isinstance(event, FunctionToolCallEvent):
                    part = event.part
                    yield ToolCall(part.tool_call_id, part.tool_name, part.args_as_json_str())
                elif isinstance(event, FunctionToolResultEvent):
                    done = event.part
                    yield ToolResult(
                        done.tool_call_id,
                        done.tool_name,
                        done.model_response_str(),
                        ok=done.outcome == "success",
                    )
                elif isinstance(event, AgentRunResultEvent):
                    result = event.result
                    messages: list[Any] = ModelMessagesTypeAdapter.dump_python(
                        result.new_messages(), mode="json"
                    )
                    yield TurnOutcome(
                        reply=str(result.output),
                        messages=messages,
                        model=self._job_label if job else self._answered(result.new_messages()),
                    )
                    return
        raise EngineError("the agent run ended without a result")

    def _answered(self, messages: Sequence[ModelMessage]) -> str | None:
        """Through the fallback route: the model the gateway says answered (the last response's)."""
        if not self._routed:
            return None
        for message in reversed(messages):
            if isinstance(message, ModelResponse) and message.model_name:
                return message.model_name
        return None
