"""Scheduling: job validation with time zones, the tools driven by a model, and the scheduler —
claimed firings (never twice: redelivered ticks, two runtimes, takeover after a crash),
per-job timeouts, delivery through the real outbox, and no model call when nothing is due."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic_ai.messages import ModelMessage
from pydantic_ai.models.function import AgentInfo, FunctionModel
from tools_support import Script, deps_for, run_script

from agent.runtime.attachments import Attachment
from agent.runtime.channels.base import DeliveryError
from agent.runtime.engine.native import NativeEngine
from agent.runtime.engine.offline import offline_model
from agent.runtime.jobs import Job, JobBook, JobRun, ScheduleError, Scheduler, reply_origin
from agent.runtime.jobs.runner import run_key
from agent.runtime.outbox import Outbox
from agent.runtime.service import ChatService
from agent.runtime.sessions import SessionStore
from agent.runtime.settings import RuntimeSettings
from agent.runtime.store.base import StateStore
from agent.runtime.store.local import LocalDirStore
from agent.runtime.store.r2 import R2Store
from agent.runtime.tools.schedule import new_job, schedule_toolset
from agent.runtime.tools.send_file import send_file_toolset

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)  # 09:00 in Paris


@dataclass
class Phone:
    """A fake platform: what the outbox delivered, per conversation."""

    max_chars: int = 4096
    sent: list[tuple[str, str]] = field(default_factory=list)
    outages: int = 0  # the next N deliveries fail (the outbox retries them)

    async def deliver(self, conversation: str, text: str) -> None:
        if self.outages:
            self.outages -= 1
            raise DeliveryError("HTTP 502 from the fake platform", retryable=True)
        self.sent.append((conversation, text))


@dataclass
class Counting:
    """A model that answers 'reply <n>' after `delay` seconds and counts its requests."""

    delay: float = 0.0
    requests: int = 0

    async def _answer(self) -> str:
        self.requests += 1
        number = self.requests
        await asyncio.sleep(self.delay)
        return f"reply {number}"

    async def stream(self, _m: list[ModelMessage], _i: AgentInfo) -> AsyncIterator[str]:
        yield await self._answer()

    def engine(self) -> NativeEngine:
        async def respond(_m: list[ModelMessage], _i: AgentInfo):  # type: ignore[no-untyped-def]
            raise AssertionError("the engine streams")

        model = FunctionModel(respond, stream_function=self.stream, model_name="counting")
        return NativeEngine(model, label="counting", offline=False, instructions="test")


@dataclass
class Node:
    """One runtime's scheduler stack over a shared store."""

    scheduler: Scheduler
    service: ChatService
    outbox: Outbox


class Clock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


def node(
    settings: RuntimeSettings,
    store: StateStore,
    http: httpx.AsyncClient,
    model: Counting,
    phone: Phone,
    clock: Clock,
) -> Node:
    service = ChatService(settings, store, SessionStore(store), model.engine(), http)
    outbox = Outbox(store, {"telegram": phone}, base_delay=0.01)
    return Node(Scheduler(JobBook(store), store, clock=clock), service, outbox)


def job(settings: RuntimeSettings, http: httpx.AsyncClient, store: StateStore, **kw: str) -> Job:
    deps = deps_for(settings, store, http, session_id="tg-chat", channel="telegram")
    with reply_origin("telegram", "chat-42"):
        return new_job(
            deps,
            kw.get("prompt", "say hi"),
            cron=kw.get("cron"),
            at=kw.get("at"),
            timezone=kw.get("timezone"),
            timeout_s=float(kw["timeout_s"]) if "timeout_s" in kw else None,
            moment=T0 - timedelta(hours=1),
        )


