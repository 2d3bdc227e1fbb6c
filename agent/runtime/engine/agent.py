"""The one place the pydantic-ai Agent is assembled: model, instructions, toolsets, capabilities."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic_ai import Agent
from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.models import Model
from pydantic_ai.toolsets import AbstractToolset

from agent.runtime.engine.deps import AgentDeps

AgentToolset = AbstractToolset[AgentDeps]


def build_agent(
    model: Model,
    instructions: str,
    toolsets: Sequence[AgentToolset] = (),
    capabilities: Sequence[AbstractCapability[AgentDeps]] = (),
) -> Agent[AgentDeps, str]:
    """An agent whose tools receive `AgentDeps` through `RunContext`."""
    return Agent(
        model,
        deps_type=AgentDeps,
        output_type=str,
        instructions=instructions,
        toolsets=list(toolsets),
        capabilities=list(capabilities),
    )
