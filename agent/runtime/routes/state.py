"""`GET /api/state`: where state lives, when it was last written durably, and what it holds.

The admin UI's state page and its header (identity, model, the "offline model" label) read it.
The time of the last durable write comes from `WriteClock` (agent/runtime/store/clock.py), a
pass-through StateStore that notes when a put or delete returned: with write-through backends that
is when the data was durable in R2 or on local disk. In periodic-sync mode (benchmark only) a
returned write was only buffered, so it is reported as `last_buffered_write` and the durable time
as unknown.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from agent.runtime.http import identity
from agent.runtime.runtime_state import Runtime, runtime_of
from agent.runtime.store.clock import WriteClock


def _location(runtime: Runtime) -> dict[str, Any]:
    settings = runtime.settings
    if settings.state_backend == "local":
        return {"backend": "local", "directory": str(settings.state_dir.resolve())}
    return {"backend": "r2", "bucket": settings.state_bucket, "endpoint": settings.state_endpoint}


async def _counts(runtime: Runtime, user: str) -> dict[str, int]:
    hub = runtime.channels
    access = runtime.service.access
    # One counter read: everyone's sessions for an admin, the caller's own otherwise.
    sessions, memory, jobs, pairings = await asyncio.gather(
        access.index.count(None if access.is_admin(user) else user),
        runtime.tools.memory.list_files(),
        runtime.tools.jobs.list(),
        hub.pairing.pending() if hub is not None else asyncio.sleep(0, result=[]),
    )
    return {
        "sessions": sessions,
        "memory_files": len(memory),
        "jobs_active": sum(1 for job in jobs if job.status == "active"),
        "pairings_pending": len(pairings),
    }


async def read_state(request: Request) -> JSONResponse:
    """Backend and location, last durable write, counts, and who is asking with which model."""
    user = identity(request)
    runtime = runtime_of(request)
    settings = runtime.settings
    clock = runtime.store if isinstance(runtime.store, WriteClock) else None
    last = clock.last_write_at if clock is not None else None
    engine = runtime.service.engine
    stamp = last.isoformat() if last is not None else None
    write_through = settings.state_sync_mode == "write-through"
    return JSONResponse(
        {
            "user": user,
            "tenant": settings.agent_tenant,
            "engine": settings.agent_engine,
            "model": engine.model_label,
            "offline": engine.offline,
            "state": {
                **_location(runtime),
                "prefix": settings.state_prefix,
                "sync_mode": settings.state_sync_mode,
                "last_durable_write": stamp if write_through else None,
                "last_buffered_write": None if write_through else stamp,
                "durability": (
                    "write-through: every reply is stored before it is sent"
                    if write_through
                    else f"periodic: buffered, synced every {settings.state_sync_interval_s:g} s"
                ),
            },
            "counts": await _counts(runtime, user),
        }
    )


routes = [Route("/api/state", read_state, methods=["GET"])]