async def test_new_job_validates_and_reads_times_in_its_zone(
    settings: RuntimeSettings, store: LocalDirStore, http: httpx.AsyncClient
) -> None:
    once = job(settings, http, store, at="2026-11-26T09:00")  # naive: Europe/Paris (settings)
    assert (once.kind, once.next_run, once.timezone) == ("once", T0, "Europe/Paris")
    assert (once.channel, once.conversation, once.session_id) == ("telegram", "chat-42", "tg-chat")
    utc = job(settings, http, store, at="2026-11-26T08:00:00Z", timezone="America/New_York")
    assert utc.next_run == T0
    # Cron in a zone across the spring DST change: 09:00 Paris is 08:00Z, then 07:00Z.
    deps = deps_for(settings, store, http)
    daily = new_job(
        deps,
        "p",
        cron="0 9 * * *",
        at=None,
        timezone=None,
        timeout_s=None,
        moment=datetime(2026, 3, 28, 12, tzinfo=UTC),
    )
    assert daily.next_run == datetime(2026, 3, 29, 7, tzinfo=UTC)
    assert (daily.conversation, daily.timeout_s) == ("s1", settings.job_timeout_s)
    cases = {
        "exactly one of `cron`": {"cron": None, "at": None},
        "invalid cron expression '61 * * * *'": {"cron": "61 * * * *", "at": None},
        "invalid cron expression '* * *'": {"cron": "* * *", "at": None},
        "invalid time 'tomorrow'": {"cron": None, "at": "tomorrow"},
        "in the past": {"cron": None, "at": "2020-01-01T00:00"},
    }
    for message, args in cases.items():
        with pytest.raises(ScheduleError, match=message.replace("*", r"\*")):
            new_job(deps, "p", timezone=None, timeout_s=None, moment=T0, **args)
    with pytest.raises(ScheduleError, match="unknown time zone 'Mars/Olympus'"):
        new_job(deps, "p", cron="0 9 * * *", at=None, timezone="Mars/Olympus", timeout_s=None)


async def test_tools_create_list_and_cancel_through_a_model(
    settings: RuntimeSettings, store: LocalDirStore, http: httpx.AsyncClient
) -> None:
    book = JobBook(store)
    script = Script(
        [
            [("schedule_job", {"prompt": "Weekly review", "cron": "0 18 * * 5"})],
            [("schedule_job", {"prompt": "Call mum", "at": "2099-05-01T10:00"})],
            [("schedule_job", {"prompt": "Bad", "cron": "every day"})],
            [("list_jobs", {})],
        ]
    )
    deps = deps_for(settings, store, http, session_id="tg-chat", channel="telegram")
    with reply_origin("telegram", "chat-42"):
        await run_script(script, [schedule_toolset(book)], deps)
    jobs = {j.prompt: j for j in await book.list()}
    assert set(jobs) == {"Weekly review", "Call mum"}
    weekly, mum = jobs["Weekly review"], jobs["Call mum"]
    assert script.seen[0].startswith(f"schedule_job: scheduled {weekly.id} [active] cron")
    assert "next 2099-05-01 10:00 Europe/Paris: Call mum" in script.seen[1]
    assert script.seen[2].startswith("RETRY schedule_job: invalid cron expression 'every day'")
    assert weekly.id in script.seen[3]
    assert mum.id in script.seen[3]
    assert (mum.channel, mum.conversation, mum.user) == ("telegram", "chat-42", "alice@example.com")
    stored = await store.get(f"jobs/{mum.id}.json")
    assert stored is not None
    assert json.loads(stored.body)["next_run"] == "2099-05-01T08:00:00Z"

    cancel = Script([[("cancel_job", {"job_id": mum.id})], [("cancel_job", {"job_id": "nope"})]])
    await run_script(cancel, [schedule_toolset(book)], deps)
    assert cancel.seen[0].startswith(f"cancel_job: cancelled {mum.id} [cancelled] once")
    assert cancel.seen[1].startswith("RETRY cancel_job: no job 'nope'")
    listing = Script([[("list_jobs", {})]])
    await run_script(listing, [schedule_toolset(book)], deps)
    assert mum.id not in listing.seen[0]
    assert weekly.id in listing.seen[0]


async def test_nothing_due_costs_no_model_call(
    settings: RuntimeSettings, store: LocalDirStore, http: httpx.AsyncClient
) -> None:
    model, phone, clock = Counting(), Phone(), Clock(T0 - timedelta(minutes=5))
    n = node(settings, store, http, model, phone, clock)
    assert (await n.scheduler.run_due(n.service, n.outbox)).due == 0  # no jobs at all
    await n.scheduler.book.create(job(settings, http, store, at="2026-11-26T09:00"))
    for _ in range(3):
        report = await n.scheduler.run_due(n.service, n.outbox)
        assert (report.due, report.ran) == (0, 0)
    assert model.requests == 0
    assert await store.list("job-runs/") == []


