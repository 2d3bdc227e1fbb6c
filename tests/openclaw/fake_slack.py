"""A loopback Slack Web API for the real OpenClaw's Slack plugin (`SLACK_API_URL`).

@slack/web-api calls `POST <base><method>` (form or JSON body, `Authorization: Bearer <token>`).
The fake checks the bot token, records every method with its parameters, answers `auth.test` with
the bot's identity, `users.info` / `conversations.info` with a user and a DM, `chat.postMessage`
with a message, and `{"ok": true}` for everything else.
https://api.slack.com/web#basics
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

TEAM = "T0EDGE001"
BOT_USER = "U0EDGEBOT"
BOT_ID = "B0EDGEBOT"


class FakeSlack(RecordingFake):
    """What the fake received (thread-safe), read by tests."""

    platform = "Slack"

    async def _method(self, request: Request) -> JSONResponse:
        method = request.path_params["method"]
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        if request.headers.get("content-type", "").startswith("application/json"):
            params: dict[str, Any] = await request.json()
        else:
            params = {k: str(v) for k, v in (await request.form()).items()}
        with self.lock:
            self.calls.append((method, params))
        body: dict[str, Any] = {"ok": True}
        if method == "auth.test":
            body.update(
                url="https://edge.slack.com/",
                team="Edge",
                team_id=TEAM,
                user="edgeagent",
                user_id=BOT_USER,
                bot_id=BOT_ID,
            )
        elif method == "users.info":
            user = str(params.get("user", ""))
            body["user"] = {"id": user, "team_id": TEAM, "name": "ada", "is_bot": False}
        elif method == "conversations.info":
            channel = str(params.get("channel", ""))
            body["channel"] = {"id": channel, "is_im": True, "user": "U0ADA0001"}
        elif method == "chat.postMessage":
            ts = f"{time.time():.6f}"
            channel = str(params.get("channel", ""))
            body.update(
                channel=channel,
                ts=ts,
                message={"type": "message", "text": params.get("text", ""), "ts": ts},
            )
        return JSONResponse(body)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{method}", self._method, methods=["POST", "GET"])])


@contextmanager
def fake_slack(token: str) -> Iterator[FakeSlack]:
    """The fake on a free loopback port for the block (its `url` ends with a slash)."""
    fake = FakeSlack(token)
    with serve_app(fake.app(), "fake Slack Web API", ws="none") as url:
        fake.url = f"{url.rstrip('/')}/"
        yield fake
