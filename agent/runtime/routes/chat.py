"""The chat and session API under /api."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from agent.runtime.errors import RequestError
from agent.runtime.http import identity, parse_body, request_id
from agent.runtime.payloads import ChatReply, ChatRequest, TurnView
from agent.runtime.service import TurnRequest
from agent.runtime.sessions import new_session_id

if TYPE_CHECKING:
    from agent.runtime.app import Runtime

CHAT_EXAMPLE = '{"message": "hello", "session_id": "trip-planning"}'


def runtime_of(request: Request) -> Runtime:
    """The app's runtime, refusing new work while not ready or shutting down."""
    runtime: Runtime = request.app.state.runtime
    if runtime.draining:
        raise RequestError(503, "shutting down", "retry: the edge will start a new sandbox")
    if not runtime.ready:
        raise RequestError(503, f"not ready: {runtime.not_ready_reason}", "retry shortly")
    return runtime


async def send_message(request: Request) -> JSONResponse:
    """Run one turn; respond only after it is durably stored."""
    user = identity(request)
    body = await parse_body(request, ChatRequest, CHAT_EXAMPLE)
    runtime = runtime_of(request)
    session_id = body.session_id or new_session_id()
    turn = await runtime.service.turn(
        TurnRequest(
            session_id=session_id,
            prompt=body.message,
            user=user,
            channel="api",
            request_id=request_id(request),
            turn_id=body.turn_id,
        )
    )
    reply = ChatReply.of(session_id, turn, runtime.service.engine.offline)
    return JSONResponse(reply.model_dump(mode="json"))


async def list_sessions(request: Request) -> JSONResponse:
    """Sessions, newest first."""
    identity(request)
    runtime = runtime_of(request)
    raw_limit = request.query_params.get("limit", "100")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 1000:
        raise RequestError(422, "invalid query parameter: limit", "use 1-1000, e.g. ?limit=50")
    metas = await runtime.service.sessions.list_sessions(int(raw_limit))
    return JSONResponse({"sessions": [m.model_dump(mode="json") for m in metas]})


async def read_session(request: Request) -> JSONResponse:
    """Every turn of one session, in order."""
    identity(request)
    runtime = runtime_of(request)
    session_id = request.path_params["session_id"]
    turns = await runtime.service.sessions.read(session_id)
    if not turns:
        raise RequestError(404, f"no session {session_id!r}", "list sessions at /api/sessions")
    views = [TurnView.model_validate(turn, from_attributes=True) for turn in turns]
    return JSONResponse(
        {
            "session_id": session_id,
            "turns": [view.model_dump(mode="json") for view in views],
        }
    )


routes = [
    Route("/api/chat", send_message, methods=["POST"]),
    Route("/api/sessions", list_sessions, methods=["GET"]),
    Route("/api/sessions/{session_id}", read_session, methods=["GET"]),
]
