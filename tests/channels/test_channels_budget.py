"""A reached spend limit in a chat channel: the sender gets the plain budget message once, the
record is finished (not retried into the wall), and nothing is stored as a turn."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pydantic_ai.models
import pytest
import suite_support
from channels_support import FakePlatforms, channel_settings, telegram_update
from fake_ai_gateway import RUN_TOKEN, FakeAiGateway, fake_ai_gateway
from starlette.testclient import TestClient
from test_channels_flow import OWNER, inbox, session_turns, webhook

from agent.runtime.app import create_app

wait_ready = partial(suite_support.wait_ready, headers=OWNER, attempts=500)


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAiGateway]:
    monkeypatch.setattr(pydantic_ai.models, "ALLOW_MODEL_REQUESTS", True)  # loopback only
    with fake_ai_gateway() as running:
        yield running


@pytest.mark.slow  # over half a second of CPU (make test-cost)
def test_telegram_sender_is_told_the_budget_once(
    tmp_path: Path, fakes: FakePlatforms, gateway: FakeAiGateway
) -> None:
    settings = channel_settings(
        tmp_path / "state",
        fakes,
        agent_model="openai:gpt-5-mini",
        ai_gateway_base_url=gateway.base_url,
        ai_gateway_token=RUN_TOKEN,
        agent_user_spend_limit_daily_usd="1.50",
    )
    gateway.spend_limit = {"error": [{"code": 2019, "message": "Spend limit: user-daily"}]}
    with TestClient(create_app(settings)) as client:
        wait_ready(client)
        assert webhook(client, "telegram", telegram_update(300, "hello")).status_code == 202
        fakes.wait_for(lambda: len(fakes.sent) == 1)
        assert (
            fakes.sent[0].text == "Your budget of $1.50 for today is used; it resets at 00:00 UTC."
        )
        fakes.wait_for(lambda: not inbox(settings.state_dir, "telegram"))  # finished, not retried
        assert session_turns(client, "telegram-4242") == []
        # The same update redelivered is a duplicate: no second model call, no second message.
        assert webhook(client, "telegram", telegram_update(300, "hello")).status_code == 202
        fakes.wait_for(lambda: not inbox(settings.state_dir, "telegram"))
    assert len(gateway.calls) == 1
    assert gateway.calls[0].metadata is not None
    assert gateway.calls[0].metadata["channel"] == "telegram"
    assert gateway.calls[0].metadata["user"] == "telegram:4242"
    assert len(fakes.sent) == 1
