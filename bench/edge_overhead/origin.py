"""A small HTTP + WebSocket origin standing in for the agent runtime on loopback.

It answers like the runtime's public surface (`/readyz`, anything else echoed back as JSON, a
streamed body, a `/ws` echo that closes with a chosen code) and records every request it served,
so end-to-end tests can check what crossed the Worker. Run: `python -m bench.edge_overhead.origin
--port N`.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

CLOSE_CODE = 4001
CLOSE_REASON = "bye now"
STREAM_CHUNKS = ("alpha\n", "beta\n", "gamma\n")

_calls: list[dict[str, Any]] = []


async def readyz(_: Request) -> Response:
    return JSONResponse({"ready": True})


async def bench(_: Request) -> Response:
    return PlainTextResponse("ok")


async def calls(_: Request) -> Response:
    return JSONResponse(_calls)


async def stream(_: Request) -> Response:
    async def chunks() -> AsyncIterator[str]:
        for chunk in STREAM_CHUNKS:
            yield chunk
            await asyncio.sleep(0.05)

    return StreamingResponse(chunks(), media_type="text/plain")


async def echo(request: Request) -> Response:
    record = {
        "method": request.method,
        "path": request.url.path,
        "query": request.url.query,
        "headers": {k.lower(): v for k, v in request.headers.items()},
        "body": (await request.body()).decode("utf-8", "replace"),
    }
    _calls.append(record)
    return JSONResponse(record)


async def ws(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"x-agent-user": websocket.headers.get("x-agent-user")})
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text == "close-me":
            await websocket.close(CLOSE_CODE, CLOSE_REASON)
            return
        if text is not None:
            await websocket.send_text(f"echo:{text}")
        else:
            await websocket.send_bytes(message.get("bytes") or b"")


ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]

app = Starlette(
    routes=[
        Route("/readyz", readyz),
        Route("/bench", bench),
        Route("/_calls", calls),
        Route("/stream", stream),
        WebSocketRoute("/ws", ws),
        Route("/{path:path}", echo, methods=ALL_METHODS),
    ]
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
