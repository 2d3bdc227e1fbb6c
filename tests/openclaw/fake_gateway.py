"""A stand-in for `openclaw gateway run`, behaving like the real one where the runtime cares.

- CLI: `fake_gateway.py gateway run --port P --bind loopback`; env OPENCLAW_STATE_DIR,
  OPENCLAW_CONFIG_PATH, OPENCLAW_GATEWAY_TOKEN (the rendered config must parse and name it).
- HTTP: /healthz, /readyz (JSON; 503 until FAKE_READY_DELAY_S passed or FAKE_READY_FILE
  exists), HTML 200 for any other unknown path (the real Control UI catch-all), /fake/* helpers
  for the tests (POST /fake/pair-request adds a pending device pairing request, as a device
  connecting remotely does).
- WebSocket on /: connect.challenge -> connect (token checked) -> req/res (health,
  device.pair.*, whoami). Like the real gateway, an X-Forwarded-For from a peer that is not in
  gateway.trustedProxies gets HTTP 403 on the upgrade.
- State: a WAL-mode SQLite database at state/openclaw.sqlite, written by POST /fake/put.
- SIGTERM: checkpoint and exit 0. FAKE_EXIT_AT_START=<code> exits at once (crash loops).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sqlite3
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

STARTED = time.monotonic()
STATE = Path(os.environ["OPENCLAW_STATE_DIR"])
CONFIG = json.loads(Path(os.environ["OPENCLAW_CONFIG_PATH"]).read_text())
TOKEN = os.environ[CONFIG["gateway"]["auth"]["token"]["id"]]
TRUSTED = set(CONFIG["gateway"].get("trustedProxies", []))
READY_DELAY = float(os.environ.get("FAKE_READY_DELAY_S", "0.3"))
# When set, /readyz answers 503 until this file exists: a test decides when the gateway is ready.
READY_FILE = os.environ.get("FAKE_READY_FILE")
PAIRING: dict[str, list[dict[str, object]]] = {
    "pending": [
        {
            "requestId": "req-0001-abcd",
            "deviceId": "dev-1",
            "displayName": "Ada's laptop",
            "platform": "linux",
            "role": "operator",
            "remoteIp": "192.0.2.1",
            "ts": int(time.time() * 1000),
        }
    ],
    "paired": [],
}


def database() -> sqlite3.Connection:
    path = STATE / "state" / "openclaw.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")  # keep writes in the WAL, as a busy gateway does
    db.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT)")
    return db


DB = database()
for scratch in ("tmp/openclaw-0/gateway.lock", "cache/control-ui-assets/index.js"):
    (STATE / scratch).parent.mkdir(parents=True, exist_ok=True)
    (STATE / scratch).write_text(str(os.getpid()))


def ready() -> bool:
    if READY_FILE is not None:
        return Path(READY_FILE).exists()
    return time.monotonic() - STARTED >= READY_DELAY


async def healthz(_request: Request) -> Response:
    return JSONResponse({"ok": True, "status": "live"})


async def readyz(_request: Request) -> Response:
    if not ready():
        return JSONResponse({"ready": False, "failing": ["startup"]}, status_code=503)
    return JSONResponse({"ready": True, "failing": []})


async def catch_all(_request: Request) -> Response:
    return HTMLResponse("<!doctype html><title>OpenClaw Control</title>")


async def put(request: Request) -> Response:
    key, value = request.query_params["key"], request.query_params["value"]
    DB.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (key, value))
    return JSONResponse({"key": key, "at": time.time()})


async def get(request: Request) -> Response:
    row = DB.execute(
        "SELECT value FROM kv WHERE key = ?", (request.query_params["key"],)
    ).fetchone()
    return JSONResponse({"value": row[0] if row else None})


async def echo(request: Request) -> Response:
    return JSONResponse(
        {
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "headers": dict(request.headers),
            "body": (await request.body()).decode(),
        },
        headers={"x-fake": "1"},
    )


async def stream(_request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(3):
            yield f"data: {i} {time.monotonic()}\n\n".encode()
            await asyncio.sleep(0.3)

    return StreamingResponse(chunks(), media_type="text/event-stream")


async def pair_request(request: Request) -> Response:
    query = request.query_params
    item = {
        "requestId": query["requestId"],
        "deviceId": query["deviceId"],
        "displayName": query.get("displayName", ""),
        "platform": query.get("platform", "web"),
        "role": "operator",
        "remoteIp": query.get("remoteIp", "198.51.100.7"),
        "ts": int(time.time() * 1000),
    }
    PAIRING["pending"].append(item)
    return JSONResponse(item)


async def exit_now(request: Request) -> Response:
    code = int(request.query_params.get("code", "1"))
    asyncio.get_running_loop().call_later(0.05, os._exit, code)
    return JSONResponse({"exiting": code})


async def socket(ws: WebSocket) -> None:
    forwarded = ws.headers.get("x-forwarded-for")
    peer = ws.client.host if ws.client else ""
    if forwarded is not None and peer not in TRUSTED:
        await ws.close(code=1008)  # before accept: HTTP 403, as the real gateway answers
        return
    await ws.accept()
    await ws.send_json({"type": "event", "event": "connect.challenge", "payload": {"nonce": "n"}})
    try:
        hello = await ws.receive_json()
        if hello["params"]["auth"]["token"] != TOKEN:
            error = {"code": "INVALID_REQUEST", "details": {"code": "AUTH_TOKEN_MISMATCH"}}
            await ws.send_json({"type": "res", "id": hello["id"], "ok": False, "error": error})
            await ws.close(1008)
            return
        await ws.send_json(
            {"type": "res", "id": hello["id"], "ok": True, "payload": {"type": "hello-ok"}}
        )
        while True:
            req = await ws.receive_json()
            await ws.send_json({"type": "event", "event": "tick", "payload": {}})
            await ws.send_json(handle(req, forwarded))
    except WebSocketDisconnect:
        return


def handle(req: dict, forwarded: str | None) -> dict:  # type: ignore[type-arg]
    method, params = req["method"], req.get("params") or {}
    ok = {"type": "res", "id": req["id"], "ok": True}
    if method == "health":
        return ok | {"payload": {"ok": True, "ts": int(time.time() * 1000)}}
    if method == "whoami":
        return ok | {"payload": {"forwardedFor": forwarded}}
    if method == "device.pair.list":
        return ok | {"payload": PAIRING}
    if method in {"device.pair.approve", "device.pair.reject"}:
        for item in PAIRING["pending"]:
            if item["requestId"] == params.get("requestId"):
                PAIRING["pending"].remove(item)
                device = {
                    "deviceId": item["deviceId"],
                    "displayName": item.get("displayName", ""),
                    "platform": item.get("platform", ""),
                    "role": item.get("role", "operator"),
                    "approvedVia": "owner",
                    "approvedAtMs": int(time.time() * 1000),
                    "connected": False,
                }
                if method == "device.pair.approve":
                    PAIRING["paired"].append(device)
                return ok | {"payload": {"requestId": item["requestId"], "device": device}}
        error = {"code": "INVALID_REQUEST", "message": "unknown requestId"}
        return {"type": "res", "id": req["id"], "ok": False, "error": error}
    error = {"code": "INVALID_REQUEST", "message": f"unknown method {method}"}
    return {"type": "res", "id": req.get("id", str(uuid.uuid4())), "ok": False, "error": error}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["gateway"])
    parser.add_argument("action", choices=["run"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bind", choices=["loopback"], required=True)
    args = parser.parse_args()
    if "FAKE_EXIT_AT_START" in os.environ:
        sys.exit(int(os.environ["FAKE_EXIT_AT_START"]))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        DB.execute("INSERT OR REPLACE INTO kv VALUES ('shutdown', 'clean')")  # a last write
        DB.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        DB.close()

    app = Starlette(
        lifespan=lifespan,
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/fake/put", put, methods=["POST"]),
            Route("/fake/get", get),
            Route("/fake/echo", echo, methods=["GET", "POST"]),
            Route("/fake/stream", stream),
            Route("/fake/exit", exit_now, methods=["POST"]),
            Route("/fake/pair-request", pair_request, methods=["POST"]),
            WebSocketRoute("/", socket),
            Route("/{path:path}", catch_all),
        ],
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=args.port,
            log_level="warning",
            lifespan="on",
            proxy_headers=False,  # the peer address must stay the real one
        )
    )

    server.run()  # SIGTERM: uvicorn runs the lifespan shutdown, then re-raises the signal


if __name__ == "__main__":
    main()
