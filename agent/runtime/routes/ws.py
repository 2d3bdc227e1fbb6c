"""Streaming chat over a WebSocket at /ws.

Client frames: `{"type": "chat", "message": "...", "session_id": "..."}`. Server frames:
`{"type": "delta", "text": "..."}` while the reply is generated, then `{"type": "reply", ...}`
only after the turn is durably stored, or `{"type": "error", "error": ..., "hint": ...}`.
Deltas are a preview: a turn whose final `reply` frame never arrived was not saved.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from agent.runtime.errors import RequestError, RuntimeHostError
from agent.runtime.http import identity, invalid, problem_response, request_id
from agent.runtime.payloads import ChatReply, WsChatFrame
from agent.runtime.service import TurnRequest
from agent.runtime.sessions import new_session_id

if TYPE_CHECKING:
    from agent.runtime.app import Runtime

FRAME_EXAMPLE = '{"type": "chat", "message": "hello", "session_id": "trip-planning"}'


async def chat_socket(websocket: WebSocket) -> None:
    """Serve chat frames until the client leaves."""
    try:
        user = identity(websocket)
    except RequestError as error:
        await websocket.close(code=1008, reason=error.error)
        return
    runtime: Runtime = websocket.app.state.runtime
    await websocket.accept()
    try:
        while True:
            raw = await websocket.receive_text()
            try:
                await _one_turn(websocket, runtime, user, raw)
            except RuntimeHostError as error:
                await websocket.send_json(_error_frame(error))
    except WebSocketDisconnect:
        return


async def _one_turn(websocket: WebSocket, runtime: Runtime, user: str, raw: str) -> None:
    try:
        frame = WsChatFrame.model_validate_json(raw)
    except ValidationError as error:
        raise invalid(error, FRAME_EXAMPLE) from None
    if runtime.draining or not runtime.ready:
        raise RequestError(503, "not accepting turns right now", "reconnect and resend")
    session_id = frame.session_id or new_session_id()

    async def on_delta(text: str) -> None:
        await websocket.send_json({"type": "delta", "session_id": session_id, "text": text})

    turn = await runtime.service.turn(
        TurnRequest(
            session_id=session_id,
            prompt=frame.message,
            user=user,
            channel="ws",
            request_id=request_id(websocket),
            turn_id=frame.turn_id,
        ),
        on_delta,
    )
    reply = ChatReply.of(session_id, turn, runtime.service.engine.offline)
    await websocket.send_json({"type": "reply", **reply.model_dump(mode="json")})


def _error_frame(error: RuntimeHostError) -> dict[str, Any]:
    response = problem_response(error)
    return {"type": "error", "status": response.status_code, **json.loads(bytes(response.body))}


routes = [WebSocketRoute("/ws", chat_socket)]
