"""The web chat and admin UI: `/` serves the page, `/ui/...` its script and stylesheet.

The files and their security headers are shared with the OpenClaw application (ui_files.py). Like
every path but /healthz they sit behind the edge token: a browser reaches them only through the
Worker, signed in. The page talks to the runtime only through the JSON API and /ws.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route

from agent.runtime.ui_files import SECURITY_HEADERS, UiFiles, page


async def index(_request: Request) -> HTMLResponse:
    """The single page of the UI."""
    return HTMLResponse(page("index.html"), headers=SECURITY_HEADERS)


routes = [
    Route("/", index, methods=["GET", "HEAD"]),
    Mount("/ui", UiFiles(), name="ui"),
]