async def test_a_firing_runs_once_and_is_delivered_once(
    settings: RuntimeSettings, store: LocalDirStore, http: httpx.AsyncClient
) -> None:
    model, phone, clock = Counting(), Phone(outages=1), Clock(T0 + timedelta(seconds=20))
    n = node(settings, store, http, model, phone, clock)
    created = await n.scheduler.book.create(job(settings, http, store, at="2026-11-26T09:00"))
    report = await n.scheduler.run_due(n.service, n.outbox)
    assert (report.due, report.ran, report.failed) == (1, 1, 0)
    again = await n.scheduler.run_due(n.service, n.outbox)  # the edge redelivers the tick
    assert again.due == 0
    await n.outbox.idle()
    assert phone.sent == [("chat-42", "reply 1")]
    assert model.requests == 1
    turns = await n.service.sessions.read("tg-chat")
    assert [(t.turn_id, t.prompt, t.channel) for t in turns] == [
        (f"job-{created.id}-20261126T080000Z", f"[scheduled job {created.id}] say hi", "telegram")
    ]
    done = await n.scheduler.book.get(created.id)
    assert done is not None
    assert (done[0].status, done[0].runs, done[0].next_run) == ("done", 1, None)
    assert done[0].last_result == "reply 1"
    claim = await store.get(run_key(created.id, T0))
    assert claim is not None
    assert JobRun.model_validate_json(claim.body).state == "done"


@dataclass
class FilePhone(Phone):
    """A fake platform that also takes files: (conversation, name, bytes)."""

    files: list[tuple[str, str, bytes]] = field(default_factory=list)

    async def deliver_file(self, conversation: str, file: Attachment) -> None:
        self.files.append((conversation, file.info.name, file.body))


async def test_a_file_the_job_sends_follows_its_reply_to_the_chat(
    settings: RuntimeSettings, store: LocalDirStore, http: httpx.AsyncClient
) -> None:
    await store.put("workspace/MEMORY.md", b"- the cat is called Tom\n")
    engine = NativeEngine(
        offline_model(settings.agent_timezone),
        label="offline",
        offline=True,
        instructions="test",
        toolsets=[send_file_toolset()],
    )
    phone = FilePhone()
    service = ChatService(settings, store, SessionStore(store), engine, http)
    outbox = Outbox(store, {"telegram": phone}, base_delay=0.01)
    scheduler = Scheduler(JobBook(store), store, clock=Clock(T0 + timedelta(seconds=5)))
    await scheduler.book.create(
        job(settings, http, store, at="2026-11-26T09:00", prompt="send me MEMORY.md")
    )
    report = await scheduler.run_due(service, outbox)
    assert (report.ran, report.failed) == (1, 0)
    await outbox.idle()
    [(conversation, text)] = phone.sent
    assert conversation == "chat-42"
    assert text.startswith("[offline model] Here it is: sent MEMORY.md")
    assert phone.files == [("chat-42", "MEMORY.md", b"- the cat is called Tom\n")]


async def test_two_runtimes_on_one_store_run_a_firing_once(
    settings: RuntimeSettings, store: LocalDirStore, http: httpx.AsyncClient
) -> None:
    model, phone, clock = Counting(delay=0.2), Phone(), Clock(T0 + timedelta(seconds=5))
    first = node(settings, store, http, model, phone, clock)
    second = node(settings, store, http, model, phone, clock)
    for index in range(3):
        await first.scheduler.book.create(
            job(settings, http, store, at="2026-11-26T09:00", prompt=f"job {index}")
        )
    reports = await asyncio.gather(
        first.scheduler.run_due(first.service, first.outbox),
        second.scheduler.run_due(second.service, second.outbox),
        first.scheduler.run_due(first.service, first.outbox),
    )
    assert sum(r.ran for r in reports) == 3
    assert sum(r.skipped for r in reports) == 6
    assert model.requests == 3
    await first.outbox.idle()
    await second.outbox.idle()
    assert sorted(text for _, text in phone.sent) == ["reply 1", "reply 2", "reply 3"]


