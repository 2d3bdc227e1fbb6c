"""Fake Telegram, Slack and Discord APIs on one loopback port, with scriptable failures.

Files sent with messages are served too (Telegram getFile and file links, Slack private file
URLs, Discord's CDN): `fakes.files[ref]` holds their bytes, `fakes.fetched` counts downloads,
`fakes.fail_downloads` answers the next downloads with an error status.

File uploads (the agent sending a file back) are accepted in each platform's documented shape and
recorded in `uploads` with the bytes, name and type that arrived: Telegram sendPhoto/sendDocument
multipart, Slack's getUploadURLExternal → upload URL → completeUploadExternal, Discord multipart
`payload_json` + `files[0]`, and WhatsApp's media upload + media message (`/graph/v21.0`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from suite_support import EDGE_TOKEN, HANG_S, serve_app, wait_until

from agent.runtime.settings import RuntimeSettings

TG_TOKEN = "123456789:AAHfakefakefakefakefakefakefake0123"
SLACK_TOKEN = "xoxb-1111-2222-fakefakefake"
DISCORD_APP = "111122223333444455"
DISCORD_TOKEN = "discord-bot-token-fake"
WA_TOKEN = "EAAGfakeWhatsAppAccessToken0123456789"


@dataclass
class Sent:
    """A message the fake accepted (answered 2xx)."""

    platform: str
    target: str
    text: str
    extra: dict[str, Any]


@dataclass
class Upload:
    """A file the fake accepted: where it went and what arrived."""

    platform: str
    target: str
    method: str
    filename: str
    content_type: str
    body: bytes
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Failure:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class FakePlatforms:
    """The three platforms' send endpoints, recording what they accept."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.uploads: list[Upload] = []
        self._slack_pending: dict[str, tuple[str, int, bytes | None]] = {}
        self._wa_media: dict[str, tuple[str, str, bytes]] = {}
        self.attempts: dict[str, int] = {"telegram": 0, "slack": 0, "discord": 0}
        self.attempt_times: dict[str, list[float]] = {"telegram": [], "slack": [], "discord": []}
        self.webhooks: list[dict[str, Any]] = []
        self.commands: list[Any] = []
        self._failures: dict[str, list[Failure]] = {"telegram": [], "slack": [], "discord": []}
        self._lock = threading.Lock()
        self.url = ""
        self.files: dict[str, bytes] = {}
        self.fetched: list[str] = []
        self.fail_downloads: list[int] = []
        self.seen_authorization: list[str] = []

    def fail(self, platform: str, failure: Failure, times: int = 1) -> None:
        """Answer the next `times` sends on `platform` with this failure."""
        with self._lock:
            self._failures[platform].extend([failure] * times)

    def clear_failures(self) -> None:
        with self._lock:
            for queue in self._failures.values():
                queue.clear()

    def texts(self, platform: str) -> list[str]:
        with self._lock:
            return [s.text for s in self.sent if s.platform == platform]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = HANG_S) -> None:
        wait_until(predicate, lambda: f"sent so far: {self.sent}", timeout)

    def _next_failure(self, platform: str) -> Failure | None:
        with self._lock:
            self.attempts[platform] += 1
            self.attempt_times[platform].append(time.monotonic())
            queue = self._failures[platform]
            return queue.pop(0) if queue else None

    def _accept(self, sent: Sent) -> None:
        with self._lock:
            self.sent.append(sent)

    async def telegram(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != TG_TOKEN:
            return JSONResponse(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, 401
            )
        method = request.path_params["method"]
        if method in ("sendPhoto", "sendDocument"):
            return await self._telegram_file(request, method)
        body = await request.json()
        if method == "setWebhook":
            self.webhooks.append(body)
            return JSONResponse({"ok": True, "result": True})
        if method == "getFile":  # https://core.telegram.org/bots/api#getfile
            data = self.files.get(str(body.get("file_id")))
            if data is None:
                return JSONResponse(
                    {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"},
                    400,
                )
            result = {"file_id": body["file_id"], "file_size": len(data)}
            return JSONResponse(
                {"ok": True, "result": {**result, "file_path": f"f/{body['file_id']}"}}
            )
        if method != "sendMessage":
            return JSONResponse({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
        failure = self._next_failure("telegram")
        if failure is not None:
            return JSONResponse(failure.body, failure.status, failure.headers)
        if not body.get("text") or len(body["text"]) > 4096:
            return JSONResponse(
                {"ok": False, "error_code": 400, "description": "Bad Request: text"}, 400
            )
        self._accept(Sent("telegram", str(body["chat_id"]), body["text"], body))
        return JSONResponse({"ok": True, "result": {"message_id": len(self.sent)}})

    async def _telegram_file(self, request: Request, method: str) -> JSONResponse:
        # https://core.telegram.org/bots/api#sending-files: a new file is multipart/form-data.
        failure = self._next_failure("telegram")
        if failure is not None:
            return JSONResponse(failure.body, failure.status, failure.headers)
        form, files = await read_form(request)
        part = files.get("photo" if method == "sendPhoto" else "document")
        if part is None:
            return JSONResponse({"ok": False, "error_code": 400, "description": "no file"}, 400)
        self._upload(
            Upload("telegram", form["chat_id"], method, part.filename, part.content_type, part.body)
        )
        return JSONResponse({"ok": True, "result": {"message_id": len(self.uploads)}})

    def _upload(self, upload: Upload) -> None:
        with self._lock:
            self.uploads.append(upload)

    async def slack_upload_url(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {SLACK_TOKEN}":
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return JSONResponse({"ok": False, "error": "invalid_form_data"})
        failure = self._next_failure("slack")
        if failure is not None:
            return JSONResponse(failure.body, failure.status, failure.headers)
        form, _ = await read_form(request)
        file_id = f"F{len(self._slack_pending):08d}"
        self._slack_pending[file_id] = (form["filename"], int(form["length"]), None)
        return JSONResponse(
            {"ok": True, "upload_url": f"{self.url}/slack/upload/{file_id}", "file_id": file_id}
        )

    async def slack_upload(self, request: Request) -> JSONResponse:
        if "authorization" in request.headers:  # the URL is pre-signed; no token belongs here
            return JSONResponse({"error": "unexpected token"}, 400)
        file_id = request.path_params["file_id"]
        _, files = await read_form(request)
        part = files.get("file")
        if file_id not in self._slack_pending or part is None:
            return JSONResponse({"error": "no such upload"}, 404)
        name, length, _ = self._slack_pending[file_id]
        body = part.body
        if len(body) != length:
            return JSONResponse({"error": "length mismatch"}, 400)
        self._slack_pending[file_id] = (name, length, body)
        return JSONResponse({"ok": True})

    async def slack_complete(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {SLACK_TOKEN}":
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        body = await request.json()
        [entry] = body["files"]
        name, _, data = self._slack_pending.get(entry["id"], ("", 0, None))
        if data is None:
            return JSONResponse({"ok": False, "error": "file_not_found"})
        self._upload(
            Upload(
                "slack", body["channel_id"], "files.completeUploadExternal", name, "", data, body
            )
        )
        return JSONResponse({"ok": True, "files": [{"id": entry["id"]}]})

    async def _discord_file(self, request: Request, target: str) -> JSONResponse:
        form, files = await read_form(request)
        part = files.get("files[0]")
        payload = json.loads(form.get("payload_json", "{}"))
        if part is None or payload["attachments"][0]["id"] != 0:
            return JSONResponse({"message": "Invalid Form Body", "code": 50035}, 400)
        self._upload(
            Upload(
                "discord", target, "message", part.filename, part.content_type, part.body, payload
            )
        )
        return JSONResponse({"id": "7" * 18, "attachments": [{"id": "1"}]})

    async def whatsapp_media(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {WA_TOKEN}":
            return JSONResponse({"error": {"message": "Invalid OAuth", "code": 190}}, 401)
        form, files = await read_form(request)
        part = files.get("file")
        if form.get("messaging_product") != "whatsapp" or part is None:
            return JSONResponse({"error": {"message": "bad upload", "code": 100}}, 400)
        media_id = f"{len(self._wa_media) + 1:015d}"
        self._wa_media[media_id] = (part.filename, form["type"], part.body)
        return JSONResponse({"id": media_id})

    async def whatsapp_messages(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {WA_TOKEN}":
            return JSONResponse({"error": {"message": "Invalid OAuth", "code": 190}}, 401)
        body = await request.json()
        kind = body["type"]
        if kind == "text":
            self._accept(Sent("whatsapp", body["to"], body["text"]["body"], body))
        else:
            name, content_type, data = self._wa_media[body[kind]["id"]]
            self._upload(Upload("whatsapp", body["to"], kind, name, content_type, data, body))
        return JSONResponse({"messages": [{"id": f"wamid.{len(self.sent) + len(self.uploads)}"}]})

    async def slack(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {SLACK_TOKEN}":
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        if request.headers.get("content-type", "").startswith("application/json"):
            body = await request.json()
        else:
            body = dict(await request.form())
        failure = self._next_failure("slack")
        if failure is not None:
            return JSONResponse(failure.body, failure.status, failure.headers)
        if len(body.get("text", "")) > 4000:
            return JSONResponse({"ok": False, "error": "msg_too_long"})
        self._accept(Sent("slack", str(body["channel"]), str(body["text"]), body))
        return JSONResponse({"ok": True, "channel": body["channel"], "ts": "1700000000.000100"})

    async def discord_followup(self, request: Request) -> JSONResponse:
        if request.path_params["app"] != DISCORD_APP:
            return JSONResponse({"message": "Unknown Webhook", "code": 10015}, 404)
        if request.query_params.get("wait") != "true":
            return JSONResponse({"message": "expected wait=true"}, 400)
        failure = self._next_failure("discord")
        if failure is not None:
            return JSONResponse(failure.body, failure.status, failure.headers)
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            return await self._discord_file(request, request.path_params["token"])
        body = await request.json()
        if len(body.get("content", "")) > 2000:
            return JSONResponse({"message": "Invalid Form Body", "code": 50035}, 400)
        self._accept(Sent("discord", request.path_params["token"], body["content"], body))
        return JSONResponse({"id": "9" * 18, "content": body["content"]})

    async def discord_channel_post(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bot {DISCORD_TOKEN}":
            return JSONResponse({"message": "401: Unauthorized", "code": 0}, 401)
        failure = self._next_failure("discord")
        if failure is not None:
            return JSONResponse(failure.body, failure.status, failure.headers)
        target = f"channel:{request.path_params['channel']}"
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            return await self._discord_file(request, target)
        body = await request.json()
        self._accept(Sent("discord", target, body["content"], body))
        return JSONResponse({"id": "8" * 18, "content": body["content"]})

    async def discord_commands(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bot {DISCORD_TOKEN}":
            return JSONResponse({"message": "401: Unauthorized", "code": 0}, 401)
        self.commands.append(await request.json())
        return JSONResponse(self.commands[-1])

    def _serve_file(self, ref: str) -> Response:
        with self._lock:
            self.fetched.append(ref)
            status = self.fail_downloads.pop(0) if self.fail_downloads else None
        if status is not None:
            return Response(b"unavailable", status)
        data = self.files.get(ref)
        if data is None:
            return Response(b"not found", 404)
        return Response(data, media_type="application/octet-stream")

    async def telegram_file(self, request: Request) -> Response:
        if request.path_params["token"] != TG_TOKEN:
            return Response(b"unauthorized", 401)
        return self._serve_file(request.path_params["path"].removeprefix("f/"))

    async def slack_file(self, request: Request) -> Response:
        self.seen_authorization.append(request.headers.get("authorization", ""))
        missing_scope = request.path_params["name"].startswith("noscope")
        if request.headers.get("authorization") != f"Bearer {SLACK_TOKEN}" or missing_scope:
            # What Slack does without the files:read scope: its sign-in page, status 200.
            return Response(b"<html>sign in</html>", media_type="text/html")
        return self._serve_file(request.path_params["name"])

    async def discord_cdn(self, request: Request) -> Response:
        self.seen_authorization.append(request.headers.get("authorization", ""))
        return self._serve_file(request.path_params["name"])

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/file/bot{token}/{path:path}", self.telegram_file, methods=["GET"]),
                Route("/slack/files/{name}", self.slack_file, methods=["GET"]),
                Route("/discord/cdn/{name}", self.discord_cdn, methods=["GET"]),
                Route("/bot{token}/{method}", self.telegram, methods=["POST"]),
                Route("/slack/api/chat.postMessage", self.slack, methods=["POST"]),
                Route(
                    "/slack/api/files.getUploadURLExternal",
                    self.slack_upload_url,
                    methods=["POST"],
                ),
                Route("/slack/upload/{file_id}", self.slack_upload, methods=["POST"]),
                Route(
                    "/slack/api/files.completeUploadExternal",
                    self.slack_complete,
                    methods=["POST"],
                ),
                Route("/graph/v21.0/{phone}/media", self.whatsapp_media, methods=["POST"]),
                Route("/graph/v21.0/{phone}/messages", self.whatsapp_messages, methods=["POST"]),
                Route(
                    "/discord/api/v10/webhooks/{app}/{token}",
                    self.discord_followup,
                    methods=["POST"],
                ),
                Route(
                    "/discord/api/v10/channels/{channel}/messages",
                    self.discord_channel_post,
                    methods=["POST"],
                ),
                Route(
                    "/discord/api/v10/applications/{app}/commands",
                    self.discord_commands,
                    methods=["PUT"],
                ),
            ]
        )

    @property
    def slack_url(self) -> str:
        return f"{self.url}/slack/api/"

    @property
    def discord_url(self) -> str:
        return f"{self.url}/discord/api/v10"


@dataclass(frozen=True)
class _Part:
    filename: str
    content_type: str
    body: bytes


async def read_form(request: Request) -> tuple[dict[str, str], dict[str, _Part]]:
    """A form's fields and files, read whole and closed (no temporary file left open)."""
    fields: dict[str, str] = {}
    files: dict[str, _Part] = {}
    async with request.form() as form:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                body = await value.read()
                files[key] = _Part(value.filename or "", value.content_type or "", body)
            else:
                fields[key] = value
    return fields, files


@contextmanager
def serve_fakes() -> Iterator[FakePlatforms]:
    """The fakes on a loopback port for the duration of the block."""
    fakes = FakePlatforms()
    with serve_app(fakes.app(), "fake platforms", ws="none") as url:
        fakes.url = url
        yield fakes


def telegram_update(
    update_id: int,
    text: str,
    user: int = 4242,
    chat: int | None = None,
    *,
    media: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A message update; with `media` (e.g. {"voice": {...}}) the text becomes its caption."""
    chat_id = user if chat is None else chat
    if media is not None:
        update = telegram_update(update_id, text, user, chat)
        message = update["message"]
        caption = message.pop("text")
        message.update(media)
        if caption:
            message["caption"] = caption
        return update
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id * 10,
            "date": 1_764_000_000,
            "chat": {"id": chat_id, "type": "private" if chat is None else "group"},
            "from": {"id": user, "is_bot": False, "first_name": "Ada"},
            "text": text,
        },
    }


def slack_event(event_id: str, text: str, user: str = "U0ADA", kind: str = "im") -> dict[str, Any]:
    if kind == "im":
        event = {
            "type": "message",
            "channel_type": "im",
            "channel": "D0DM",
            "user": user,
            "text": text,
            "ts": "1700000000.000001",
        }
    else:
        event = {
            "type": "app_mention",
            "channel": "C0GENERAL",
            "user": user,
            "text": f"<@U0BOT> {text}",
            "ts": "1700000000.000002",
        }
    return {"type": "event_callback", "event_id": event_id, "team_id": "T0", "event": event}


def discord_command(
    interaction_id: str,
    text: str,
    user: str = "80351110224678912",
    token: str = "aW50ZXJhY3Rpb24tdG9rZW4",  # noqa: S107 - a fake interaction token
) -> dict[str, Any]:
    return {
        "id": interaction_id,
        "type": 2,
        "application_id": DISCORD_APP,
        "token": token,
        "channel_id": "222233334444555566",
        "guild_id": "333344445555666677",
        "member": {"user": {"id": user, "username": "ada"}},
        "data": {
            "name": "ask",
            "type": 1,
            "options": [{"name": "message", "type": 3, "value": text}],
        },
    }


def slack_file_event(event_id: str, text: str, fakes: FakePlatforms, *names: str) -> dict[str, Any]:
    """A DM with files (subtype file_share, https://api.slack.com/events/message/file_share)."""
    payload = slack_event(event_id, text)
    payload["event"]["subtype"] = "file_share"
    payload["event"]["files"] = [
        {
            "id": f"F{index}",
            "name": name,
            "size": len(fakes.files.get(name, b"")),
            "url_private_download": f"{fakes.url}/slack/files/{name}",
        }
        for index, name in enumerate(names)
    ]
    return payload


def discord_file_command(
    interaction_id: str,
    text: str,
    fakes: FakePlatforms,
    name: str,
    token: str = "tok-F",  # noqa: S107 - a fake interaction token
) -> dict[str, Any]:
    """/ask with an attachment option (type 11) and its resolved attachment object."""
    payload = discord_command(interaction_id, text, token=token)
    options = payload["data"]["options"] if text else []
    options.append({"name": "file", "type": 11, "value": "77"})
    payload["data"]["options"] = options
    payload["data"]["resolved"] = {
        "attachments": {
            "77": {
                "id": "77",
                "filename": name,
                "size": len(fakes.files.get(name, b"")),
                "url": f"{fakes.url}/discord/cdn/{name}",
                "content_type": "application/octet-stream",
            }
        }
    }
    return payload


# Small files of each kind the agent reads: the type comes from these first bytes.
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
PDF = b"%PDF-1.4\n% a tiny not-quite PDF\n"
OGG = b"OggS\x00\x02" + bytes(range(1, 80))


def dumps(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def channel_settings(state_dir: Path, fakes: FakePlatforms, **overrides: object) -> RuntimeSettings:
    values: dict[str, object] = {
        "agent_tenant": "acme",
        "agent_edge_token": EDGE_TOKEN,
        "state_backend": "local",
        "state_dir": state_dir,
        "telegram_bot_token": TG_TOKEN,
        "telegram_api_base_url": fakes.url,
        "telegram_dm_policy": "open",
        "slack_bot_token": SLACK_TOKEN,
        "slack_api_base_url": fakes.slack_url,
        "slack_dm_policy": "open",
        "discord_application_id": DISCORD_APP,
        "discord_api_base_url": fakes.discord_url,
        "discord_dm_policy": "open",
        # WhatsApp's text flow is tested against test_whatsapp.py's fake; here files and replies.
        "whatsapp_access_token": WA_TOKEN,
        "whatsapp_phone_number_id": "106540352242922",
        "whatsapp_api_base_url": f"{fakes.url}/graph/v21.0",
        "whatsapp_dm_policy": "open",
        # The email relay's fake lives in test_email.py; here the channel is only configured.
        "email_address": "agent@example.com",
        "email_allowlist": "me@example.org",
        "email_relay_url": f"{fakes.url}/email-relay",
        # Channel sessions belong to the chat's senders: the owner reads them as an admin.
        "agent_admin_emails": "owner@example.com",
    }
    values.update(overrides)
    return RuntimeSettings(**values)  # type: ignore[arg-type]
