"""Liveness and readiness."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from agent.runtime.http import error_response

if TYPE_CHECKING:
    from agent.runtime.runtime_state import Runtime


async def healthz(_request: Request) -> JSONResponse:
    """The process is alive (no token needed: it reveals nothing)."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """Ready once the engine started and the state store answered."""
    runtime: Runtime = request.app.state.runtime
    if runtime.draining:
        return error_response(503, "shutting down", "the edge will start a new sandbox")
    if not runtime.ready:
        return error_response(503, f"not ready: {runtime.not_ready_reason}", "retry shortly")
    engine = runtime.service.engine
    return JSONResponse(
        {
            "status": "ready",
            "engine": runtime.settings.agent_engine,
            "model": engine.model_label,
            "offline": engine.offline,
        }
    )


routes = [Route("/healthz", healthz), Route("/readyz", readyz)]
