"""The admin UI's files, shared by both applications: security headers, pages, static files.

The files are package data in `agent/runtime/ui/` (plain HTML, CSS and scripts, plus the vendored
marked and DOMPurify modules in `ui/vendor/`; no build step), so they ship in the wheel and the
container image with the code. A strict Content-Security-Policy allows nothing but this origin's
own files, so even a stored message that tried to inject markup could not run a script (the
scripts set text; a reply's Markdown becomes markup only through DOMPurify, docs/ui.md). The
native app serves them from `routes/ui.py`, the OpenClaw application from `openclaw/ui.py`.
"""

from __future__ import annotations

from importlib import resources

from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

UI_PACKAGE = ("agent.runtime", "ui")
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}


def page(name: str) -> str:
    """One of the UI's HTML pages."""
    return resources.files(UI_PACKAGE[0]).joinpath(UI_PACKAGE[1], name).read_text("utf-8")


class UiFiles(StaticFiles):
    """The UI's static files with the same security headers as the pages."""

    def __init__(self) -> None:
        super().__init__(packages=[UI_PACKAGE])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await super().__call__(scope, receive, with_headers)
