"""The OpenClaw application's admin pages under `/_agent/`.

`/` belongs to OpenClaw's own Control UI, so our pages live under `/_agent/` (OpenClaw 2026.9
serves nothing there; its own reserved paths are `/__openclaw__/` and `/_openclaw/`): the Devices
page for pairing, OpenClaw gateway status, backup and restart. The files and their security
headers are shared with the native app (agent/runtime/ui_files.py).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse
from starlette.routing import Mount, Route

from agent.runtime.ui_files import SECURITY_HEADERS, UiFiles, page

AGENT_PREFIX = "/_agent"


async def devices(_request: Request) -> HTMLResponse:
    """The OpenClaw Devices page: pairing requests, paired devices, OpenClaw gateway status."""
    return HTMLResponse(page("devices.html"), headers=SECURITY_HEADERS)


async def to_devices(_request: Request) -> RedirectResponse:
    """`/_agent` without the slash: send the browser to the page."""
    return RedirectResponse(f"{AGENT_PREFIX}/", status_code=307)


# The whole /_agent namespace is ours: an unknown path there is our 404, never the OpenClaw
# gateway's catch-all page.
routes = [
    Route(AGENT_PREFIX, to_devices, methods=["GET", "HEAD"]),
    Mount(
        AGENT_PREFIX,
        routes=[
            Route("/", devices, methods=["GET", "HEAD"]),
            Mount("/ui", UiFiles(), name="agent-ui"),
        ],
    ),
]
