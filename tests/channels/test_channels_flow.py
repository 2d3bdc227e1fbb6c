"""Webhook → turn → reply, through the real app and fake platform APIs on loopback."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import suite_support
from channels_support import (
    EDGE_TOKEN,
    TG_TOKEN,
    Failure,
    FakePlatforms,
    channel_settings,
    discord_command,
    slack_event,
    telegram_update,
)
from starlette.testclient import TestClient

from agent.runtime.app import create_app
from agent.runtime.settings import RuntimeSettings

OWNER = {"X-Agent-Edge-Token": EDGE_TOKEN, "X-Agent-User": "owner@example.com"}
wait_ready = partial(suite_support.wait_ready, headers=OWNER, attempts=500)


def webhook(
    client: TestClient, channel: str, payload: dict[str, Any], rid: str | None = None
) -> Any:
    headers = {
        "X-Agent-Edge-Token": EDGE_TOKEN,
        **suite_support.INTERNAL,
        "X-Agent-User": f"channel:{channel}",
        "X-Agent-Channel": channel,
        "X-Request-Id": rid or uuid.uuid4().hex,  # the edge mints a new id per delivery
    }
    return client.post(f"/webhooks/{channel}", headers=headers, json=payload)


@pytest.fixture
def client(settings: RuntimeSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        wait_ready(test_client)
        yield test_client


def session_turns(client: TestClient, session_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/sessions/{session_id}", headers=OWNER)
    return response.json()["turns"] if response.status_code == 200 else []


def inbox(state: Path, channel: str) -> list[Path]:
    return sorted((state / "inbox" / channel).glob("*.json"))


def test_telegram_message_gets_one_reply_even_when_redelivered(
    client: TestClient, fakes: FakePlatforms, settings: RuntimeSettings
) -> None:
    first = webhook(client, "telegram", telegram_update(100, "hello bot"))
    assert first.status_code == 202
    fakes.wait_for(lambda: len(fakes.sent) == 1)
    sent = fakes.sent[0]
    assert sent.target == "4242"
    assert sent.text.startswith("[offline model] You said: 'hello bot'. This is message 1")
    turns = session_turns(client, "telegram-4242")
    assert [(t["prompt"], t["channel"], t["user"]) for t in turns] == [
        ("hello bot", "telegram", "telegram:4242")
    ]
    # Telegram retries the same update (new edge request id): recognised by update_id.
    assert webhook(client, "telegram", telegram_update(100, "hello bot")).status_code == 202
    webhook(client, "telegram", telegram_update(101, "second"))
    fakes.wait_for(lambda: len(fakes.sent) == 2)
    time.sleep(0.3)
    assert [s.text.split("'")[1] for s in fakes.sent] == ["hello bot", "second"]
    assert len(session_turns(client, "telegram-4242")) == 2
    fakes.wait_for(lambda: not inbox(settings.state_dir, "telegram"))  # done records removed


def test_slack_challenge_dm_mention_and_retry(client: TestClient, fakes: FakePlatforms) -> None:
    challenge = webhook(client, "slack", {"type": "url_verification", "challenge": "abc123"})
    assert challenge.status_code == 200
    assert challenge.json() == {"challenge": "abc123"}
    webhook(client, "slack", slack_event("Ev100", "hi from a DM"))
    webhook(client, "slack", slack_event("Ev101", "hi <channel>", kind="mention"))
    fakes.wait_for(lambda: len(fakes.sent) == 2)
    by_target = {s.target: s for s in fakes.sent}
    assert by_target["D0DM"].extra.get("thread_ts") is None
    mention = by_target["C0GENERAL"]
    assert mention.extra["thread_ts"] == "1700000000.000002"  # answered in the thread
    assert "&lt;channel&gt;" in mention.text  # the echoed text cannot ping anyone
    # Slack retries an event it thinks was lost (X-Slack-Retry-Num): same event_id, no reply.
    webhook(client, "slack", slack_event("Ev100", "hi from a DM"))
    time.sleep(0.5)
    assert len(fakes.sent) == 2


def test_discord_command_is_deferred_then_answered_by_followup(
    client: TestClient, fakes: FakePlatforms
) -> None:
    response = webhook(client, "discord", discord_command("9001", "what's 2+2?", token="tok-A"))
    assert response.status_code == 200
    assert response.json() == {"type": 5}  # "thinking..." within Discord's 3 seconds
    fakes.wait_for(lambda: len(fakes.sent) == 1)
    followup = fakes.sent[0]
    assert followup.target == "tok-A"
    assert followup.extra["allowed_mentions"] == {"parse": []}
    assert "what's 2+2?" in followup.text
    assert len(followup.text) <= 2000
    other = webhook(client, "discord", {"type": 3, "id": "1", "token": "t"})
    assert other.json()["type"] == 4  # components get a short ephemeral note


@pytest.mark.slow  # waits seconds of real time
def test_rate_limit_retry_after_is_honoured(client: TestClient, fakes: FakePlatforms) -> None:
    too_many = {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 2",
        "parameters": {"retry_after": 2},
    }
    fakes.fail("telegram", Failure(429, too_many))
    start = time.monotonic()
    webhook(client, "telegram", telegram_update(200, "busy?"))
    fakes.wait_for(lambda: len(fakes.sent) == 1)
    assert time.monotonic() - start >= 2.0  # Telegram's retry_after, not the 1 s first backoff
    assert fakes.attempts["telegram"] == 2


def test_long_reply_is_split_at_the_platform_limit(
    client: TestClient, fakes: FakePlatforms
) -> None:
    prompt = " ".join(f"w{i:04d}" for i in range(1000))  # 5,999 characters, echoed back
    webhook(client, "telegram", telegram_update(300, prompt))
    fakes.wait_for(lambda: len(fakes.sent) == 2)
    parts = fakes.texts("telegram")
    assert all(len(p) <= 4096 for p in parts)
    assert prompt in " ".join(parts)  # in order, nothing lost


def test_pairing_code_then_owner_approval(tmp_path: Path, fakes: FakePlatforms) -> None:
    settings = channel_settings(tmp_path, fakes, telegram_dm_policy="pairing")
    with TestClient(create_app(settings)) as client:
        wait_ready(client)
        webhook(client, "telegram", telegram_update(400, "let me in", user=777))
        fakes.wait_for(lambda: len(fakes.sent) == 1)
        assert "Your pairing code is" in fakes.sent[0].text
        pairings = client.get("/api/pairings", headers=OWNER).json()["pairings"]
        assert len(pairings) == 1
        code = pairings[0]["code"]
        assert pairings[0]["channel"] == "telegram"
        assert pairings[0]["sender"] == "777"
        assert code in fakes.sent[0].text
        assert session_turns(client, "telegram-777") == []  # the agent never saw it
        # Writing again gets the same code, not a new request.
        webhook(client, "telegram", telegram_update(401, "hello?", user=777))
        fakes.wait_for(lambda: len(fakes.sent) == 2)
        assert code in fakes.sent[1].text
        assert len(client.get("/api/pairings", headers=OWNER).json()["pairings"]) == 1
        # A chat identity cannot approve itself; bad and wrong codes are refused clearly.
        as_channel = dict(OWNER, **{"X-Agent-User": "channel:telegram"})
        denied = client.post(f"/api/pairings/telegram/{code}/approve", headers=as_channel)
        assert denied.status_code == 403
        bad = client.post("/api/pairings/telegram/abc/approve", headers=OWNER)
        assert bad.status_code == 422
        assert bad.json()["hint"] == "8 letters and digits, e.g. K7QM2XHP"
        wrong = client.post("/api/pairings/telegram/ZZZZZZZZ/approve", headers=OWNER)
        assert wrong.status_code == 404
        assert wrong.json()["error"] == "no pending telegram pairing with code ZZZZZZZZ"
        unknown = client.post(f"/api/pairings/irc/{code}/approve", headers=OWNER)
        assert unknown.status_code == 404
        approved = client.post(f"/api/pairings/telegram/{code.lower()}/approve", headers=OWNER)
        assert approved.status_code == 200
        body = approved.json()["approved"]
        assert (body["channel"], body["sender"], body["approved_by"]) == (
            "telegram",
            "777",
            "owner@example.com",
        )
        assert "conversation" not in body
        fakes.wait_for(lambda: len(fakes.sent) == 3)
        assert fakes.sent[2].text.startswith("You're approved")
        assert client.get("/api/pairings", headers=OWNER).json() == {"pairings": []}
        again = client.post(f"/api/pairings/telegram/{code}/approve", headers=OWNER)
        assert again.status_code == 404  # one-time
        webhook(client, "telegram", telegram_update(402, "now?", user=777))
        fakes.wait_for(lambda: len(fakes.sent) == 4)
        assert fakes.sent[3].text.startswith("[offline model] You said: 'now?'")


def test_allowlist_lets_in_only_listed_senders(tmp_path: Path, fakes: FakePlatforms) -> None:
    settings = channel_settings(
        tmp_path, fakes, slack_dm_policy="allowlist", slack_allowlist="U0ADA"
    )
    with TestClient(create_app(settings)) as client:
        wait_ready(client)
        webhook(client, "slack", slack_event("Ev1", "intruder", user="U0EVE"))
        webhook(client, "slack", slack_event("Ev2", "it's me", user="U0ADA"))
        fakes.wait_for(lambda: len(fakes.sent) == 1)
        time.sleep(0.3)
        assert len(fakes.sent) == 1
        assert "it's me" in fakes.sent[0].text
        assert client.get("/api/pairings", headers=OWNER).json() == {"pairings": []}
        channels = {
            c["channel"]: c for c in client.get("/api/channels", headers=OWNER).json()["channels"]
        }
        assert channels["slack"]["policy"] == "allowlist"


def test_invalid_channel_config_disables_that_channel_only(
    tmp_path: Path, fakes: FakePlatforms
) -> None:
    settings = channel_settings(
        tmp_path / "state", fakes, telegram_dm_policy="friends", discord_application_id="app"
    )
    with TestClient(create_app(settings)) as client:
        wait_ready(client)
        channels = client.get("/api/channels", headers=OWNER).json()["channels"]
        assert [(c["channel"], c["enabled"]) for c in channels] == [
            ("telegram", False),
            ("slack", True),
            ("discord", False),
            ("whatsapp", True),
            ("email", True),
        ]
        assert channels[0]["status"].startswith("disabled: TELEGRAM_DM_POLICY is 'friends'")
        assert channels[1]["status"] == "ready"
        assert client.post("/api/chat", headers=OWNER, json={"message": "hi"}).status_code == 200
        recorded = webhook(client, "telegram", telegram_update(1, "hi"))
        assert recorded.status_code == 202  # kept in the inbox for when the config is fixed
        webhook(client, "slack", slack_event("Ev9", "still here"))
        fakes.wait_for(lambda: len(fakes.sent) == 1)
        assert fakes.sent[0].platform == "slack"
        assert len(inbox(settings.state_dir, "telegram")) == 1


def test_permanent_failure_is_reported_without_the_token(
    tmp_path: Path, fakes: FakePlatforms, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fakes.fail(
        "telegram",
        Failure(
            403,
            {
                "ok": False,
                "error_code": 403,
                "description": "Forbidden: bot was blocked by the user",
            },
        ),
    )
    settings = channel_settings(tmp_path / "state", fakes)
    with TestClient(create_app(settings)) as client:
        wait_ready(client)
        webhook(client, "telegram", telegram_update(500, "hi"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            status = client.get("/api/channels", headers=OWNER).json()["channels"][0]["status"]
            if status != "ready":
                break
            time.sleep(0.05)
        assert status == (
            "delivery failing: telegram sendMessage: HTTP 403: "
            "Forbidden: bot was blocked by the user"
        )
        time.sleep(0.3)
        assert fakes.attempts["telegram"] == 1  # a 403 is not retried
    stored = "\n".join(p.read_text() for p in settings.state_dir.rglob("*.json"))
    assert '"status":"failed"' in stored
    assert TG_TOKEN not in stored
    assert TG_TOKEN not in caplog.text
    assert TG_TOKEN.split(":")[1] not in caplog.text
    assert "/bot<redacted>/sendMessage" in caplog.text  # httpx's request log, scrubbed


@pytest.mark.slow  # waits seconds of real time
def test_restart_delivers_a_pending_reply_exactly_once(
    tmp_path: Path, fakes: FakePlatforms
) -> None:
    settings = channel_settings(tmp_path / "state", fakes)
    fakes.fail("telegram", Failure(502, {"ok": False, "description": "Bad Gateway"}), times=1000)
    with TestClient(create_app(settings)) as client:
        wait_ready(client)
        webhook(client, "telegram", telegram_update(600, "survive a restart"))
        fakes.wait_for(lambda: fakes.attempts["telegram"] >= 1)
    assert fakes.sent == []  # the runtime stopped with the reply still pending
    pending = list((settings.state_dir / "outbox" / "pending").iterdir())
    assert len(pending) == 1
    fakes.clear_failures()
    with TestClient(create_app(settings)) as client:
        wait_ready(client)
        fakes.wait_for(lambda: len(fakes.sent) == 1)
        assert "survive a restart" in fakes.sent[0].text
        webhook(client, "telegram", telegram_update(600, "survive a restart"))  # late retry
        time.sleep(0.5)
        assert len(fakes.sent) == 1
        assert len(session_turns(client, "telegram-4242")) == 1
    assert list((settings.state_dir / "outbox" / "pending").iterdir()) == []


def test_unfinished_inbox_record_is_processed_on_startup(
    tmp_path: Path, fakes: FakePlatforms
) -> None:
    settings = channel_settings(tmp_path / "state", fakes)
    record = settings.state_dir / "inbox" / "slack" / "req-crashed.json"
    record.parent.mkdir(parents=True)
    envelope = {
        "channel": "slack",
        "request_id": "req-crashed",
        "received_at": "2026-11-26T20:00:00Z",
        "payload": slack_event("Ev700", "recorded before a crash"),
    }
    record.write_text(json.dumps(envelope))
    with TestClient(create_app(settings)) as client:
        wait_ready(client)
        fakes.wait_for(lambda: len(fakes.sent) == 1)
        assert "recorded before a crash" in fakes.sent[0].text
        fakes.wait_for(lambda: not record.exists())


def test_messages_of_one_chat_are_answered_in_order(
    client: TestClient, fakes: FakePlatforms
) -> None:
    for index in range(1, 9):
        webhook(client, "telegram", telegram_update(800 + index, f"m{index}", user=55))
    fakes.wait_for(lambda: len(fakes.sent) == 8)
    said = [s.text.split("'")[1] for s in fakes.sent]
    assert said == [f"m{index}" for index in range(1, 9)]
    for index, sent in enumerate(fakes.sent, start=1):
        assert f"This is message {index} of this session" in sent.text
    assert [t["prompt"] for t in session_turns(client, "telegram-55")] == said


@pytest.mark.parametrize(
    "payload",
    [
        {"update_id": 5, "message": {"chat": "nonsense"}},
        {"update_id": 6, "message": {"message_id": 1, "date": "x", "chat": {"id": 1}}},
        {"update_id": "seven"},
    ],
)
def test_malformed_events_are_ignored_not_fatal(
    client: TestClient, fakes: FakePlatforms, settings: RuntimeSettings, payload: dict[str, Any]
) -> None:
    assert webhook(client, "telegram", payload).status_code == 202
    fakes.wait_for(lambda: not inbox(settings.state_dir, "telegram"))
    webhook(client, "telegram", telegram_update(900, "still fine"))
    fakes.wait_for(lambda: len(fakes.sent) == 1)
