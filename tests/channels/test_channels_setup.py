"""Set-up commands (Telegram setWebhook, Discord command registration) and per-platform 429s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import httpx
import pytest
import suite_support
from channels_support import (
    DISCORD_APP,
    DISCORD_TOKEN,
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

from agent.runtime.app import AppDeps, create_app
from agent.runtime.channels import discord, telegram
from agent.runtime.channels.base import DeliveryError
from agent.runtime.channels.discord import DiscordChannel
from agent.runtime.channels.inbox import TURN_CONCURRENCY
from agent.runtime.engine import EngineEvent, TurnOutcome
from agent.runtime.jobs.origin import current_origin

SECRET = "edge-checked-secret_123"
wait_ready = partial(
    suite_support.wait_ready, headers={"X-Agent-Edge-Token": EDGE_TOKEN}, attempts=500
)


def test_set_webhook_sends_url_and_secret_and_prints_neither_secret(
    fakes: FakePlatforms, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TG_TOKEN)
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", SECRET)
    url = "https://agent.example.com/webhooks/telegram"
    code = telegram._cli(["set-webhook", "--url", url, "--api-base-url", fakes.url])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert fakes.webhooks == [{"url": url, "secret_token": SECRET, "allowed_updates": ["message"]}]
    assert out.out == f"webhook set: {url} (secret token sent; updates: message)\n"
    assert SECRET not in out.out + out.err
    assert TG_TOKEN not in out.out + out.err


def test_set_webhook_refuses_bad_input_clearly(
    fakes: FakePlatforms, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.delenv("TELEGRAM_WEBHOOK_SECRET", raising=False)
    assert telegram._cli(["set-webhook", "--url", "https://a.example/webhooks/telegram"]) == 2
    assert "TELEGRAM_BOT_TOKEN, TELEGRAM_WEBHOOK_SECRET not set" in capsys.readouterr().err
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TG_TOKEN)
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", SECRET)
    assert telegram._cli(["set-webhook", "--url", "http://a.example/hook"]) == 2
    assert "must be https://<host>/webhooks/telegram" in capsys.readouterr().err
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "999:" + "x" * 35)  # the fake rejects it
    code = telegram._cli(
        ["set-webhook", "--url", "https://a.example/webhooks/telegram", "--api-base-url", fakes.url]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert err == "set-webhook failed: telegram setWebhook: HTTP 401: Unauthorized\n"
    assert fakes.webhooks == []


def test_register_commands(
    fakes: FakePlatforms, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DISCORD_APPLICATION_ID", DISCORD_APP)
    monkeypatch.setenv("DISCORD_BOT_TOKEN", "wrong")
    assert discord._cli(["register-commands", "--api-base-url", fakes.discord_url]) == 1
    assert "HTTP 401 (check DISCORD_BOT_TOKEN)" in capsys.readouterr().err
    monkeypatch.setenv("DISCORD_BOT_TOKEN", DISCORD_TOKEN)
    assert discord._cli(["register-commands", "--api-base-url", fakes.discord_url]) == 0
    assert capsys.readouterr().out == "registered /ask\n"
    assert fakes.commands == [[discord.ASK_COMMAND]]


def post(client: TestClient, channel: str, payload: dict[str, object], rid: str) -> None:
    headers = {
        "X-Agent-Edge-Token": EDGE_TOKEN,
        **suite_support.INTERNAL,
        "X-Agent-User": f"channel:{channel}",
        "X-Agent-Channel": channel,
        "X-Request-Id": rid,
    }
    assert client.post(f"/webhooks/{channel}", headers=headers, json=payload).is_success


@pytest.mark.slow  # waits seconds of real time
def test_slack_and_discord_rate_limits_are_honoured(tmp_path: Path, fakes: FakePlatforms) -> None:
    fakes.fail("slack", Failure(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "2"}))
    fakes.fail(
        "discord",
        Failure(
            429, {"message": "You are being rate limited.", "retry_after": 1.5, "global": False}
        ),
    )
    with TestClient(create_app(channel_settings(tmp_path, fakes))) as client:
        wait_ready(client)
        start = time.monotonic()
        post(client, "slack", slack_event("EvRL", "slow down"), "r1")
        post(client, "discord", discord_command("4242", "slow down too"), "r2")
        fakes.wait_for(lambda: len(fakes.sent) == 2)
        elapsed = time.monotonic() - start
    assert elapsed >= 2.0  # Slack's Retry-After header (the first backoff alone is 1 s)
    first, second = fakes.attempt_times["slack"]
    assert second - first >= 2.0
    first, second = fakes.attempt_times["discord"]
    assert second - first >= 1.5  # Discord's retry_after from the JSON body
    assert fakes.attempts == {"telegram": 0, "slack": 2, "discord": 2}
    assert sorted(s.platform for s in fakes.sent) == ["discord", "slack"]


class OriginEcho:
    """An engine whose reply names the reply origin a scheduling tool would see."""

    model_label = "origin-echo"
    offline = True

    async def start(self) -> None:
        return None

    async def turn(  # type: ignore[no-untyped-def]
        self, history, prompt, deps
    ) -> AsyncIterator[EngineEvent]:
        origin = current_origin(deps.channel, deps.session_id)
        yield TurnOutcome(reply=f"origin {origin.channel} {origin.conversation}", messages=[])

    async def close(self) -> None:
        return None


def test_turns_from_a_chat_carry_its_reply_origin_for_scheduled_jobs(
    tmp_path: Path, fakes: FakePlatforms
) -> None:
    app = create_app(channel_settings(tmp_path, fakes), AppDeps(engine=OriginEcho()))
    with TestClient(app) as client:
        wait_ready(client)
        post(client, "telegram", telegram_update(1, "remind me"), "o1")
        post(client, "slack", slack_event("EvO", "remind me", kind="mention"), "o2")
        post(client, "discord", discord_command("777", "remind me", token="tok-O"), "o3")
        fakes.wait_for(lambda: len(fakes.sent) == 3)
    assert sorted(s.text for s in fakes.sent) == [
        "origin discord channel:222233334444555566",  # outlives the 15-minute interaction
        "origin slack C0GENERAL/1700000000.000002",
        "origin telegram 4242",
    ]


@pytest.mark.anyio
async def test_discord_channel_posts_need_the_bot_token(fakes: FakePlatforms) -> None:
    async with httpx.AsyncClient() as http:
        without = DiscordChannel(DISCORD_APP, fakes.discord_url, http)
        with pytest.raises(DeliveryError, match="needs DISCORD_BOT_TOKEN") as refused:
            await without.deliver("channel:222233334444555566", "job done")
        assert refused.value.retryable is False
        bot = DiscordChannel(DISCORD_APP, fakes.discord_url, http, DISCORD_TOKEN)
        await bot.deliver("channel:222233334444555566", "job done")
    assert [(s.target, s.text) for s in fakes.sent] == [("channel:222233334444555566", "job done")]
    assert fakes.sent[0].extra["allowed_mentions"] == {"parse": []}


class Broken:
    """An engine whose provider is down."""

    model_label = "broken"
    offline = False

    async def start(self) -> None:
        return None

    async def turn(  # type: ignore[no-untyped-def]
        self, history, prompt, deps
    ) -> AsyncIterator[EngineEvent]:
        raise ConnectionError("provider unreachable")
        yield  # an async generator, like a real engine

    async def close(self) -> None:
        return None


def test_a_failed_turn_gets_one_apology_and_leaves_nothing_behind(
    tmp_path: Path, fakes: FakePlatforms
) -> None:
    settings = channel_settings(tmp_path / "state", fakes)
    with TestClient(create_app(settings, AppDeps(engine=Broken()))) as client:
        wait_ready(client)
        post(client, "telegram", telegram_update(1, "hello?"), "f1")
        post(client, "discord", discord_command("31337", "anyone?", token="tok-F"), "f2")
        fakes.wait_for(lambda: len(fakes.sent) == 2)
        post(client, "telegram", telegram_update(1, "hello?"), "f3")  # redelivery
        time.sleep(0.3)
    assert len(fakes.sent) == 2
    assert all(s.text.startswith("Sorry, the agent could not answer") for s in fakes.sent)
    assert {s.target for s in fakes.sent} == {"4242", "tok-F"}  # Discord stops "thinking..."
    assert not (settings.state_dir / "sessions").exists()  # a failed turn is never stored
    assert list((settings.state_dir / "inbox").rglob("*.json")) == []


class Slow:
    """An engine that takes a while and counts how many turns run at once."""

    model_label = "slow"
    offline = True

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0
        self.full = asyncio.Event()  # set once TURN_CONCURRENCY turns run at the same time

    async def start(self) -> None:
        return None

    async def turn(  # type: ignore[no-untyped-def]
        self, history, prompt, deps
    ) -> AsyncIterator[EngineEvent]:
        self.running += 1
        self.peak = max(self.peak, self.running)
        if self.running == TURN_CONCURRENCY:
            self.full.set()
        try:
            # Every turn holds its slot until the limit has been reached once, so the burst piles
            # up whatever the machine's speed (the timeout is only a hang guard).
            await asyncio.wait_for(self.full.wait(), suite_support.HANG_S)
        finally:
            self.running -= 1
        yield TurnOutcome(reply=f"done {prompt}", messages=[])

    async def close(self) -> None:
        return None


@pytest.mark.slow  # over half a second of CPU (make test-cost)
def test_a_burst_over_many_chats_runs_a_bounded_number_of_turns(
    tmp_path: Path, fakes: FakePlatforms
) -> None:
    engine = Slow()
    with TestClient(
        create_app(channel_settings(tmp_path, fakes), AppDeps(engine=engine))
    ) as client:
        wait_ready(client)
        for chat in range(30):
            post(
                client,
                "telegram",
                telegram_update(5000 + chat, f"c{chat}", user=9000 + chat),
                f"b{chat}",
            )
        fakes.wait_for(lambda: len(fakes.sent) == 30)
    assert engine.peak == TURN_CONCURRENCY  # reached, never exceeded
    assert sorted(s.text for s in fakes.sent) == sorted(f"done c{chat}" for chat in range(30))
