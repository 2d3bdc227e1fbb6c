"""Streaming chat over a WebSocket at /ws.

Client frames: `{"type": "chat", "message": "...", "session_id": "...", "turn_id": "..."}` starts a
turn; `{"type": "stop", "turn_id": "..."}` stops it while it is being generated. Server frames,
each with the turn's `session_id` and `turn_id`, while the reply is generated:
- `{"type": "delta", "text": "..."}`, a piece of the reply;
- `{"type": "tool_call", "call_id", "name", "args"}` when the model calls a tool (args is JSON
  text), then `{"type": "tool_result", "call_id", "name", "result", "ok"}` when it returns
  (arguments and results longer than 4,000 characters are cut, saying how much);
then exactly one of: `{"type": "reply", ...}` only after the turn is durably stored,
`{"type": "stopped"}` when a stop frame ended it (nothing stored), or
`{"type": "error", "status", "error", "hint"}`.
Deltas are a preview: a turn whose final `reply` frame never arrived was not saved.
Turns on one socket run one at a time, in the order sent; a stop frame is read while one runs.

Frames the socket cannot use (RFC 6455 close codes, section 7.4.1):
- a binary frame closes with 1003 (unsupported data): the protocol is JSON text;
- a text frame over MAX_FRAME_BYTES closes with 1009 (message too big); the server refuses
  larger frames itself too (uvicorn `ws_max_size`);
- invalid UTF-8 in a text frame is closed with 1007 by the server's WebSocket library;
- text that is not JSON, not an object, or not a valid chat frame gets an `error` frame (422)
  naming the field, and the socket stays open: no turn was started, the session is unchanged.
A client that leaves mid-turn does not cancel it: the turn is still stored (resending its
`turn_id` later returns it), it is only never acknowledged on this socket. Only a stop frame
cancels a turn, and only before its reply is complete.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import TYPE_CHECKING, Any, assert_never

from pydantic import ValidationError
from pydantic_core import from_json
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from agent.runtime.engine import StreamEvent, TextDelta, ToolCall, ToolResult
from agent.runtime.errors import RequestError
from agent.runtime.http import (
    MAX_BODY_BYTES,
    identity,
    problem_response,
    request_id,
    validation_details,
)
from agent.runtime.payloads import ChatReply, WsChatFrame, WsStopFrame, clip
from agent.runtime.service import TurnRequest, TurnStopped
from agent.runtime.sessions import new_session_id

if TYPE_CHECKING:
    from agent.runtime.runtime_state import Runtime

FRAME_EXAMPLE = '{"type": "chat", "message": "hello", "session_id": "trip-planning"}'
STOP_EXAMPLE = '{"type": "stop", "turn_id": "t-1"}'
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
    turns = _Turns()
    worker = asyncio.create_task(_run_turns(websocket, runtime, user, turns))
    try:
        await _read_frames(websocket, turns)
    finally:
        # Turns not started yet were never acknowledged: the client resends them. The one under
        # way is finished and stored even though its client left.
        turns.close()
        await worker


class _Turns:
    """A socket's chat frames waiting to run, the one running, and the switch that stops it."""

    def __init__(self) -> None:
        self.waiting: deque[WsChatFrame] = deque()
        self.running: WsChatFrame | None = None
        self.stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._closed = False

    def add(self, frame: WsChatFrame) -> None:
        self.waiting.append(frame)
        self._wake.set()

    def close(self) -> None:
        self.waiting.clear()
        self._closed = True
        self._wake.set()

    async def next(self) -> WsChatFrame | None:
        """The next frame to run (None once the socket is gone)."""
        self.running = None
        while not self.waiting:
            if self._closed:
                return None
            self._wake.clear()
            await self._wake.wait()
        self.running, self.stop = self.waiting.popleft(), asyncio.Event()
        return self.running

    def stop_turn(self, turn_id: str | None) -> WsChatFrame | None:
        """Stop the running turn (if it is `turn_id`); a waiting one is dropped and returned."""
        if self.running is not None and turn_id in (None, self.running.turn_id):
            self.stop.set()
            return None
        for frame in self.waiting:
            if turn_id is not None and frame.turn_id == turn_id:
                self.waiting.remove(frame)
                return frame
        return None


