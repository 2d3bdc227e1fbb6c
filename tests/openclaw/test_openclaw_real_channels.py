"""Telegram and Slack through the real OpenClaw gateway (pinned npm package), offline on loopback.

One runtime in front of one real gateway serves both channels, as a deployment with both
configured does (a gateway start is ~16 s of CPU; the two channels share nothing else): before
it starts, the runtime installs the engine's `@openclaw/slack` offline from a pinned npm cache.
Telegram is in webhook mode against a loopback Bot API: OpenClaw registers the edge's URL and
secret, a delivery forwarded as the edge does is adopted durably and answered with sendMessage,
and nothing calls getUpdates. Slack: a signed DM event forwarded as the edge does is acknowledged
after durable admission and the reply reaches a loopback Slack Web API as chat.postMessage. The
model is the fake AI Gateway. Skipped, with the reason, only when npm cannot install the packages
(without the Slack plugin's packages, the Slack test alone is skipped).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fake_ai_gateway import RUN_TOKEN, FakeAiGateway, fake_ai_gateway
from fake_slack import FakeSlack, fake_slack
from fake_telegram import FakeTelegram, fake_telegram
from openclaw_support import EDGE, RuntimeChild, real_gateway_env, spawn, wait_for
from suite_support import EDGE_TOKEN, HANG_S, HTTP, free_port

from agent.runtime.edge_auth import internal_credential
from bench.engines.openclaw_install import InstallFailed, OpenClawInstall, ensure_slack_cache

pytestmark = pytest.mark.slow
BOT_TOKEN = "123456789:AAH-smoke-bot-token-0123456789abcdef"
WEBHOOK_SECRET = "edge-verified-webhook-secret-0123"
PUBLIC_URL = "https://agent.example.com"
USER_ID = 424242


def telegram_update(update_id: int, text: str) -> dict[str, Any]:
    """A private-chat text message as Telegram delivers it to a webhook."""
    user = {"id": USER_ID, "is_bot": False, "first_name": "Ada"}
    chat = {"id": USER_ID, "type": "private", "first_name": "Ada"}
    message = {"message_id": update_id, "date": int(time.time()), "chat": chat, "from": user}
    return {"update_id": update_id, "message": {**message, "text": text}}


SLACK_TOKEN = "xoxb-smoke-bot-token-0123456789"
SLACK_SECRET = "smoke-slack-signing-secret-0123456789"
SLACK_USER = "U0ADA0001"
SLACK_DM = "D0ADA0001"


def slack_dm_event(event_id: str, text: str) -> bytes:
    """A direct message as Slack's Events API delivers it (event_callback)."""
    now = time.time()
    event = {
        "type": "message",
        "channel_type": "im",
        "channel": SLACK_DM,
        "user": SLACK_USER,
        "text": text,
        "ts": f"{now:.6f}",
        "event_ts": f"{now:.6f}",
    }
    envelope = {
        "type": "event_callback",
        "team_id": "T0EDGE001",
        "api_app_id": "A0EDGE001",
        "event_id": event_id,
        "event_time": int(now),
        "event": event,
    }
    return json.dumps(envelope).encode()


def slack_signed(body: bytes, secret: str = SLACK_SECRET) -> dict[str, str]:
    """Slack's v0 signature headers (https://api.slack.com/authentication/verifying-requests-from-slack)."""
    stamp = str(int(time.time()))
    base = b"v0:" + stamp.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest}",
    }


def post_until_durable(post: Callable[[], httpx.Response], what: str) -> list[int]:
    """Post again, as Telegram and Slack redeliver, until a 2xx (the listener or route may still
    be starting: 503); every answer's status."""
    answers: list[int] = []

    def delivered() -> bool:
        answer = post()
        answers.append(answer.status_code)
        assert answer.status_code in {200, 503}, answer.text
        return answer.status_code == 200

    wait_for(delivered, HANG_S, what, step=0.5)
    return answers


