"""A fake Telegram Bot API on loopback for the UI test: records what the agent sends."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from suite_support import serve_app

TG_TOKEN = "123456789:AAHuitestuitestuitestuitestuitest0"


class FakeTelegram:
    """`sendMessage` for one bot token; every accepted text is kept in `sent`."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.url = ""

    async def call(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != TG_TOKEN:
            return JSONResponse(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, 401
            )
        if request.path_params["method"] != "sendMessage":
            return JSONResponse({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
        body = await request.json()
        self.sent.append((str(body["chat_id"]), str(body["text"])))
        return JSONResponse({"ok": True, "result": {"message_id": len(self.sent)}})

    def wait_for_text(self, needle: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for _, text in self.sent:
                if needle in text:
                    return text
            time.sleep(0.05)
        raise AssertionError(f"no message containing {needle!r}; sent: {self.sent}")


@contextmanager
def fake_telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram()
    app = Starlette(routes=[Route("/bot{token}/{method}", fake.call, methods=["POST"])])
    with serve_app(app, "fake Telegram") as url:
        fake.url = url
        yield fake


def telegram_update(update_id: int, text: str, user: int = 4242) -> dict[str, object]:
    """A private text message from a person, as Telegram posts it to the webhook."""
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id * 10,
            "date": 1_764_000_000,
            "chat": {"id": user, "type": "private"},
            "from": {"id": user, "is_bot": False, "first_name": "Ada"},
            "text": text,
        },
    }
