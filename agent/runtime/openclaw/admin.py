"""OpenClaw admin under /api/openclaw (AGENT_ENGINE=openclaw only): pairing, status, sync, restart.

Browsers and apps reaching the gateway through the edge are remote to it and must be paired by
the owner. These routes use the gateway's own protocol methods (`device.pair.list`,
`device.pair.approve`, `device.pair.reject`) as a backend client on loopback: no CLI, no shell,
and the request id is validated before it is sent anywhere.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from agent.runtime.errors import EngineError, RequestError
from agent.runtime.http import identity
from agent.runtime.openclaw import protocol

if TYPE_CHECKING:
    from agent.runtime.openclaw.host import OpenClawHost

REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{7,127}$")
EXAMPLE_ID = "44ba0c1e-5d1f-4c57-9a53-0f6d2f1f3b1a"


def _host(request: Request) -> OpenClawHost:
    host: OpenClawHost = request.app.state.openclaw.host
    if not host.ready:
        raise RequestError(
            503, f"the OpenClaw gateway is not ready: {host.reason}", "retry shortly"
        )
    return host


async def _call(host: OpenClawHost, method: str, params: dict[str, Any]) -> dict[str, Any]:
    try:
        return await protocol.call(host.port, host.token, method, params)
    except protocol.OpenClawCallError as error:
        if error.code == "INVALID_REQUEST":
            raise RequestError(
                404,
                "no such pending pairing request",
                "list pending requests again: a device that retries gets a new request id",
            ) from None
        raise
    except EngineError as error:
        raise RequestError(502, f"the OpenClaw gateway failed: {error}", "retry") from None


async def list_devices(request: Request) -> JSONResponse:
    """Pending pairing requests and paired devices, as the gateway reports them."""
    identity(request)
    payload = await _call(_host(request), "device.pair.list", {})
    return JSONResponse(
        {"pending": payload.get("pending", []), "paired": payload.get("paired", [])}
    )


async def approve(request: Request) -> JSONResponse:
    """Approve one pending request by its id."""
    return await _decide(request, "device.pair.approve")


async def reject(request: Request) -> JSONResponse:
    """Reject one pending request by its id."""
    return await _decide(request, "device.pair.reject")


async def _decide(request: Request, method: str) -> JSONResponse:
    identity(request)
    request_id = request.path_params["request_id"]
    if not REQUEST_ID.fullmatch(request_id):
        raise RequestError(
            422,
            "request_id: must be 8-128 letters, digits, '-' or '_'",
            f"for example /api/openclaw/devices/{EXAMPLE_ID}/approve",
        )
    payload = await _call(_host(request), method, {"requestId": request_id})
    return JSONResponse(payload)


async def status(request: Request) -> JSONResponse:
    """The gateway's process and the state sync, for the admin page."""
    identity(request)
    host: OpenClawHost = request.app.state.openclaw.host
    supervisor, sync = host.supervisor, host.sync
    synced = sync.last_synced_at if sync is not None else None
    return JSONResponse(
        {
            "ready": host.ready,
            "reason": "" if host.ready else host.reason,
            "gateway": {
                "pid": supervisor.pid if supervisor else None,
                "starts": supervisor.starts if supervisor else 0,
                "last_start_to_ready_s": supervisor.last_ready_s if supervisor else None,
            },
            "state": {
                "restored_files": sync.restored_files if sync else 0,
                "uploads": sync.uploads if sync else 0,
                "last_synced_at": (
                    datetime.fromtimestamp(synced, UTC).isoformat() if synced else None
                ),
            },
        }
    )


async def sync_now(request: Request) -> JSONResponse:
    """Upload every change now ("backup now"); returns how many objects changed."""
    identity(request)
    host = _host(request)
    assert host.sync is not None
    return JSONResponse({"written": await host.sync.sync_all()})


async def restart(request: Request) -> JSONResponse:
    """Restart the gateway process (its state stays on disk and in the store)."""
    identity(request)
    supervisor = request.app.state.openclaw.host.supervisor
    if supervisor is None:
        raise RequestError(503, "the OpenClaw gateway has not started yet", "retry shortly")
    await supervisor.restart()
    return JSONResponse({"restarting": True}, status_code=202)


routes = [
    Route("/api/openclaw/status", status, methods=["GET"]),
    Route("/api/openclaw/sync", sync_now, methods=["POST"]),
    Route("/api/openclaw/restart", restart, methods=["POST"]),
    Route("/api/openclaw/devices", list_devices, methods=["GET"]),
    Route("/api/openclaw/devices/{request_id}/approve", approve, methods=["POST"]),
    Route("/api/openclaw/devices/{request_id}/reject", reject, methods=["POST"]),
]
