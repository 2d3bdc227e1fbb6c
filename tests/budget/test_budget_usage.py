"""GET /api/usage and the spend-limit messages: totals from the gateway's logs (documented shape),
per user, model, channel and job; who sees what; caching; the limits and the container cost."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

import httpx
import pytest
import suite_support
from budget_support import edge_headers
from fake_ai_gateway import FakeAiGateway
from pydantic import SecretStr
from starlette.testclient import TestClient

from agent.runtime.app import create_app
from agent.runtime.budget import DAY, SpendLimitHit, SpendLimits, spend_limit_hit, window_end
from agent.runtime.errors import RequestError
from agent.runtime.settings import RuntimeSettings
from agent.runtime.usage import PER_PAGE, UsageReader

ALICE, BOB, OWNER = (
    edge_headers(u) for u in ("alice@example.com", "bob@example.com", "owner@example.com")
)
wait_ready = partial(suite_support.wait_ready, headers=ALICE, attempts=500)
NOW = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)


def entry(
    when: str, user: str, channel: str, model: str, cost: float, tokens: int
) -> dict[str, Any]:
    meta = {"tenant": "acme", "user": user, "session": "s", "channel": channel, "engine": "native"}
    return {
        "id": when, "cached": False, "created_at": when, "duration": 10, "model": model,
        "path": "openai/chat/completions", "provider": "openai", "success": True,
        "tokens_in": tokens, "tokens_out": 1, "cost": cost, "metadata": json.dumps(meta),
    }  # fmt: skip


@pytest.fixture
def client(settings: RuntimeSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        wait_ready(test_client)
        yield test_client


@pytest.mark.slow  # over half a second of CPU (make test-cost)
def test_usage_after_real_calls_by_user_model_and_channel(
    client: TestClient, gateway: FakeAiGateway
) -> None:
    for headers, text in ((ALICE, "hello"), (BOB, "hi there"), (ALICE, "again")):
        body = {"message": text, "session_id": f"s-{text[:2]}"}
        assert client.post("/api/chat", headers=headers, json=body).status_code == 200
    everyone = client.get("/api/usage", headers=OWNER)  # an admin
    assert everyone.status_code == 200
    report = everyone.json()
    logged = gateway.logs
    assert report["scope"] == "everyone"
    assert report["today"]["total"]["calls"] == 3
    assert report["today"]["total"]["cost_usd"] == round(sum(e["cost"] for e in logged), 4)
    assert report["today"]["total"]["tokens_in"] == sum(e["tokens_in"] for e in logged)
    assert {r["user"]: r["calls"] for r in report["today"]["by_user"]} == {
        "alice@example.com": 2, "bob@example.com": 1,
    }  # fmt: skip
    assert [(r["model"], r["calls"]) for r in report["month"]["by_model"]] == [("gpt-5-mini", 3)]
    assert [(r["channel"], r["calls"]) for r in report["today"]["by_channel"]] == [("api", 3)]
    assert report["today"]["by_job"] == []
    assert report["limits_usd"] == {"stack-daily": 5.0}
    assert report["container_monthly_usd"] == 12.34
    assert report["complete"] is True
    # Anyone else sees their own calls only.
    mine = client.get("/api/usage", headers=BOB).json()
    assert mine["scope"] == "you"
    assert [r["user"] for r in mine["today"]["by_user"]] == ["bob@example.com"]
    assert mine["today"]["total"]["calls"] == 1
    # Cached: the three reads above listed the logs once (one page).
    assert gateway.log_reads == 1


def test_usage_page_is_served_with_the_ui_headers(client: TestClient) -> None:
    page = client.get("/usage", headers=ALICE)
    assert page.status_code == 200
    assert '<script type="module" src="/ui/usage.js"></script>' in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert client.get("/ui/usage.js", headers=ALICE).status_code == 200


@pytest.mark.anyio
async def test_reader_pages_until_the_month_starts_and_splits_jobs(
    settings: RuntimeSettings, gateway: FakeAiGateway
) -> None:
    old = [entry(f"2026-11-30T10:{m:02d}:00Z", "a", "api", "m", 9.0, 1) for m in range(60)]
    month = [
        entry(f"2026-12-01T09:{m:02d}:00Z", "a", "telegram", "gpt", 0.01, 2) for m in range(60)
    ]
    today = [
        entry("2026-12-02T08:00:00Z", "a", "job:a1b2c3d4e5f6", "nano", 0.5, 10),
        entry("2026-12-02T09:00:00Z", "b", "api", "gpt", 0.25, 5),
    ]
    gateway.logs.extend(old + month + today)
    async with httpx.AsyncClient() as http:
        reader = UsageReader(settings, http, clock=lambda: NOW)
        report = await reader.report(None)
    # Newest first, 50 a page: the second page reaches November, so reading stops there.
    assert gateway.log_reads == 2
    assert report["month"]["total"]["calls"] == 62
    assert report["month"]["total"]["cost_usd"] == round(60 * 0.01 + 0.75, 4)
    assert report["today"]["total"]["calls"] == 2
    assert [(r["job"], r["cost_usd"]) for r in report["today"]["by_job"]] == [("a1b2c3d4e5f6", 0.5)]
    assert [r["channel"] for r in report["today"]["by_channel"]] == ["job", "api"]
    assert [r["channel"] for r in report["month"]["by_channel"]] == ["telegram", "job", "api"]
    assert PER_PAGE == 50  # the page size the count above relies on


@pytest.mark.anyio
async def test_a_wrong_logs_token_is_a_clear_502(
    settings: RuntimeSettings, gateway: FakeAiGateway
) -> None:
    wrong = settings.model_copy(update={"ai_gateway_logs_token": SecretStr("not-the-token")})
    async with httpx.AsyncClient() as http:
        with pytest.raises(RequestError) as caught:
            await UsageReader(wrong, http, clock=lambda: NOW).report(None)
    assert (caught.value.status, caught.value.error) == (502, "the AI Gateway logs answered 403")
    assert "not-the-token" not in caught.value.hint


@pytest.mark.parametrize(
    ("body", "hit"),
    [
        ('{"error":[{"message":"Spend limit exceeded for rule stack-monthly"}]}', "stack-monthly"),
        ('{"error":[{"message":"Budget reached"}]}', None),
        ('{"error":[{"code":2003,"message":"Rate limited"}]}', "not a spend limit"),
    ],
)
def test_a_429_is_a_spend_limit_only_when_it_says_so(body: str, hit: str | None) -> None:
    found = spend_limit_hit(429, body)
    if hit == "not a spend limit":
        assert found is None
    else:
        assert found == SpendLimitHit(hit)
    assert spend_limit_hit(500, body) is None


def test_messages_name_the_budget_and_its_reset() -> None:
    limits = SpendLimits(
        daily=Decimal("5"),
        monthly=Decimal("100"),
        user_daily=Decimal("1.5"),
        timezone="Europe/Paris",
    )
    assert window_end(NOW, DAY) == datetime(2026, 12, 3, tzinfo=UTC)
    daily = limits.exhausted(SpendLimitHit("stack-daily"), NOW)
    assert daily.error == "Today's budget of $5.00 is used; it resets at 01:00 Europe/Paris."
    assert (daily.status, daily.resets_at) == (429, datetime(2026, 12, 3, tzinfo=UTC))
    user = limits.exhausted(SpendLimitHit("user-daily"), NOW)
    assert user.error == "Your budget of $1.50 for today is used; it resets at 01:00 Europe/Paris."
    later = datetime(2026, 12, 10, tzinfo=UTC)
    monthly = limits.exhausted(SpendLimitHit("stack-monthly"), later)
    # 30-day windows from the epoch: 2026-12-10 falls in the one ending 2027-01-02.
    assert monthly.error == (
        "This 30-day budget of $100.00 is used; it resets at 2027-01-02 01:00 Europe/Paris."
    )
    unknown = limits.exhausted(SpendLimitHit(None), NOW)
    assert unknown.error == (
        "The agent's spending limit (per person per day $1.50, per day $5.00, per 30 days "
        "$100.00) is reached; it resets at 01:00 Europe/Paris at the earliest."
    )
    assert unknown.resets_at == datetime(2026, 12, 3, tzinfo=UTC)


@pytest.mark.anyio
async def test_without_a_logs_token_the_limits_and_container_cost_still_show(
    settings: RuntimeSettings,
) -> None:
    local = settings.model_copy(update={"ai_gateway_logs_token": None})
    async with httpx.AsyncClient() as http:
        report = await UsageReader(local, http, clock=lambda: NOW).report(None)
    assert report["logs_unavailable"].startswith("no AI Gateway logs to read")
    assert report["today"]["total"]["calls"] == 0
    assert (report["limits_usd"], report["container_monthly_usd"]) == ({"stack-daily": 5.0}, 12.34)
