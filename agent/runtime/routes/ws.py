"""Streaming chat over a WebSocket at /ws.

Client frames: `{"type": "chat", "message": "...", "session_id": "..."}`. Server frames:
`{"type": "delta", "text": "..."}` while the reply is generated, then `{"type": "reply", ...}`
only after the turn is durably stored, or `{"type": "error", "error": ..., "hint": ...}`.
Deltas are a preview: a turn whose final `reply` frame never arrived was not saved.

Frames the socket cannot use (RFC 6455 close codes, section 7.4.1):
- a binary frame closes with 1003 (unsupported data): the protocol is JSON text;
- a text frame over MAX_FRAME_BYTES closes with 1009 (message too big); the server refuses
  larger frames itself too (uvicorn `ws_max_size`);
- invalid UTF-8 in a text frame is closed with 1007 by the server's WebSocket library;
- text that is not JSON, not an object, or not a valid chat frame gets an `error` frame (422)
  naming the field, and the socket stays open: no turn was started, the session is unchanged.
A client that leaves mid-turn does not cancel it: the turn is still stored (resending its
`turn_id` later returns it), it is only never acknowledged on this socket.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from agent.runtime.errors import RequestError
from agent.runtime.http import (
    MAX_BODY_BYTES,
    identity,
    problem_response,
    request_id,
    validation_details,
)
from agent.runtime.payloads import ChatReply, WsChatFrame
from agent.runtime.service import TurnRequest
from agent.runtime.sessions import new_session_id

if TYPE_CHECKING:
    from agent.runtime.runtime_state import Runtime

FRAME_EXAMPLE = '{"type": "chat", "message": "hello", "session_id": "trip-planning"}'
# The HTTP body limit: a chat frame carries at most MAX_MESSAGE_CHARS, far below this escaped.
MAX_FRAME_BYTES = MAX_BODY_BYTES
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_POLICY_VIOLATION = 1008
CLOSE_TOO_BIG = 1009


async def chat_socket(websocket: WebSocket) -> None:
    """Serve chat frames until the client leaves or sends a frame the protocol cannot carry."""
    try:
        user = identity(websocket)
    except RequestError as error:
        await websocket.close(code=CLOSE_POLICY_VIOLATION, reason=error.error)
        return
    runtime: Runtime = websocket.app.state.runtime
    await websocket.accept()
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None:
            await websocket.close(CLOSE_UNSUPPORTED_DATA, "binary frames are not accepted")
            return
        if (
            len(text) > MAX_FRAME_BYTES
            or len(text.encode(errors="surrogatepass")) > MAX_FRAME_BYTES
        ):
            await websocket.close(CLOSE_TOO_BIG, f"frames are limited to {MAX_FRAME_BYTES} bytes")
            return
        try:
            await _one_turn(websocket, runtime, user, _parse(text))
        except WebSocketDisconnect:
            return
        except Exception as error:  # every failure becomes an error frame, never a dropped socket
            if not await _send(websocket, _error_frame(error)):
                return


def _parse(text: str) -> WsChatFrame:
    try:
        return WsChatFrame.model_validate_json(text)
    except ValidationError as error:
        fields = [
            {**item, "field": "frame" if item["field"] == "body" else item["field"]}
            for item in validation_details(error)
        ]
        names = ", ".join(item["field"] for item in fields)
        raise RequestError(
            422, f"invalid frame: {names}", f"send a JSON text frame like {FRAME_EXAMPLE}", fields
        ) from None


async def _one_turn(websocket: WebSocket, runtime: Runtime, user: str, frame: WsChatFrame) -> None:
    if runtime.draining or not runtime.ready:
        raise RequestError(503, "not accepting turns right now", "reconnect and resend")
    # The session this socket turn opens (or starts): the one place a per-session check belongs.
    session_id = frame.session_id or new_session_id()

    async def on_delta(text: str) -> None:
        await _send(websocket, {"type": "delta", "session_id": session_id, "text": text})

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
    if not await _send(websocket, {"type": "reply", **reply.model_dump(mode="json")}):
        raise WebSocketDisconnect(1006)


async def _send(websocket: WebSocket, frame: dict[str, Any]) -> bool:
    """Send if the client is still there; False once it has gone (the turn itself carries on)."""
    if websocket.application_state is not WebSocketState.CONNECTED:
        return False
    try:
        await websocket.send_json(frame)
    except WebSocketDisconnect:
        return False
    return True


def _error_frame(error: Exception) -> dict[str, Any]:
    response = problem_response(error)
    return {"type": "error", "status": response.status_code, **json.loads(bytes(response.body))}


routes = [WebSocketRoute("/ws", chat_socket)]
