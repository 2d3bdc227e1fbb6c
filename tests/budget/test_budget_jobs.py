"""Scheduled jobs against a reached spend limit: skipped with the reason recorded, moved to the
reset, and run when the budget is back (time injected; real model client, loopback gateway)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fake_ai_gateway import SPEND_LIMIT_BODY, FakeAiGateway

from agent.runtime.engine import create_engine
from agent.runtime.jobs.book import JobBook
from agent.runtime.jobs.model import Job
from agent.runtime.jobs.runner import Scheduler, run_key
from agent.runtime.service import ChatService
from agent.runtime.session_history import read_turns
from agent.runtime.sessions import SessionStore, cache_budget
from agent.runtime.settings import RuntimeSettings
from agent.runtime.store.local import LocalDirStore

pytestmark = pytest.mark.anyio

NOON = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
MIDNIGHT = datetime(2026, 12, 3, 0, 0, tzinfo=UTC)


def job(kind: str, fire_at: datetime) -> Job:
    return Job(
        id="a1b2c3d4e5f6",
        kind=kind,  # type: ignore[arg-type]
        cron="*/30 * * * *" if kind == "cron" else None,
        at=fire_at if kind == "once" else None,
        timezone="UTC",
        prompt="Summarise the news",
        channel="api",
        conversation="",
        session_id="news",
        user="alice@example.com",
        created_at=fire_at - timedelta(hours=1),
        timeout_s=60,
        next_run=fire_at,
    )


@pytest.mark.parametrize("kind", ["once", "cron"])
@pytest.mark.slow  # over half a second of CPU (make test-cost)
async def test_job_skips_at_the_limit_and_runs_when_the_budget_is_back(
    kind: str, tmp_path: Path, settings: RuntimeSettings, gateway: FakeAiGateway
) -> None:
    clock = [NOON]
    store = LocalDirStore(tmp_path / "state")
    book = JobBook(store)
    await book.create(job(kind, NOON - timedelta(minutes=1)))
    # Jobs answer on the job model (edgeagent:jobModel).
    settings = settings.model_copy(update={"agent_job_model": "openai:gpt-5-nano"})
    engine = create_engine(settings)
    async with httpx.AsyncClient() as http:
        service = ChatService(
            settings, store, SessionStore(store, cache_budget(None)), engine, http,
            clock=lambda: clock[0],
        )  # fmt: skip
        scheduler = Scheduler(book, store, clock=lambda: clock[0])
        gateway.spend_limit = SPEND_LIMIT_BODY

        report = await scheduler.run_due(service, None)
        assert (report.due, report.ran, report.skipped, report.failed) == (1, 0, 1, 0)
        stored = await store.get(run_key("a1b2c3d4e5f6", NOON - timedelta(minutes=1)))
        assert stored is not None
        claim = json.loads(stored.body)
        reason = "skipped: Today's budget of $5.00 is used; it resets at 00:00 UTC."
        assert (claim["state"], claim["result"]) == ("skipped", reason)
        [after] = await book.list()
        assert (after.status, after.next_run, after.runs) == ("active", MIDNIGHT, 0)
        assert after.last_result == reason
        assert [c.metadata["channel"] for c in gateway.calls if c.metadata] == ["job:a1b2c3d4e5f6"]

        # Before the reset nothing is due: no call against the same wall.
        clock[0] = MIDNIGHT - timedelta(minutes=1)
        assert (await scheduler.run_due(service, None)).due == 0
        assert len(gateway.calls) == 1

        gateway.spend_limit = None
        clock[0] = MIDNIGHT + timedelta(seconds=5)
        report = await scheduler.run_due(service, None)
        assert (report.due, report.ran) == (1, 1)
        [done] = await book.list()
        assert done.runs == 1
        assert done.last_result == "reply from gpt-5-nano"
        assert gateway.models_called() == ["gpt-5-nano", "gpt-5-nano"]
        page = await read_turns(store, "news", None, 10)
        assert [t.model for t in page.turns] == ["openai:gpt-5-nano"]  # which model answered
        assert done.status == ("done" if kind == "once" else "active")
        await engine.close()
