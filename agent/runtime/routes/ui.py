"""The web chat and admin UI: `/` serves the page, `/ui/...` its script and stylesheet.

The files are package data in `agent/runtime/ui/` (plain HTML, CSS and one script; no build step),
so they ship in the wheel and the container image with the code. Like every path but /healthz they
sit behind the edge token: a browser reaches them only through the Worker, signed in. The page
talks to the runtime only through the JSON API and /ws. A strict Content-Security-Policy allows
nothing but this origin's own files, so even a stored message that tried to inject markup could
not run a script (the script also only ever sets text, never HTML).

With AGENT_ENGINE=openclaw, `/` belongs to OpenClaw's own Control UI, so our admin pages live
under `/_agent/` (OpenClaw 2026.9 serves nothing there; its own reserved paths are `/__openclaw__/`
and `/_openclaw/`): the Devices page for pairing, gateway status, backup and restart.
"""

from __future__ import annotations

from importlib import resources

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

UI_PACKAGE = ("agent.runtime", "ui")
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}


AGENT_PREFIX = "/_agent"


def _page(name: str) -> str:
    return resources.files(UI_PACKAGE[0]).joinpath(UI_PACKAGE[1], name).read_text("utf-8")


async def index(_request: Request) -> HTMLResponse:
    """The single page of the UI."""
    return HTMLResponse(_page("index.html"), headers=SECURITY_HEADERS)


async def devices(_request: Request) -> HTMLResponse:
    """The OpenClaw Devices page: pairing requests, paired devices, gateway status."""
    return HTMLResponse(_page("devices.html"), headers=SECURITY_HEADERS)


async def to_devices(_request: Request) -> RedirectResponse:
    """`/_agent` without the slash: send the browser to the page."""
    return RedirectResponse(f"{AGENT_PREFIX}/", status_code=307)


class _UiFiles(StaticFiles):
    """The UI's static files with the same security headers as the page."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await super().__call__(scope, receive, with_headers)


routes = [
    Route("/", index, methods=["GET", "HEAD"]),
    Mount("/ui", _UiFiles(packages=[UI_PACKAGE]), name="ui"),
]

# The whole /_agent namespace is ours in openclaw mode: an unknown path there is our 404, never
# the gateway's catch-all page.
openclaw_routes = [
    Route(AGENT_PREFIX, to_devices, methods=["GET", "HEAD"]),
    Mount(
        AGENT_PREFIX,
        routes=[
            Route("/", devices, methods=["GET", "HEAD"]),
            Mount("/ui", _UiFiles(packages=[UI_PACKAGE]), name="agent-ui"),
        ],
    ),
]