async def test_cron_advances_and_skips_firings_missed_while_asleep(
    settings: RuntimeSettings, store: LocalDirStore, http: httpx.AsyncClient
) -> None:
    model, phone, clock = Counting(), Phone(), Clock(T0 + timedelta(seconds=30))
    n = node(settings, store, http, model, phone, clock)
    daily = await n.scheduler.book.create(job(settings, http, store, cron="0 9 * * *"))
    assert daily.next_run == T0
    assert (await n.scheduler.run_due(n.service, n.outbox)).ran == 1
    stored = await n.scheduler.book.get(daily.id)
    assert stored is not None
    assert stored[0].next_run == T0 + timedelta(days=1)
    clock.moment = T0 + timedelta(days=3, hours=2)  # asleep for three days
    assert (await n.scheduler.run_due(n.service, n.outbox)).ran == 1
    assert (await n.scheduler.run_due(n.service, n.outbox)).due == 0
    stored = await n.scheduler.book.get(daily.id)
    assert stored is not None
    assert (stored[0].runs, stored[0].next_run) == (2, T0 + timedelta(days=4))
    assert model.requests == 2


async def test_per_job_timeout_fails_the_run_and_tells_the_chat(
    settings: RuntimeSettings, store: LocalDirStore, http: httpx.AsyncClient
) -> None:
    model, phone, clock = Counting(delay=5.0), Phone(), Clock(T0 + timedelta(seconds=1))
    n = node(settings, store, http, model, phone, clock)
    slow = await n.scheduler.book.create(
        job(settings, http, store, at="2026-11-26T09:00", timeout_s="0.3", prompt="slow thing")
    )
    started = asyncio.get_running_loop().time()
    report = await n.scheduler.run_due(n.service, n.outbox)
    assert asyncio.get_running_loop().time() - started < 2.0
    assert (report.ran, report.failed) == (0, 1)
    await n.outbox.idle()
    assert phone.sent == [
        ("chat-42", f"Scheduled job {slow.id} ('slow thing') timed out after 0.3 s.")
    ]
    stored = await n.scheduler.book.get(slow.id)
    assert stored is not None
    assert (stored[0].status, stored[0].last_result) == ("done", "failed: timed out after 0.3 s")
    assert await n.service.sessions.read("tg-chat") == []  # nothing half-stored


async def test_a_crashed_runtime_s_firing_is_taken_over_after_its_lease(
    settings: RuntimeSettings, store: LocalDirStore, http: httpx.AsyncClient
) -> None:
    model, phone, clock = Counting(), Phone(), Clock(T0 + timedelta(seconds=10))
    n = node(settings, store, http, model, phone, clock)
    created = await n.scheduler.book.create(job(settings, http, store, at="2026-11-26T09:00"))
    # A runtime claimed the firing and died: its lease runs for the job timeout plus a minute.
    dead = JobRun(
        job_id=created.id,
        fire_at=T0,
        state="running",
        claimed_at=T0,
        lease_until=T0 + timedelta(seconds=180),
    )
    await store.put(run_key(created.id, T0), dead.model_dump_json().encode(), if_none_match=True)
    assert (await n.scheduler.run_due(n.service, n.outbox)).skipped == 1  # lease still held
    assert model.requests == 0
    clock.moment = T0 + timedelta(seconds=181)
    assert (await n.scheduler.run_due(n.service, n.outbox)).ran == 1
    await n.outbox.idle()
    assert phone.sent == [("chat-42", "reply 1")]
    claim = await store.get(run_key(created.id, T0))
    assert claim is not None
    assert JobRun.model_validate_json(claim.body).attempt == 2


async def test_takeover_reuses_a_turn_the_dead_runtime_already_stored(
    settings: RuntimeSettings, store: LocalDirStore, http: httpx.AsyncClient
) -> None:
    model, phone, clock = Counting(), Phone(), Clock(T0 + timedelta(seconds=10))
    crashed = node(settings, store, http, model, phone, clock)
    created = await crashed.scheduler.book.create(job(settings, http, store, at="2026-11-26T09:00"))
    # It ran the turn and queued the reply, then died before finishing its claim.
    assert (await crashed.scheduler.run_due(crashed.service, crashed.outbox)).ran == 1
    await crashed.outbox.idle()
    stale = JobRun(job_id=created.id, fire_at=T0, state="running", claimed_at=T0, lease_until=T0)
    await store.put(run_key(created.id, T0), stale.model_dump_json().encode())
    await crashed.scheduler.book.update(
        created.id, lambda j: j.model_copy(update={"status": "active", "next_run": T0, "runs": 0})
    )
    survivor = node(settings, store, http, model, phone, Clock(T0 + timedelta(minutes=5)))
    assert (await survivor.scheduler.run_due(survivor.service, survivor.outbox)).ran == 1
    await survivor.outbox.idle()
    assert model.requests == 1  # the stored turn was found by its turn_id: no second model call
    assert phone.sent == [("chat-42", "reply 1")]  # same idempotency key: not sent again
    assert len(await survivor.service.sessions.read("tg-chat")) == 1


