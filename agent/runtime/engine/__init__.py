"""Engines behind the runtime's HTTP service, chosen by AGENT_ENGINE in `create_engine`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, assert_never

from agent.runtime.engine.base import (
    Engine,
    EngineEvent,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolResult,
    TurnOutcome,
)
from agent.runtime.engine.deps import AgentDeps
from agent.runtime.errors import ConfigError
from agent.runtime.settings import RuntimeSettings

if TYPE_CHECKING:
    from agent.runtime.engine.agent import AgentToolset

__all__ = [
    "AgentDeps",
    "Engine",
    "EngineEvent",
    "StreamEvent",
    "TextDelta",
    "ToolCall",
    "ToolResult",
    "TurnOutcome",
    "create_engine",
]


def create_engine(settings: RuntimeSettings, toolsets: Sequence[AgentToolset] = ()) -> Engine:
    """The configured engine with the given toolsets."""
    match settings.agent_engine:
        case "native":
            from agent.runtime.engine.models import build_model
            from agent.runtime.engine.native import NativeEngine

            job_model = settings.agent_job_model if not settings.is_offline else None
            return NativeEngine(
                build_model(settings),
                label=settings.agent_model,
                job_model=build_model(settings, job_model) if job_model else None,
                job_label=job_model,
                routed=settings.agent_model_route is not None,
                offline=settings.is_offline,
                instructions=settings.agent_instructions,
                toolsets=toolsets,
                context_tokens=settings.agent_context_tokens,
            )
        case "openclaw":
            # The OpenClaw gateway runs its own turns; create_app fronts it with
            # agent.runtime.openclaw.app instead of running an in-process engine.
            raise ConfigError(
                "AGENT_ENGINE: 'openclaw' has no in-process turn engine; the runtime serves it "
                "through create_app, which proxies to the supervised gateway "
                "(example: AGENT_ENGINE=native for the pydantic-ai engine)"
            )
        case _:
            assert_never(settings.agent_engine)