@dataclass
class Channels:
    """The runtime in front of the real gateway, and the fakes it talks to."""

    runtime: RuntimeChild
    telegram: FakeTelegram
    slack: FakeSlack
    model: FakeAiGateway
    slack_skipped: str | None  # why Slack is not configured, when it is not


@pytest.fixture(scope="module")
def channels(
    openclaw: OpenClawInstall, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Channels]:
    tmp = tmp_path_factory.mktemp("channels")
    slack_env: dict[str, str] = {}
    slack_skipped = None
    with ExitStack() as stack:
        telegram = stack.enter_context(fake_telegram(BOT_TOKEN))
        slack = stack.enter_context(fake_slack(SLACK_TOKEN))
        model = stack.enter_context(fake_ai_gateway())
        try:
            cache = ensure_slack_cache(openclaw)
        except InstallFailed as error:
            slack_skipped = f"@openclaw/slack could not be cached: {error}"
        else:
            slack_env = {
                "OPENCLAW_PLUGIN_NPM_CACHE": str(cache),
                "SLACK_BOT_TOKEN": SLACK_TOKEN,
                "SLACK_API_BASE_URL": slack.url,
                "SLACK_DM_POLICY": "allowlist",
                "SLACK_ALLOWLIST": SLACK_USER,
                "OPENCLAW_SLACK_SIGNING_SECRET": SLACK_SECRET,
            }
        runtime = spawn(
            tmp,
            openclaw.openclaw,
            {
                **real_gateway_env(openclaw, tmp),
                "AGENT_MODEL": "compat:openai/gpt-5-mini",
                "AI_GATEWAY_BASE_URL": model.base_url,
                "AI_GATEWAY_TOKEN": RUN_TOKEN,
                "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
                "TELEGRAM_API_BASE_URL": telegram.url,
                "TELEGRAM_DM_POLICY": "allowlist",
                "TELEGRAM_ALLOWLIST": str(USER_ID),
                "OPENCLAW_PUBLIC_URL": PUBLIC_URL,
                "OPENCLAW_TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
                "OPENCLAW_TELEGRAM_PORT": str(free_port()),
                **slack_env,
            },
        )
        stack.callback(runtime.kill)
        runtime.wait_ready(600)  # includes the offline plugin install
        yield Channels(runtime, telegram, slack, model, slack_skipped)


def test_real_gateway_takes_telegram_from_the_edge_without_polling(channels: Channels) -> None:
    """The edge's verified delivery reaches OpenClaw, its reply reaches Telegram, no getUpdates."""
    runtime, telegram, model = channels.runtime, channels.telegram, channels.model
    # OpenClaw registers the edge's URL and secret itself (the edge verifies that secret).
    telegram.wait_for(lambda: bool(telegram.called("setWebhook")), "setWebhook")
    registered = telegram.called("setWebhook")[0]
    assert registered["url"] == f"{PUBLIC_URL}/webhooks/telegram"
    assert registered["secret_token"] == WEBHOOK_SECRET

    # As the edge forwards a verified delivery: edge token, internal credential, the header.
    edge = {
        **EDGE,
        "X-Agent-Internal": internal_credential(EDGE_TOKEN),
        "X-Agent-Channel": "telegram",
        "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET,
    }
    url = f"{runtime.url}/webhooks/telegram"
    update = telegram_update(5001, "hello from telegram")
    turns_before = len(model.models_called())
    answers = post_until_durable(
        lambda: HTTP.post(url, json=update, headers=edge, timeout=30),
        "durable adoption of the update",
    )
    print(f"real openclaw: webhook answers until durable {answers}")

    def replied() -> bool:
        return any(str(m.get("chat_id")) == str(USER_ID) for m in telegram.called("sendMessage"))

    telegram.wait_for(replied, "the agent's reply (sendMessage)", timeout=240)
    texts = [m["text"] for m in telegram.called("sendMessage")]
    assert any("reply from openai/gpt-5-mini" in text for text in texts), texts
    assert len(model.models_called()) > turns_before, "the turn went through the (fake) AI Gateway"

    # OpenClaw checks the secret again behind the edge, and only the edge reaches the path.
    forged = HTTP.post(
        url,
        json=telegram_update(5002, "forged"),
        headers={**edge, "X-Telegram-Bot-Api-Secret-Token": "wrong-secret"},
        timeout=30,
    )
    assert forged.status_code == 502, forged.text
    assert "OPENCLAW_TELEGRAM_WEBHOOK_SECRET" in forged.json()["hint"]
    no_credential = {k: v for k, v in edge.items() if k != "X-Agent-Internal"}
    bypass = HTTP.post(url, json=telegram_update(5003, "x"), headers=no_credential, timeout=30)
    assert bypass.status_code == 403, bypass.text
    discord = HTTP.post(f"{runtime.url}/webhooks/discord", json={}, headers=edge, timeout=30)
    assert discord.status_code == 404  # never the gateway's catch-all page
    assert "not served by the openclaw engine" in discord.json()["error"]

    # The sandbox can sleep: nothing ever polled Telegram.
    assert "getUpdates" not in telegram.methods(), telegram.methods()
    assert "deleteWebhook" not in telegram.methods()


