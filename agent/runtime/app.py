"""The runtime's ASGI app: `create_app(settings, deps)` wires the store, engine and routes.

The lifespan opens clients and closes them; readiness (`/readyz`) turns true once the engine has
started, the state store answered one authenticated call, and a cold session's restore path
(checkpoint listing and read) worked once. No session is read at startup: sessions restore lazily
on first use from a checkpoint in a constant number of reads, so readiness does not grow with
stored state and a ready sandbox can take a turn in any session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
import stamina
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from agent.runtime.channels import open_channels
from agent.runtime.edge_auth import EdgeTokenMiddleware
from agent.runtime.engine import Engine, create_engine
from agent.runtime.errors import RuntimeHostError, StoreError
from agent.runtime.http import problem_response
from agent.runtime.routes import (
    attachments,
    channels,
    chat,
    health,
    inbound,
    jobs,
    memory,
    openapi,
    state,
    ui,
    usage,
    ws,
)
from agent.runtime.runtime_state import Runtime
from agent.runtime.service import ChatService
from agent.runtime.sessions import SessionStore, cache_budget
from agent.runtime.settings import RuntimeSettings
from agent.runtime.store import StateStore, open_store
from agent.runtime.store.clock import watch_writes
from agent.runtime.tools import open_tools

if TYPE_CHECKING:
    from agent.runtime.engine.agent import AgentToolset

log = logging.getLogger("agent.runtime")


@dataclass
class AppDeps:
    """Collaborators to inject instead of building them from settings (tests, later issues)."""

    store: StateStore | None = None
    engine: Engine | None = None
    toolsets: Sequence[AgentToolset] = ()
    http: httpx.AsyncClient | None = None


def create_app(settings: RuntimeSettings, deps: AppDeps | None = None) -> Starlette:
    """The runtime service for these settings."""
    deps = deps or AppDeps()
    if settings.agent_engine == "openclaw":
        # The gateway answers turns, channels and its UI itself; the runtime fronts it.
        from agent.runtime.openclaw.app import create_openclaw_app

        return create_openclaw_app(settings, deps.store)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = watch_writes(deps.store or open_store(settings))
        http = deps.http or httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0))
        tools = open_tools(settings, store)
        engine = deps.engine or create_engine(settings, deps.toolsets or tools.toolsets)
        sessions = SessionStore(store, cache_budget(settings.agent_session_cache_bytes))
        service = ChatService(settings, store, sessions, engine, http)
        runtime = Runtime(settings=settings, store=store, service=service, tools=tools)
        app.state.runtime = runtime
        hub = open_channels(settings, store, service, http)
        runtime.channels, runtime.outbox = hub, hub.outbox
        await hub.start()
        warmup = asyncio.create_task(_become_ready(runtime, engine, store))
        mcp_check = asyncio.create_task(tools.mcp.check())  # statuses before the first turn
        try:
            yield
        finally:
            runtime.draining = True
            runtime.ready = False
            warmup.cancel()
            mcp_check.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await warmup
            with contextlib.suppress(asyncio.CancelledError):
                await mcp_check
            await hub.close()
            await tools.close()
            await engine.close()
            try:
                await store.flush()
            finally:
                await store.close()
                if deps.http is None:
                    await http.aclose()
            log.info("runtime stopped; state flushed")

    async def on_error(_request: Request, error: Exception) -> Response:
        return problem_response(error)

    return Starlette(
        routes=[
            *health.routes,
            *chat.routes,
            *attachments.routes,
            *ws.routes,
            *inbound.routes,
            *channels.routes,
            *memory.routes,
            *jobs.routes,
            *state.routes,
            *openapi.routes,
            *usage.routes,
            *ui.routes,
        ],
        middleware=[
            Middleware(
                EdgeTokenMiddleware,
                token=settings.agent_edge_token.get_secret_value(),
                sandbox_user=settings.agent_user,
            )
        ],
        exception_handlers={RuntimeHostError: on_error},
        lifespan=lifespan,
    )


async def _become_ready(runtime: Runtime, engine: Engine, store: StateStore) -> None:
    await engine.start()
    # In-memory retries until the store answers (nothing to persist: a restart checks again);
    # backoff from 50 ms to 5 s with up to 50 ms of jitter.
    async for attempt in stamina.retry_context(
        on=StoreError,
        attempts=None,
        timeout=None,
        wait_initial=0.05,
        wait_max=5.0,
        wait_jitter=0.05,
    ):
        with attempt:
            try:
                await store.check()
                # The path a cold turn takes (checkpoint listing and read): ready means any
                # session, however long, can be restored in a few reads (docs/sessions.md).
                await runtime.service.sessions.warm()
            except StoreError as error:
                runtime.not_ready_reason = f"state store not reachable: {error}"
                log.warning("%s; retrying in %.2f s", runtime.not_ready_reason, attempt.next_wait)
                raise
    runtime.ready = True
    runtime.not_ready_reason = ""
    log.info(
        "runtime ready (engine %s, model %s)", runtime.settings.agent_engine, engine.model_label
    )
