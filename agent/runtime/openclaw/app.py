"""The runtime app for AGENT_ENGINE=openclaw: our health, readiness and admin API, the rest proxied.

`/healthz` and `/readyz` stay the runtime's own (ready = state restored and the gateway healthy at
the protocol level; the edge's cold-start logic reads it); `/api/openclaw/...` is the pairing admin
API and `/_agent/` our admin page for it (`/` is OpenClaw's own Control UI); `/webhooks/*` are the
edge's verified channel deliveries (openclaw/channels.py); every other path, HTTP or WebSocket,
goes to the gateway behind the edge-token check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import stamina
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from agent.runtime.edge_auth import EdgeTokenMiddleware
from agent.runtime.errors import RuntimeHostError, StoreError
from agent.runtime.http import error_response, problem_response
from agent.runtime.openclaw import admin, channels, slack, ui
from agent.runtime.openclaw.host import OpenClawHost
from agent.runtime.openclaw.proxy import OpenClawProxy
from agent.runtime.openclaw.supervisor import SupervisorPolicy
from agent.runtime.settings import RuntimeSettings
from agent.runtime.store import StateStore, open_store

log = logging.getLogger("agent.runtime.openclaw")


@dataclass
class OpenClawRuntime:
    """What handlers reach through `request.app.state.openclaw`."""

    settings: RuntimeSettings
    host: OpenClawHost
    draining: bool = False


def create_openclaw_app(
    settings: RuntimeSettings,
    store: StateStore | None = None,
    policy: SupervisorPolicy | None = None,
) -> Starlette:
    """The runtime service fronting a supervised OpenClaw gateway."""
    holder: dict[str, OpenClawRuntime] = {}

    def gateway_ready() -> bool:
        runtime = holder.get("runtime")
        return runtime is not None and not runtime.draining and runtime.host.ready

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state_store = store or open_store(settings)
        host = OpenClawHost(settings, state_store, policy=policy or _policy_from(settings))
        runtime = OpenClawRuntime(settings=settings, host=host)
        app.state.openclaw = holder["runtime"] = runtime
        starting = asyncio.create_task(_start(host))
        try:
            yield
        finally:
            runtime.draining = True
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            try:
                await host.stop()
                await state_store.flush()
            finally:
                await state_store.close()
                await proxy.aclose()
                await telegram.aclose()
                await slack_events.aclose()
            log.info("OpenClaw runtime stopped; state flushed")

    async def readyz(request: Request) -> JSONResponse:
        runtime: OpenClawRuntime = request.app.state.openclaw
        if runtime.draining:
            return error_response(503, "shutting down", "the edge will start a new sandbox")
        if not runtime.host.ready:
            return error_response(503, f"not ready: {runtime.host.reason}", "retry shortly")
        supervisor = runtime.host.supervisor
        assert supervisor is not None
        return JSONResponse(
            {
                "status": "ready",
                "engine": "openclaw",
                "model": settings.agent_model,
                "gateway_starts": supervisor.starts,
            }
        )

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def on_error(_request: Request, error: Exception) -> JSONResponse:
        return problem_response(error)

    proxy = OpenClawProxy(settings.openclaw_gateway_port, gateway_ready)
    telegram = channels.TelegramForwarder(settings)
    slack_events = slack.SlackForwarder(settings)
    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            *admin.routes,
            *ui.routes,
            *channels.routes(telegram, slack_events),
            Mount("/", app=proxy),
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


def _policy_from(settings: RuntimeSettings) -> SupervisorPolicy:
    return SupervisorPolicy(start_timeout_s=settings.openclaw_start_timeout_s)


async def _start(host: OpenClawHost) -> None:
    # In-memory retries (a restart tries again): backoff from 0.5 s to 10 s, with jitter.
    async for attempt in stamina.retry_context(
        on=(StoreError, OSError), attempts=None, timeout=None, wait_initial=0.5, wait_max=10.0
    ):
        with attempt:
            try:
                await host.start()
            except (StoreError, OSError) as error:
                if isinstance(error, StoreError):
                    host.error = f"state store not reachable: {error}"
                else:  # e.g. the state directory is not writable
                    host.error = f"cannot prepare {host.settings.openclaw_state_dir}: {error}"
                log.warning(
                    "OpenClaw start failed (%s); retrying in %.1f s", host.error, attempt.next_wait
                )
                raise
