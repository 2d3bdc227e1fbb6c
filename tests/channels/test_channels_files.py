"""Files the agent sends back: each platform's upload against the loopback fakes (bytes, name and
type as they arrived), the webhook → send_file → outbox path, and a restart mid-delivery."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import suite_support
from channels_support import (
    DISCORD_APP,
    DISCORD_TOKEN,
    EDGE_TOKEN,
    SLACK_TOKEN,
    TG_TOKEN,
    WA_TOKEN,
    FakePlatforms,
    telegram_update,
)
from starlette.testclient import TestClient

from agent.runtime.app import create_app
from agent.runtime.attachments import Attachment, AttachmentInfo, owner_of, save
from agent.runtime.channels.discord import DiscordChannel
from agent.runtime.channels.slack import SlackChannel
from agent.runtime.channels.telegram import TelegramChannel
from agent.runtime.channels.whatsapp import WhatsAppChannel
from agent.runtime.outbox import Outbox, OutboxFile
from agent.runtime.settings import RuntimeSettings
from agent.runtime.store.local import LocalDirStore

OWNER = {"X-Agent-Edge-Token": EDGE_TOKEN, "X-Agent-User": "owner@example.com"}
wait_ready = partial(suite_support.wait_ready, headers=OWNER, attempts=500)
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360f8cfc0f01f0005000201a5d6c3c10000000049454e44ae426082"
)
NOTES = b"# Memory\n- the cat is called Tom\n"
PHONE = "106540352242922"


def attachment(body: bytes, name: str, kind: str) -> Attachment:
    digest = hashlib.sha256(body).hexdigest()
    return Attachment(AttachmentInfo(id=digest, name=name, type=kind, size=len(body)), body)


def adapter(platform: str, fakes: FakePlatforms, http: httpx.AsyncClient) -> Any:
    if platform == "telegram":
        return TelegramChannel(TG_TOKEN, fakes.url, http)
    if platform == "slack":
        return SlackChannel(SLACK_TOKEN, fakes.slack_url, http)
    if platform == "discord":
        return DiscordChannel(DISCORD_APP, fakes.discord_url, http, DISCORD_TOKEN)
    return WhatsAppChannel(WA_TOKEN, PHONE, f"{fakes.url}/graph/v21.0", http)


# platform, conversation, file -> (target, method, what else must have arrived)
CASES = [
    ("telegram", "4242", "png", ("4242", "sendPhoto", {})),
    ("telegram", "4242", "text", ("4242", "sendDocument", {})),
    ("slack", "D0AGENT", "png", ("D0AGENT", "files.completeUploadExternal", {})),
    (
        "slack",
        "C0CHAN/1700000000.000100",
        "text",
        ("C0CHAN", "files.completeUploadExternal", {"thread_ts": "1700000000.000100"}),
    ),
    ("discord", "interaction-token-1", "png", ("interaction-token-1", "message", {})),
    ("discord", "channel:5150", "text", ("channel:5150", "message", {})),
    ("whatsapp", "15551234567", "png", ("15551234567", "image", {})),
    ("whatsapp", "15551234567", "text", ("15551234567", "document", {})),
]


@pytest.mark.parametrize(("platform", "conversation", "kind", "expected"), CASES)
def test_each_platform_receives_the_file_as_documented(
    fakes: FakePlatforms,
    platform: str,
    conversation: str,
    kind: str,
    expected: tuple[str, str, dict[str, str]],
) -> None:
    file = (
        attachment(PNG, "shot.png", "image/png")
        if kind == "png"
        else attachment(NOTES, "MEMORY.md", "text/plain")
    )

    async def scenario() -> None:
        async with httpx.AsyncClient() as http:
            await adapter(platform, fakes, http).deliver_file(conversation, file)

    asyncio.run(scenario())
    [upload] = fakes.uploads
    target, method, extra = expected
    assert (upload.platform, upload.target, upload.method) == (platform, target, method)
    assert (upload.filename, upload.body) == (file.info.name, file.body)
    if platform != "slack":  # Slack takes the bytes without a type; it reads them itself
        assert upload.content_type == file.info.type
    for key, value in extra.items():
        assert upload.extra[key] == value
    if platform == "discord":
        assert upload.extra["attachments"] == [{"id": 0, "filename": file.info.name}]
        assert upload.extra["allowed_mentions"] == {"parse": []}
    if platform == "whatsapp" and kind == "text":
        assert upload.extra["document"]["filename"] == "MEMORY.md"


def webhook(client: TestClient, payload: dict[str, Any]) -> Any:
    headers = {
        "X-Agent-Edge-Token": EDGE_TOKEN,
        **suite_support.INTERNAL,
        "X-Agent-User": "channel:telegram",
        "X-Agent-Channel": "telegram",
        "X-Request-Id": uuid.uuid4().hex,
    }
    return client.post("/webhooks/telegram", headers=headers, json=payload)


@pytest.fixture
def client(settings: RuntimeSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        wait_ready(test_client)
        yield test_client


def test_a_screenshot_the_agent_sends_reaches_telegram_after_the_reply(
    client: TestClient, fakes: FakePlatforms, settings: RuntimeSettings
) -> None:
    shots = settings.state_dir / "workspace" / "screenshots"
    shots.mkdir(parents=True)
    (shots / "shot.png").write_bytes(PNG)  # what the browser tool's screenshot stored
    assert webhook(client, telegram_update(300, "send me screenshots/shot.png")).status_code == 202
    fakes.wait_for(lambda: len(fakes.uploads) == 1)
    [reply] = fakes.texts("telegram")
    assert reply.startswith("[offline model] Here it is: sent shot.png (image/png")
    [upload] = fakes.uploads
    assert (upload.method, upload.target, upload.filename, upload.body) == (
        "sendPhoto",
        "4242",
        "shot.png",
        PNG,
    )
    # The turn names the file; the outbox record names the stored attachment, not its bytes.
    turn = client.get("/api/sessions/telegram-4242", headers=OWNER).json()["turns"][0]
    assert [f["name"] for f in turn["files"]] == ["shot.png"]
    [record_path] = (settings.state_dir / "outbox" / "messages").glob("*.json")
    # The fake has the upload before the outbox records it as sent: wait for the record.
    fakes.wait_for(lambda: json.loads(record_path.read_text())["status"] == "sent")
    record = json.loads(record_path.read_text())
    digest = hashlib.sha256(PNG).hexdigest()
    assert record["files"] == [
        {"owner": owner_of("telegram:4242"), "id": digest, "name": "shot.png"}
    ]
    assert (record["status"], record["sent_parts"], record["sent_files"]) == ("sent", 1, 1)
    assert PNG.hex() not in record_path.read_text()


def test_a_memory_file_that_does_not_exist_is_not_sent(
    client: TestClient, fakes: FakePlatforms
) -> None:
    webhook(client, telegram_update(301, "send me memory/2026-01-01.md"))
    fakes.wait_for(lambda: len(fakes.sent) == 1)
    assert fakes.uploads == []


class HangsOnFiles:
    """The real adapter for text; a file upload that never finishes (the runtime dies there)."""

    max_chars = 4096

    def __init__(self, inner: TelegramChannel) -> None:
        self.inner = inner

    async def deliver(self, conversation: str, text: str) -> None:
        await self.inner.deliver(conversation, text)

    async def deliver_file(self, conversation: str, file: Attachment) -> None:
        await asyncio.sleep(3600)


def test_a_file_delivery_survives_a_restart_and_the_text_is_not_repeated(
    tmp_path: Path, fakes: FakePlatforms
) -> None:
    store = LocalDirStore(tmp_path / "state")

    async def scenario() -> None:
        async with httpx.AsyncClient() as http:
            telegram = TelegramChannel(TG_TOKEN, fakes.url, http)
            info = await save(store, "telegram:4242", "shot.png", PNG)
            files = [OutboxFile(owner=owner_of("telegram:4242"), id=info.id, name=info.name)]
            first = Outbox(store, {"telegram": HangsOnFiles(telegram)})
            await first.send("telegram", "4242", "here it is", idempotency_key="k", files=files)

            # The fake has the text a moment before the outbox records it as sent: wait for the
            # record, so the runtime stops while the file (not the text) is on its way.
            async def text_recorded() -> bool:
                record = await first.get("k")
                return record is not None and record.sent_parts == 1

            await suite_support.until(text_recorded, lambda: fakes.sent)
            await first.close()
            record = await first.get("k")
            assert record is not None
            assert (record.status, record.sent_parts, record.sent_files) == ("pending", 1, 0)
            assert len(fakes.sent) == 1

            second = Outbox(store, {"telegram": telegram})
            assert await second.start() == 1
            await asyncio.wait_for(second.idle(), suite_support.HANG_S)
            done = await second.get("k")
            assert done is not None
            assert (done.status, done.sent_files) == ("sent", 1)

    asyncio.run(scenario())
    assert fakes.texts("telegram") == ["here it is"]  # not sent twice
    [upload] = fakes.uploads
    assert (upload.method, upload.body) == ("sendPhoto", PNG)


def test_an_expired_attachment_fails_the_message_with_the_reason(
    tmp_path: Path, fakes: FakePlatforms
) -> None:
    store = LocalDirStore(tmp_path / "state")

    async def scenario() -> str | None:
        async with httpx.AsyncClient() as http:
            outbox = Outbox(store, {"telegram": TelegramChannel(TG_TOKEN, fakes.url, http)})
            gone = OutboxFile(owner=owner_of("telegram:4242"), id="a" * 64, name="old.png")
            await outbox.send("telegram", "4242", "see", idempotency_key="x", files=[gone])
            await asyncio.wait_for(outbox.idle(), suite_support.HANG_S)
            record = await outbox.get("x")
            assert record is not None
            assert record.status == "failed"
            return record.last_error

    assert asyncio.run(scenario()) == "telegram: file 'old.png' is no longer stored (expired?)"
    assert fakes.texts("telegram") == ["see"]
