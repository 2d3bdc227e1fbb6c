"""`Runtime`: what route handlers reach through `request.app.state.runtime`, and `runtime_of`.

`app.py` builds one in its lifespan and the routes read it; both depend on this module, which
depends on neither.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from starlette.requests import Request

from agent.runtime.channels import ChannelHub
from agent.runtime.errors import RequestError
from agent.runtime.outbox import Outbox
from agent.runtime.service import ChatService
from agent.runtime.settings import RuntimeSettings
from agent.runtime.store import StateStore
from agent.runtime.tools import Tools


@dataclass
class Runtime:
    """What route handlers reach through `request.app.state.runtime`."""

    settings: RuntimeSettings
    store: StateStore
    service: ChatService
    tools: Tools
    ready: bool = False
    draining: bool = False
    not_ready_reason: str = "starting"
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    channels: ChannelHub | None = None
    outbox: Outbox | None = None


def runtime_of(request: Request) -> Runtime:
    """The app's runtime, refusing new work while not ready or shutting down."""
    runtime: Runtime = request.app.state.runtime
    if runtime.draining:
        raise RequestError(503, "shutting down", "retry: the edge will start a new sandbox")
    if not runtime.ready:
        raise RequestError(503, f"not ready: {runtime.not_ready_reason}", "retry shortly")
    return runtime
