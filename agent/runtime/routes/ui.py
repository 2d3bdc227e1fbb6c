"""The web chat and admin UI: `/` serves the page, `/ui/...` its script and stylesheet.

The files are package data in `agent/runtime/ui/` (plain HTML, CSS and one script; no build step),
so they ship in the wheel and the container image with the code. Like every path but /healthz they
sit behind the edge token: a browser reaches them only through the Worker, signed in. The page
talks to the runtime only through the JSON API and /ws. A strict Content-Security-Policy allows
nothing but this origin's own files, so even a stored message that tried to inject markup could
not run a script (the script also only ever sets text, never HTML).
"""

from __future__ import annotations

from importlib import resources

from starlette.requests import Request
from starlette.responses import HTMLResponse
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


def _index_html() -> str:
    return resources.files(UI_PACKAGE[0]).joinpath(UI_PACKAGE[1], "index.html").read_text("utf-8")


async def index(_request: Request) -> HTMLResponse:
    """The single page of the UI."""
    return HTMLResponse(_index_html(), headers=SECURITY_HEADERS)


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
