"""The Usage page and the answering model in a real headless Chromium (Debian's
/usr/bin/chromium, Playwright), against the runtime in uvicorn calling the fake AI Gateway.

A small ASGI wrapper adds the edge's headers to every request and WebSocket handshake, as the
Worker does in production. A chat message sent
in the UI is answered through the fallback route: its reply carries the model that answered
(`data-model`); then the budget runs out and the next message shows the plain budget sentence;
the Usage page shows the spend of those calls, the limits and the container estimate, as text.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from budget_support import edge_headers, gateway_settings
from fake_ai_gateway import SPEND_LIMIT_BODY, FakeAiGateway
from playwright.sync_api import Page, expect
from starlette.types import Receive, Scope, Send
from suite_support import chromium, page_problems, screenshots, serve_app

from agent.runtime.app import create_app

pytestmark = pytest.mark.slow

OWNER = edge_headers("owner@example.com")


@pytest.fixture
def runtime_url(tmp_path: Path, gateway: FakeAiGateway) -> Iterator[str]:
    gateway.routes["agent"] = ["gpt-5-mini", "claude-haiku-4-5"]
    gateway.failing.add("gpt-5-mini")
    settings = gateway_settings(
        tmp_path / "state",
        gateway,
        agent_model_route="agent",
        agent_user_spend_limit_daily_usd="1.50",
        agent_usage_cache_s=0,
    )
    app = create_app(settings)
    added = [(k.lower().encode(), v.encode()) for k, v in OWNER.items()]

    async def as_the_edge(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in {"http", "websocket"}:
            scope = {**scope, "headers": [*scope["headers"], *added]}
        await app(scope, receive, send)

    with serve_app(as_the_edge, "the runtime", lifespan="on") as url:
        yield url


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    with chromium(tmp_path / "chromium-profile") as context:
        page = context.new_page()
        problems = page_problems(page)
        yield page
    assert problems == []  # no script error, no CSP violation


def test_answering_model_budget_message_and_usage_page(
    page: Page, runtime_url: str, gateway: FakeAiGateway, tmp_path: Path
) -> None:
    shots = screenshots(tmp_path / "screenshots")
    page.goto(runtime_url + "/")
    expect(page.locator("#conn")).to_have_text("connected", timeout=30_000)
    page.fill("#chat-input", "Plan the hut trip")
    page.press("#chat-input", "Enter")
    agent = page.locator(".msg.agent").last
    expect(agent.locator(".meta")).to_contain_text("saved", timeout=30_000)
    expect(agent).to_have_attribute("data-model", "claude-haiku-4-5")
    expect(agent.locator(".meta")).to_contain_text("claude-haiku-4-5")

    gateway.spend_limit = SPEND_LIMIT_BODY
    page.fill("#chat-input", "And the weather?")
    page.press("#chat-input", "Enter")
    refused = page.locator(".msg.agent").last
    expect(refused.locator(".text")).to_have_text(
        "Today's budget of $5.00 is used; it resets at 00:00 UTC.", timeout=30_000
    )
    page.screenshot(path=str(shots / "budget.png"), full_page=True)

    page.click("#usage-link")
    expect(page).to_have_url(runtime_url + "/usage")
    cost = sum(e["cost"] for e in gateway.logs)
    expect(page.locator("#usage-today-total")).to_have_text(
        f"${cost:.2f} · {gateway.logs[0]['tokens_in']} in / {gateway.logs[0]['tokens_out']} "
        "out tokens · 1 calls",
        timeout=30_000,
    )
    expect(page.locator('#usage-limits tr[data-rule="stack-daily"] td').nth(1)).to_have_text(
        "$5.00"
    )
    expect(page.locator('#usage-limits tr[data-rule="user-daily"] td').nth(1)).to_have_text("$1.50")
    expect(page.locator('#usage-limits tr[data-rule="container"] td').nth(1)).to_have_text("$12.34")
    by_model = page.locator('#usage-today [data-dimension="model"] tbody tr')
    expect(by_model).to_have_count(1)
    expect(by_model.first.locator("td").first).to_have_text("claude-haiku-4-5")
    by_user = page.locator('#usage-month [data-dimension="user"] tbody tr')
    expect(by_user.first.locator("td").first).to_have_text("owner@example.com")
    expect(page.locator("#usage-status")).to_contain_text("everyone's calls")
    page.screenshot(path=str(shots / "usage.png"), full_page=True)