def test_real_gateway_takes_slack_from_the_edge(channels: Channels) -> None:
    """The pinned plugin, installed offline; a verified DM is adopted; the reply is posted."""
    if channels.slack_skipped is not None:
        pytest.skip(channels.slack_skipped)
    runtime, slack, model = channels.runtime, channels.slack, channels.model
    assert "Slack plugin installed" in runtime.output(), runtime.tail()

    edge = {**EDGE, "X-Agent-Internal": internal_credential(EDGE_TOKEN)}
    edge["X-Agent-Channel"] = "slack"
    url = f"{runtime.url}/webhooks/slack"
    body = slack_dm_event("Ev0SMOKE001", "hello from slack")
    turns_before = len(model.models_called())
    answers = post_until_durable(
        lambda: HTTP.post(url, content=body, headers={**edge, **slack_signed(body)}, timeout=30),
        "durable admission of the event",
    )
    print(f"real openclaw: slack answers until durable {answers}")

    def replied() -> bool:
        return any(
            m.get("channel") in {SLACK_DM, SLACK_USER} for m in slack.called("chat.postMessage")
        )

    slack.wait_for(replied, "the agent's reply (chat.postMessage)", timeout=240)
    texts = [str(m.get("text", "")) for m in slack.called("chat.postMessage")]
    assert any("reply from openai/gpt-5-mini" in text for text in texts), texts
    assert len(model.models_called()) > turns_before, "the turn went through the (fake) AI Gateway"

    # Slack's URL check, signed like any event: OpenClaw's Bolt receiver echoes the challenge.
    check = json.dumps({"type": "url_verification", "challenge": "c-smoke-1"}).encode()
    echoed = HTTP.post(url, content=check, headers={**edge, **slack_signed(check)}, timeout=30)
    assert echoed.status_code == 200, echoed.text
    assert echoed.json() == {"challenge": "c-smoke-1"}

    # OpenClaw checks the signature again behind the edge.
    forged_body = slack_dm_event("Ev0SMOKE002", "forged")
    forged = HTTP.post(
        url,
        content=forged_body,
        headers={**edge, **slack_signed(forged_body, "not-the-signing-secret")},
        timeout=30,
    )
    assert forged.status_code == 502, forged.text
    assert "OPENCLAW_SLACK_SIGNING_SECRET" in forged.json()["hint"]
    discord = HTTP.post(f"{runtime.url}/webhooks/discord", json={}, headers=edge, timeout=30)
    assert discord.status_code == 404  # never the gateway's catch-all page
