"""OpenClaw's channels on the edge's webhooks, in process: the rendered Telegram block (webhook
mode, or long polling with a warning), and `/webhooks/*` of the OpenClaw runtime in front of a
stand-in for OpenClaw's Telegram listener: 200 only for a durable adoption, 503 (Telegram
retries) when it is not, 502 when OpenClaw refuses the secret the edge accepted, 404 for unserved
channels (Slack: test_openclaw_slack.py). The real listener is exercised by
test_openclaw_real_channels.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from openclaw_support import EDGE, EDGE_TOKEN, free_port
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient
from suite_support import serve_app
from test_openclaw_ui_routes import settings, wait_ready

from agent.runtime.app import create_app
from agent.runtime.edge_auth import internal_credential
from agent.runtime.openclaw.channels import channel_warnings
from agent.runtime.openclaw.config import OpenClawLayout, openclaw_env, render_config

SECRET = "edge-verified-secret-0123"
PUBLIC = "https://agent.example.com"
FROM_EDGE = {
    **EDGE,
    "X-Agent-Internal": internal_credential(EDGE_TOKEN),
    "X-Telegram-Bot-Api-Secret-Token": SECRET,
}
UPDATE = {"update_id": 1, "message": {"message_id": 1, "text": "hi"}}
TELEGRAM = {"telegram_bot_token": "123:abc", "openclaw_telegram_webhook_secret": SECRET}


@dataclass
class Listener:
    """Stands in for OpenClaw's Telegram webhook listener; `answer` is what it replies."""

    answer: tuple[int, dict[str, str]] = (200, {"x-openclaw-delivery-accepted": "durable"})
    received: list[tuple[bytes, str | None]] = field(default_factory=list)

    async def post(self, request: Request) -> Response:
        secret = request.headers.get("x-telegram-bot-api-secret-token")
        self.received.append((await request.body(), secret))
        status, headers = self.answer
        return Response(status_code=status, headers=headers)


@pytest.fixture
def listener() -> Iterator[tuple[Listener, int]]:
    fake = Listener()
    app = Starlette(routes=[Route("/telegram-webhook", fake.post, methods=["POST"])])
    with serve_app(app, "fake OpenClaw Telegram listener", ws="none") as url:
        yield fake, int(url.rsplit(":", 1)[1])


def runtime(tmp_path: Path, fake_openclaw: Path, **extra: Any) -> TestClient:
    return TestClient(
        create_app(
            settings(
                tmp_path,
                agent_engine="openclaw",
                openclaw_bin=str(fake_openclaw),
                openclaw_state_dir=tmp_path / "oc",
                openclaw_gateway_port=free_port(),
                **extra,
            )
        )
    )


def test_webhook_mode_renders_the_edge_url_and_a_secret_ref(tmp_path: Path) -> None:
    config = settings(tmp_path, **TELEGRAM, openclaw_public_url=PUBLIC + "/")
    rendered = render_config(config, OpenClawLayout(tmp_path, 18789, None))
    assert rendered["channels"]["telegram"] == {
        "enabled": True,
        "botToken": {"source": "env", "provider": "default", "id": "TELEGRAM_BOT_TOKEN"},
        "dmPolicy": "pairing",
        "webhookUrl": f"{PUBLIC}/webhooks/telegram",
        "webhookSecret": {"source": "env", "provider": "default", "id": "TELEGRAM_WEBHOOK_SECRET"},
        "webhookPath": "/telegram-webhook",
        "webhookHost": "127.0.0.1",
        "webhookPort": 18790,
    }
    env = openclaw_env(config, "gateway-token")
    assert (env["TELEGRAM_BOT_TOKEN"], env["TELEGRAM_WEBHOOK_SECRET"]) == ("123:abc", SECRET)
    assert SECRET not in str(rendered)  # only a reference in the file
    assert channel_warnings(config) == []


