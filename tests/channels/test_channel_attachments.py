"""Files from channels: fetched with the bot token and stored before the webhook is acknowledged.

Telegram photos, documents and voice notes, Slack files and Discord attachments go through the
real app to fake platform APIs on loopback (channels_support.py); WhatsApp media is covered in
test_whatsapp.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from channels_support import (
    OGG,
    PDF,
    PNG,
    SLACK_TOKEN,
    TG_TOKEN,
    FakePlatforms,
    channel_settings,
    discord_file_command,
    slack_file_event,
    telegram_update,
)
from starlette.testclient import TestClient
from test_channels_flow import OWNER, session_turns, wait_ready, webhook

from agent.runtime.app import create_app
from agent.runtime.attachments import owner_of
from agent.runtime.channels.base import RemoteFile
from agent.runtime.channels.files import FileRefused, download, platform_url
from agent.runtime.errors import DeliveryError
from agent.runtime.settings import RuntimeSettings

BIG_PNG = PNG + b"the larger size" * 20


def stored(state: Path, user: str) -> dict[str, bytes]:
    """The attachment bytes stored for `user`, by id."""
    folder = state / "attachments" / owner_of(user)
    files = folder.glob("*") if folder.exists() else []
    return {p.name: p.read_bytes() for p in files if p.suffix == "" and p.is_file()}


def read_all(root: Path) -> Iterator[bytes]:
    """Every stored object's bytes (one deleted meanwhile is skipped)."""
    for path in root.rglob("*"):
        try:
            yield path.read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            continue


def sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def make_client(settings: RuntimeSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        wait_ready(test_client)
        yield test_client


@pytest.fixture
def client(settings: RuntimeSettings) -> Iterator[TestClient]:
    yield from make_client(settings)


@pytest.fixture
def small_cap_client(tmp_path: Path, fakes: FakePlatforms) -> Iterator[TestClient]:
    settings = channel_settings(tmp_path / "state", fakes, agent_attachment_max_bytes=1024)
    yield from make_client(settings)


def photo(fakes: FakePlatforms) -> dict[str, Any]:
    fakes.files.update({"ph-small": PNG, "ph-big": BIG_PNG})
    sizes = [
        {"file_id": "ph-small", "file_unique_id": "s", "width": 90, "height": 60},
        {"file_id": "ph-big", "file_unique_id": "b", "width": 1280, "height": 960},
    ]
    return {"photo": sizes}


@pytest.mark.slow  # over half a second of CPU (make test-cost)
def test_telegram_photo_document_and_voice_are_stored_before_the_ack(
    client: TestClient, fakes: FakePlatforms, settings: RuntimeSettings
) -> None:
    state, user = settings.state_dir, "telegram:4242"
    fakes.files.update({"doc-1": PDF, "voice-1": OGG})
    response = webhook(
        client, "telegram", telegram_update(300, "what is this?", media=photo(fakes))
    )
    assert response.status_code == 202
    # Acknowledged, so stored, before the turn ran: the largest size only.
    assert stored(state, user) == {sha(BIG_PNG): BIG_PNG}
    document = {"document": {"file_id": "doc-1", "file_name": "report.pdf", "file_size": len(PDF)}}
    assert webhook(client, "telegram", telegram_update(301, "", media=document)).status_code == 202
    voice = {"voice": {"file_id": "voice-1", "duration": 3, "mime_type": "audio/ogg"}}
    assert webhook(client, "telegram", telegram_update(302, "", media=voice)).status_code == 202
    assert set(stored(state, user)) == {sha(BIG_PNG), sha(PDF), sha(OGG)}
    fakes.wait_for(lambda: len(fakes.sent) == 3)
    photo_reply, document_reply, voice_reply = fakes.texts("telegram")
    assert "You said: 'what is this?' and attached 1 file(s)" in photo_reply
    assert "image/png" in photo_reply
    assert "report.pdf (application/pdf" in document_reply  # a file with no text works
    assert "voice.ogg (audio/ogg" in voice_reply
    turns = session_turns(client, "telegram-4242")
    assert [[a["type"] for a in t["attachments"]] for t in turns] == [
        ["image/png"],
        ["application/pdf"],
        ["audio/ogg"],
    ]
    assert fakes.fetched == ["ph-big", "doc-1", "voice-1"]
    # Telegram redelivers the photo: nothing is fetched, stored or answered twice.
    again = telegram_update(300, "what is this?", media=photo(fakes))
    assert webhook(client, "telegram", again).status_code == 202
    # The same bytes in a new message are the same attachment (content-addressed).
    document_again = telegram_update(303, "and again", media=document)
    assert webhook(client, "telegram", document_again).status_code == 202
    fakes.wait_for(lambda: len(fakes.sent) == 4)
    assert fakes.fetched == ["ph-big", "doc-1", "voice-1", "doc-1"]
    assert len(stored(state, user)) == 3
    assert len(session_turns(client, "telegram-4242")) == 4


def test_a_failed_download_is_not_acknowledged_and_the_redelivery_is_stored_once(
    client: TestClient,
    fakes: FakePlatforms,
    settings: RuntimeSettings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    update = telegram_update(310, "look", media=photo(fakes))
    fakes.fail_downloads.append(503)
    refused = webhook(client, "telegram", update)
    assert refused.status_code == 502  # the edge lets it back in; Telegram retries
    assert "redelivers" in refused.json()["hint"]
    assert stored(settings.state_dir, "telegram:4242") == {}
    assert not list((settings.state_dir / "inbox").rglob("*.json"))  # not recorded either
    assert webhook(client, "telegram", update).status_code == 202
    fakes.wait_for(lambda: len(fakes.sent) == 1)
    assert webhook(client, "telegram", update).status_code == 202  # once more, after the answer
    assert len(stored(settings.state_dir, "telegram:4242")) == 1
    assert fakes.fetched == ["ph-big", "ph-big"]  # the third delivery fetched nothing
    # The bot token is in the getFile and download URLs: never in a log, an answer or the state.
    assert TG_TOKEN not in caplog.text
    assert TG_TOKEN not in refused.text
    assert TG_TOKEN.encode() not in b"".join(read_all(settings.state_dir))


def test_too_large_or_unreadable_files_are_refused_with_a_clear_reply(
    small_cap_client: TestClient, fakes: FakePlatforms, tmp_path: Path
) -> None:
    client = small_cap_client
    big = b"%PDF-1.4\n" + b"x" * 5000
    fakes.files.update({"big": big, "zip": b"PK\x03\x04" + bytes(200)})
    # Telegram states the size: refused before any download.
    stated = {"document": {"file_id": "big", "file_name": "scan.pdf", "file_size": len(big)}}
    assert webhook(client, "telegram", telegram_update(320, "", media=stated)).status_code == 202
    # Discord states a wrong (small) size: the streamed download is cut off at the cap.
    fakes.files["huge.pdf"] = big
    lying = discord_file_command("9100", "read this", fakes, "huge.pdf", token="tok-big")
    lying["data"]["resolved"]["attachments"]["77"]["size"] = 10
    assert webhook(client, "discord", lying).json() == {"type": 5}
    unreadable = {"document": {"file_id": "zip", "file_name": "notes.docx"}}
    assert (
        webhook(client, "telegram", telegram_update(321, "", media=unreadable)).status_code == 202
    )
    fakes.wait_for(lambda: len(fakes.sent) == 3)
    too_big, docx = fakes.texts("telegram")
    assert too_big.startswith("I could not take your message: scan.pdf is larger than 1 KiB")
    assert "AGENT_ATTACHMENT_MAX_BYTES" in too_big
    assert "notes.docx: not stored" in docx
    assert "PDFs" in docx
    assert "huge.pdf is larger than 1 KiB" in fakes.texts("discord")[0]
    assert fakes.fetched == ["huge.pdf", "zip"]  # scan.pdf was never downloaded
    assert not (tmp_path / "state" / "sessions").exists()  # no turn ran for any of them


def test_slack_files_are_fetched_with_the_bot_token_and_a_missing_scope_is_named(
    client: TestClient, fakes: FakePlatforms, settings: RuntimeSettings
) -> None:
    fakes.files["chart.png"] = PNG
    assert webhook(client, "slack", slack_file_event("EvF1", "", fakes, "chart.png")).status_code
    assert stored(settings.state_dir, "slack:U0ADA") == {sha(PNG): PNG}
    fakes.wait_for(lambda: len(fakes.sent) == 1)
    assert "chart.png (image/png" in fakes.sent[0].text
    assert fakes.seen_authorization == [f"Bearer {SLACK_TOKEN}"]
    # Without files:read Slack answers its sign-in page (status 200): refused, and said why.
    fakes.files["noscope.png"] = PNG
    webhook(client, "slack", slack_file_event("EvF2", "and this?", fakes, "noscope.png"))
    fakes.wait_for(lambda: len(fakes.sent) == 2)
    assert "files:read" in fakes.sent[1].text


def test_discord_attachment_alone_is_answered_and_no_token_goes_to_the_cdn(
    client: TestClient, fakes: FakePlatforms, settings: RuntimeSettings
) -> None:
    fakes.files["memo.txt"] = b"buy milk\n"
    response = webhook(client, "discord", discord_file_command("9200", "", fakes, "memo.txt"))
    assert response.json() == {"type": 5}
    assert stored(settings.state_dir, "discord:80351110224678912") == {
        sha(b"buy milk\n"): b"buy milk\n"
    }
    fakes.wait_for(lambda: len(fakes.sent) == 1)
    assert "memo.txt (text/plain, 9 bytes)" in fakes.sent[0].text
    assert fakes.seen_authorization == [""]


def test_expired_attachments_still_render_and_say_so(
    client: TestClient, fakes: FakePlatforms, settings: RuntimeSettings
) -> None:
    from datetime import UTC, datetime, timedelta

    from agent.runtime.attachment_retention import attachment_retention
    from agent.runtime.store.local import LocalDirStore

    webhook(client, "telegram", telegram_update(330, "keep this", media=photo(fakes)))
    fakes.wait_for(lambda: len(fakes.sent) == 1)
    [turn] = session_turns(client, "telegram-4242")
    assert turn["attachments"][0]["expired"] is False
    # The owner reads the chat as an admin, and sees the sender's file (audited); nobody else.
    url = f"/api/attachments/{sha(BIG_PNG)}?user=telegram:4242"
    served = client.get(url, headers=OWNER)
    assert (served.status_code, served.content) == (200, BIG_PNG)
    assert list((settings.state_dir / "audit").rglob("*.json"))
    mallory = {**OWNER, "X-Agent-User": "mallory@example.com"}
    assert client.get(url, headers=mallory).status_code == 404
    assert client.get(f"/api/attachments/{sha(BIG_PNG)}", headers=OWNER).status_code == 404

    async def sweep(days_later: int) -> int:
        later = datetime.now(UTC) + timedelta(days=days_later)
        retention = attachment_retention(
            LocalDirStore(settings.state_dir), days=90, clock=lambda: later
        )
        return (await retention.sweep()).deleted

    assert asyncio.run(sweep(89)) == 0
    assert stored(settings.state_dir, "telegram:4242")
    assert asyncio.run(sweep(91)) == 1
    assert stored(settings.state_dir, "telegram:4242") == {}
    [turn] = session_turns(client, "telegram-4242")
    assert turn["prompt"] == "keep this"
    shown = turn["attachments"][0]
    assert {k: shown[k] for k in ("id", "name", "type", "size", "expired")} == {
        "id": sha(BIG_PNG),
        "name": "photo-3300.jpg",
        "type": "image/png",
        "size": len(BIG_PNG),
        "expired": True,
    }
    assert client.get(url, headers=OWNER).status_code == 404


def test_a_strangers_files_are_not_fetched(tmp_path: Path, fakes: FakePlatforms) -> None:
    settings = channel_settings(tmp_path / "state", fakes, telegram_dm_policy="pairing")
    for client in make_client(settings):
        update = telegram_update(340, "hi", media=photo(fakes))
        assert webhook(client, "telegram", update).status_code == 202
        fakes.wait_for(lambda: len(fakes.sent) == 1)
    assert "pairing code" in fakes.sent[0].text
    assert fakes.fetched == []
    assert not (tmp_path / "state" / "attachments").exists()


# --- the download helpers, without an app -------------------------------------------------------


def test_tokens_never_leave_for_other_hosts_nor_appear_in_errors() -> None:
    file = RemoteFile("https://evil.example/f.png", "f.png")
    with pytest.raises(FileRefused, match=r"not on files\.slack\.com"):
        platform_url(file.ref, hosts=("files.slack.com",), api_base="https://slack.com/api/")
    assert platform_url(
        "https://files.slack.com/files-pri/T1-F1/a.png",
        hosts=("files.slack.com",),
        api_base="https://slack.com/api/",
    )
    with pytest.raises(FileRefused):  # plain http to the right host is refused too
        platform_url(
            "http://files.slack.com/x", hosts=("files.slack.com",), api_base="https://slack.com/"
        )

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    async def attempt() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(unreachable)) as http:
            url = f"https://api.telegram.org/file/bot{TG_TOKEN}/photos/a.jpg"
            await download(http, "telegram file", url, file, 1000, secrets=(TG_TOKEN,))

    with pytest.raises(DeliveryError) as caught:
        asyncio.run(attempt())
    assert caught.value.retryable
    assert TG_TOKEN not in str(caught.value)
    assert "<redacted>" in str(caught.value)
