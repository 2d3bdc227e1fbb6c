"""The chat and session API under /api."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from agent.runtime.attachments import expired
from agent.runtime.errors import RequestError
from agent.runtime.http import identity, parse_body, request_id
from agent.runtime.payloads import ChatReply, ChatRequest, TurnView
from agent.runtime.runtime_state import runtime_of
from agent.runtime.service import TurnRequest
from agent.runtime.session_history import read_turns
from agent.runtime.session_index import not_found, same_identity
from agent.runtime.sessions import check_session_id, new_session_id
from agent.runtime.store.base import StateStore

if TYPE_CHECKING:
    pass

CHAT_EXAMPLE = '{"message": "hello", "session_id": "trip-planning"}'


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
            attachments=tuple(body.attachments),
        )
    )
    reply = ChatReply.of(session_id, turn, runtime.service.engine.offline)
    return JSONResponse(reply.model_dump(mode="json"))


def _int_param(
    request: Request, name: str, default: int | None, high: int, example: str
) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= high:
        raise RequestError(422, f"invalid query parameter: {name}", f"use 1-{high}, e.g. {example}")
    return int(raw)


async def list_sessions(request: Request) -> JSONResponse:
    """The caller's sessions (an admin's: everyone's), newest first, one page per request.

    `?limit=` (1-1000, default 100) and `?cursor=` (the previous page's `next_cursor`).
    """
    user = identity(request)
    runtime = runtime_of(request)
    limit = _int_param(request, "limit", 100, 1000, "?limit=50")
    assert limit is not None
    access = runtime.service.access
    admin = access.is_admin(user)
    page = await access.index.page(
        None if admin else user, request.query_params.get("cursor"), limit
    )
    if admin:
        others = [m.session_id for m in page.sessions if not same_identity(m.created_by, user)]
        if others:
            await access.audit("list_sessions", user, None, sessions=",".join(others))
    return JSONResponse(
        {
            "sessions": [m.model_dump(mode="json") for m in page.sessions],
            "next_cursor": page.next_cursor,
        }
    )


async def read_session(request: Request) -> JSONResponse:
    """One page of a session's turns, in order: the newest by default, `?before=<seq>` older.

    Only the session's owner (or an admin, audit-logged) sees it; anyone else gets 404.
    """
    user = identity(request)
    runtime = runtime_of(request)
    session_id = check_session_id(request.path_params["session_id"])
    limit = _int_param(request, "limit", 50, 500, "?limit=50")
    before = _int_param(request, "before", None, 99_999_999, "?before=120")
    assert limit is not None
    await runtime.service.access.readable(session_id, user)
    page = await read_turns(runtime.store, session_id, before, limit)
    if not page.turns and before is None:
        raise not_found(session_id)
    views = [TurnView.of(turn) for turn in page.turns]
    await _mark_expired(runtime.store, views)
    return JSONResponse(
        {
            "session_id": session_id,
            "turns": [view.model_dump(mode="json") for view in views],
            "older_before": page.older,
        }
    )


async def _mark_expired(store: StateStore, views: list[TurnView]) -> None:
    """Flag the attachments retention has deleted (docs/retention.md); the turn still shows them."""
    for view in views:
        gone = await asyncio.gather(*(expired(store, view.user, a.id) for a in view.attachments))
        view.attachments = [
            a.model_copy(update={"expired": True}) if is_gone else a
            for a, is_gone in zip(view.attachments, gone, strict=True)
        ]


routes = [
    Route("/api/chat", send_message, methods=["POST"]),
    Route("/api/sessions", list_sessions, methods=["GET"]),
    Route("/api/sessions/{session_id}", read_session, methods=["GET"]),
]