async def test_cancelled_and_web_jobs(
    settings: RuntimeSettings, store: LocalDirStore, http: httpx.AsyncClient
) -> None:
    model, phone, clock = Counting(), Phone(), Clock(T0 + timedelta(seconds=10))
    n = node(settings, store, http, model, phone, clock)
    cancelled = await n.scheduler.book.create(job(settings, http, store, at="2026-11-26T09:00"))
    await n.scheduler.book.cancel(cancelled.id)
    deps = deps_for(settings, store, http, session_id="web-chat", channel="ws")
    web = await n.scheduler.book.create(
        new_job(
            deps,
            "tidy up",
            cron=None,
            at="2026-11-26T09:00",
            timezone=None,
            timeout_s=None,
            moment=T0 - timedelta(hours=1),
        )
    )
    report = await n.scheduler.run_due(n.service, n.outbox)
    assert (report.due, report.ran) == (1, 1)
    await n.outbox.idle()
    assert phone.sent == []  # a web chat job's reply lives in its session
    turns = await n.service.sessions.read("web-chat")
    assert [t.reply for t in turns] == ["reply 1"]
    # A restart: a new book and scheduler over the same store see the same jobs.
    fresh = JobBook(store)
    states = {j.id: j.status for j in await fresh.list()}
    assert states == {cancelled.id: "cancelled", web.id: "done"}


async def test_undeliverable_channel_is_recorded_not_raised(
    settings: RuntimeSettings, store: LocalDirStore, http: httpx.AsyncClient
) -> None:
    model, phone, clock = Counting(), Phone(), Clock(T0 + timedelta(seconds=10))
    n = node(settings, store, http, model, phone, clock)
    deps = deps_for(settings, store, http, session_id="sl", channel="slack")
    created = await n.scheduler.book.create(
        new_job(
            deps,
            "ping",
            cron=None,
            at="2026-11-26T09:00",
            timezone=None,
            timeout_s=None,
            moment=T0 - timedelta(hours=1),
        )
    )
    assert (await n.scheduler.run_due(n.service, n.outbox)).ran == 1
    stored = await n.scheduler.book.get(created.id)
    assert stored is not None
    assert stored[0].last_result == (
        "reply 1 (not delivered: channel 'slack' is not enabled; see GET /api/channels)"
    )


@pytest.mark.slow  # over half a second of CPU (make test-cost)
async def test_two_runtimes_on_r2_run_each_firing_once(
    settings: RuntimeSettings, http: httpx.AsyncClient, moto_endpoint: str, r2_bucket: str
) -> None:
    def r2() -> R2Store:
        return R2Store(
            bucket=r2_bucket,
            endpoint=moto_endpoint,
            access_key_id="testing",
            secret_access_key="testing",
            region="us-east-1",
            prefix="users/alice@example.com/",
        )

    first_store, second_store = r2(), r2()
    model, phone, clock = Counting(delay=0.1), Phone(), Clock(T0 + timedelta(seconds=5))
    first = node(settings, first_store, http, model, phone, clock)
    second = node(settings, second_store, http, model, phone, clock)
    try:
        for index in range(4):
            await first.scheduler.book.create(
                job(settings, http, first_store, at="2026-11-26T09:00", prompt=f"r2 {index}")
            )
        reports = await asyncio.gather(
            *(n.scheduler.run_due(n.service, n.outbox) for n in (first, second, first, second))
        )
        assert sum(r.ran for r in reports) == 4
        assert model.requests == 4
        await first.outbox.idle()
        await second.outbox.idle()
        assert len(phone.sent) == 4
        claims = await second_store.list("job-runs/")
        assert len(claims) == 4
        for claim in claims:
            stored = await second_store.get(claim.key)
            assert stored is not None
            assert JobRun.model_validate_json(stored.body).state == "done"
    finally:
        await first_store.close()
        await second_store.close()
