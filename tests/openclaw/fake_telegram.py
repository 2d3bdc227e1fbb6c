"""A loopback Bot API for the real OpenClaw's Telegram plugin (`channels.telegram.apiRoot`).

grammY calls `POST <apiRoot>/bot<token>/<method>` with a JSON (or form) body. The fake records
every method with its parameters, answers `getMe` with a bot, `sendMessage` with a message, and
`true` for everything else (setWebhook, setMyCommands, sendChatAction, ...). `getUpdates` is
answered with no updates and recorded, so a test can prove nobody long-polls.
https://core.telegram.org/bots/api#making-requests
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fake_platform import RecordingFake
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from suite_support import serve_app

BOT = {"id": 7000001, "is_bot": True, "first_name": "Edge", "username": "edge_agent_bot"}


class FakeTelegram(RecordingFake):
    """What the fake received (thread-safe), read by tests."""

    platform = "Telegram"

    async def _method(self, request: Request) -> JSONResponse:
        if request.path_params["bot"] != f"bot{self.token}":
            return JSONResponse(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, 401
            )
        method = request.path_params["method"]
        if request.headers.get("content-type", "").startswith("application/json"):
            params: dict[str, Any] = await request.json()
        else:
            params = {k: str(v) for k, v in (await request.form()).items()}
        with self.lock:
            self.calls.append((method, params))
            sent = sum(1 for name, _ in self.calls if name == "sendMessage")
        result: Any = True
        if method == "getMe":
            result = {**BOT, "can_join_groups": True, "can_read_all_group_messages": False}
        elif method == "getUpdates":
            result = []
        elif method == "sendMessage":
            chat = {"id": int(params["chat_id"]), "type": "private"}
            result = {
                "message_id": 9000 + sent,
                "date": int(time.time()),
                "chat": chat,
                "from": BOT,
                "text": params.get("text", ""),
            }
        elif method in {"getMyCommands", "getWebhookInfo"}:
            result = [] if method == "getMyCommands" else {"url": "", "pending_update_count": 0}
        return JSONResponse({"ok": True, "result": result})

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{bot}/{method}", self._method, methods=["POST", "GET"])])


@contextmanager
def fake_telegram(token: str) -> Iterator[FakeTelegram]:
    """The fake on a free loopback port for the block."""
    fake = FakeTelegram(token)
    with serve_app(fake.app(), "fake Telegram Bot API", ws="none") as url:
        fake.url = url
        yield fake