def test_without_public_url_telegram_long_polls_and_says_the_sandbox_cannot_sleep(
    tmp_path: Path,
) -> None:
    config = settings(
        tmp_path, telegram_bot_token="123:abc", telegram_api_base_url="http://127.0.0.1:9/"
    )
    telegram = render_config(config, OpenClawLayout(tmp_path, 18789, None))["channels"]["telegram"]
    assert "webhookUrl" not in telegram
    assert telegram["apiRoot"] == "http://127.0.0.1:9"
    assert "TELEGRAM_WEBHOOK_SECRET" not in openclaw_env(config, "gateway-token")
    (warning,) = channel_warnings(config)
    assert "OPENCLAW_PUBLIC_URL and OPENCLAW_TELEGRAM_WEBHOOK_SECRET are not set" in warning
    assert "cannot sleep" in warning
    discord = settings(tmp_path, discord_bot_token="d-1")
    assert channel_warnings(discord) == [
        "Discord is not available with AGENT_ENGINE=openclaw (docs/openclaw.md); its webhooks are "
        "refused"
    ]


@pytest.mark.slow  # starts the fake OpenClaw gateway as a process
def test_a_verified_update_is_acknowledged_only_once_openclaw_holds_it_durably(
    tmp_path: Path, fake_openclaw: Path, listener: tuple[Listener, int]
) -> None:
    fake, port = listener
    extra = {**TELEGRAM, "openclaw_public_url": PUBLIC, "openclaw_telegram_port": port}
    with runtime(tmp_path, fake_openclaw, **extra) as client:
        wait_ready(client)
        adopted = client.post("/webhooks/telegram", json=UPDATE, headers=FROM_EDGE)
        assert (adopted.status_code, adopted.content) == (200, b"")
        body, secret = fake.received[-1]
        assert (body, secret) == (adopted.request.content, SECRET)  # the bytes the edge verified

        fake.answer = (200, {})  # a bare 200 is not an adoption
        plain = client.post("/webhooks/telegram", json=UPDATE, headers=FROM_EDGE)
        assert plain.status_code == 503
        assert plain.headers["retry-after"] == "5"
        fake.answer = (500, {})  # e.g. ingress not started yet
        assert client.post("/webhooks/telegram", json=UPDATE, headers=FROM_EDGE).status_code == 503
        fake.answer = (401, {})
        refused = client.post("/webhooks/telegram", json=UPDATE, headers=FROM_EDGE)
        assert refused.status_code == 502
        assert "OPENCLAW_TELEGRAM_WEBHOOK_SECRET" in refused.json()["hint"]
        fake.answer = (413, {})
        assert client.post("/webhooks/telegram", json=UPDATE, headers=FROM_EDGE).status_code == 422
        count = len(fake.received)
        no_header = {k: v for k, v in FROM_EDGE.items() if "Telegram" not in k}
        assert client.post("/webhooks/telegram", json=UPDATE, headers=no_header).status_code == 400
        no_credential = {k: v for k, v in FROM_EDGE.items() if k != "X-Agent-Internal"}
        assert client.post(
            "/webhooks/telegram", json=UPDATE, headers=no_credential
        ).status_code == (403)
        assert len(fake.received) == count  # neither reached OpenClaw


@pytest.mark.slow  # starts the fake OpenClaw gateway as a process
def test_a_listener_that_is_not_up_yet_means_retry(tmp_path: Path, fake_openclaw: Path) -> None:
    extra = {**TELEGRAM, "openclaw_public_url": PUBLIC, "openclaw_telegram_port": free_port()}
    with runtime(tmp_path, fake_openclaw, **extra) as client:
        wait_ready(client)
        answer = client.post("/webhooks/telegram", json=UPDATE, headers=FROM_EDGE)
        assert answer.status_code == 503
        assert "did not answer" in answer.json()["error"]


@pytest.mark.slow  # starts the fake OpenClaw gateway as a process
@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("channel", ["discord", "whatsapp"])
def test_unserved_channels_are_refused_never_proxied(
    tmp_path: Path, fake_openclaw: Path, channel: str, method: str
) -> None:
    with runtime(tmp_path, fake_openclaw) as client:
        wait_ready(client)
        answer = client.request(method, f"/webhooks/{channel}", json={}, headers=FROM_EDGE)
        assert answer.status_code == 404
        assert (
            answer.json()["error"] == f"the {channel} channel is not served by the openclaw engine"
        )
        telegram = client.post("/webhooks/telegram", json=UPDATE, headers=FROM_EDGE)
        assert telegram.status_code == 404  # no token: Telegram is off, not in webhook mode
        assert "OPENCLAW_PUBLIC_URL" in telegram.json()["hint"]