async def _read_frames(websocket: WebSocket, turns: _Turns) -> None:
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
            frame = _parse(text)
        except Exception as error:  # every bad frame becomes an error frame, never a dropped socket
            if not await _send(websocket, _error_frame(error)):
                return
            continue
        if isinstance(frame, WsStopFrame):
            dropped = turns.stop_turn(frame.turn_id)
            if dropped is not None:
                await _send(websocket, _turn_frame("stopped", dropped, dropped.session_id))
        else:
            turns.add(frame)


async def _run_turns(websocket: WebSocket, runtime: Runtime, user: str, turns: _Turns) -> None:
    while (frame := await turns.next()) is not None:
        session_id = frame.session_id or new_session_id()
        try:
            await _one_turn(websocket, runtime, user, frame, session_id, turns.stop)
        except TurnStopped:
            await _send(websocket, _turn_frame("stopped", frame, session_id))
        except Exception as error:  # every failure becomes an error frame, never a dropped socket
            await _send(
                websocket, {**_turn_frame("error", frame, session_id), **_error_frame(error)}
            )


def _parse(text: str) -> WsChatFrame | WsStopFrame:
    try:
        if _frame_type(text) == "stop":
            return WsStopFrame.model_validate_json(text)
        return WsChatFrame.model_validate_json(text)
    except ValidationError as error:
        fields = [
            {**item, "field": "frame" if item["field"] == "body" else item["field"]}
            for item in validation_details(error)
        ]
        names = ", ".join(item["field"] for item in fields)
        raise RequestError(
            422,
            f"invalid frame: {names}",
            f"send a JSON text frame like {FRAME_EXAMPLE} (or {STOP_EXAMPLE})",
            fields,
        ) from None


def _frame_type(text: str) -> object:
    """The frame's `type`, if it is a JSON object (pydantic-core's parser: no recursion limit to
    hit on deep nesting, unlike json.loads)."""
    try:
        value = from_json(text)
    except ValueError:
        return None
    return value.get("type") if isinstance(value, dict) else None


def _turn_frame(kind: str, frame: WsChatFrame, session_id: str | None) -> dict[str, Any]:
    return {"type": kind, "session_id": session_id, "turn_id": frame.turn_id}


async def _one_turn(
    websocket: WebSocket,
    runtime: Runtime,
    user: str,
    frame: WsChatFrame,
    session_id: str,
    stop: asyncio.Event,
) -> None:
    if runtime.draining or not runtime.ready:
        raise RequestError(503, "not accepting turns right now", "reconnect and resend")

    async def on_event(event: StreamEvent) -> None:
        await _send(websocket, {**_turn_frame("", frame, session_id), **_event_fields(event)})

    turn = await runtime.service.turn(
        TurnRequest(
            session_id=session_id,
            prompt=frame.message,
            user=user,
            channel="ws",
            request_id=request_id(websocket),
            turn_id=frame.turn_id,
            attachments=tuple(frame.attachments),
        ),
        on_event,
        stop=stop,
    )
    reply = ChatReply.of(session_id, turn, runtime.service.engine.offline)
    await _send(websocket, {"type": "reply", **reply.model_dump(mode="json")})


def _event_fields(event: StreamEvent) -> dict[str, Any]:
    match event:
        case TextDelta(text):
            return {"type": "delta", "text": text}
        case ToolCall(call_id, name, args):
            return {"type": "tool_call", "call_id": call_id, "name": name, "args": clip(args)}
        case ToolResult(call_id, name, content, ok):
            return {
                "type": "tool_result",
                "call_id": call_id,
                "name": name,
                "result": clip(content),
                "ok": ok,
            }
        case _:
            assert_never(event)


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
