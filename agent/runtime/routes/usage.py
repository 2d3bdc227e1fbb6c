"""The Usage page and `GET /api/usage`: model spend and tokens, the limits, the container's cost.

An admin (AGENT_ADMIN_EMAILS) sees everyone's usage; anyone else sees their own calls only (the
gateway's logs are split by the `user` metadata each call carries).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from agent.runtime.http import identity
from agent.runtime.runtime_state import Runtime, runtime_of
from agent.runtime.ui_files import SECURITY_HEADERS, page
from agent.runtime.usage import UsageReader


def _reader(request: Request, runtime: Runtime) -> UsageReader:
    reader: UsageReader | None = getattr(request.app.state, "usage", None)
    if reader is None:
        reader = UsageReader(runtime.settings, runtime.service.http)
        request.app.state.usage = reader
    return reader


async def usage(request: Request) -> JSONResponse:
    """Today and this month: spend and tokens per user, model, channel and job."""
    user = identity(request)
    runtime = runtime_of(request)
    admin = runtime.service.access.is_admin(user)
    report = await _reader(request, runtime).report(None if admin else user)
    return JSONResponse(report, headers={"cache-control": "no-store"})


async def usage_page(_request: Request) -> HTMLResponse:
    """The Usage page (plain HTML; its script reads /api/usage)."""
    return HTMLResponse(page("usage.html"), headers=SECURITY_HEADERS)


routes = [
    Route("/api/usage", usage, methods=["GET"]),
    Route("/usage", usage_page, methods=["GET", "HEAD"]),
]
