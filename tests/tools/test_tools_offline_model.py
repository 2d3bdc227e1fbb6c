"""The offline model answers plain requests by really calling the agent's tools.

Each turn goes through the chat service (the same path as the UI): the offline model returns
pydantic-ai tool calls, the agent runs the real tools over a local state directory, and the reply
is written from their results. The stored turn holds the tool calls and results like any model's.
Time is injected: the model's clock and the scheduling tool's clock are the same fixed instant.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from tool_support import LoopbackSite, loopback_site, send

from agent.runtime.engine import StreamEvent, TextDelta, create_engine
from agent.runtime.engine.native import NativeEngine
from agent.runtime.engine.offline import offline_model
from agent.runtime.engine.offline_intents import Call, Say, read_request
from agent.runtime.service import ChatService, TurnRequest
from agent.runtime.sessions import SessionStore, Turn
from agent.runtime.settings import RuntimeSettings
from agent.runtime.store.local import LocalDirStore
from agent.runtime.tools import Tools, open_tools

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)  # 09:00 in Paris
PAGE = "<!doctype html><html><head><title>Hut report</title></head><body><h1>Goûter</h1>"
PAGE += "<p>Open from June to September.</p></body></html>"


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> datetime:
    monkeypatch.setattr("agent.runtime.tools.schedule.now", lambda: T0)
    return T0


@pytest.fixture
def site() -> Iterator[LoopbackSite]:
    with loopback_site({"/hut": send(PAGE)}) as running:
        yield running


@dataclass
class Agent:
    """The offline model over the real tools, behind the chat service."""

    service: ChatService
    tools: Tools
    deltas: list[str]

    async def say(self, prompt: str, session: str = "s1") -> Turn:
        self.deltas.clear()

        async def on_event(event: StreamEvent) -> None:
            if isinstance(event, TextDelta):
                self.deltas.append(event.text)

        request = TurnRequest(session, prompt, "alice@example.com", "api", "req-1")
        turn = await self.service.turn(request, on_event)
        assert "".join(self.deltas) == turn.reply  # streamed, and the stream is the reply
        return turn


def tool_calls(turn: Turn) -> list[tuple[str, Any]]:
    """(tool name, arguments) of every tool call the stored turn holds, in order."""
    return [
        (
            part["tool_name"],
            json.loads(part["args"]) if isinstance(part["args"], str) else part["args"],
        )
        for message in turn.messages
        if message["kind"] == "response"
        for part in message["parts"]
        if part["part_kind"] == "tool-call"
    ]


def tool_results(turn: Turn) -> list[str]:
    return [
        str(part["content"])
        for message in turn.messages
        if message["kind"] == "request"
        for part in message["parts"]
        if part["part_kind"] == "tool-return"
    ]


async def open_agent(
    settings: RuntimeSettings, http: httpx.AsyncClient, cdp_url: str | None = None
) -> AsyncIterator[Agent]:
    if cdp_url is not None:
        settings = settings.model_copy(update={"browser_cdp_url": cdp_url})
    store = LocalDirStore(settings.state_dir)
    tools = open_tools(settings, store)
    engine = NativeEngine(
        offline_model(settings.agent_timezone, clock=lambda: T0),
        label="offline",
        offline=True,
        instructions=settings.agent_instructions,
        toolsets=tools.toolsets,
    )
    service = ChatService(settings, store, SessionStore(store), engine, http)
    try:
        yield Agent(service, tools, [])
    finally:
        await tools.close()


@pytest.fixture
async def agent(
    settings: RuntimeSettings, http: httpx.AsyncClient, fixed_clock: datetime
) -> AsyncIterator[Agent]:
    settings = settings.model_copy(update={"web_fetch_allowlist": "127.0.0.1"})
    async for opened in open_agent(settings, http):
        yield opened


async def test_remember_then_recall_then_search(agent: Agent) -> None:
    turn = await agent.say("remember that my cat is called Tom")
    assert tool_calls(turn) == [("remember", {"note": "my cat is called Tom", "long_term": True})]
    daily = agent.tools.memory.today_path()
    assert turn.reply == (
        f"[offline model] Noted: 'my cat is called Tom' (remembered in {daily} and MEMORY.md). "
        "Ask 'what do you remember' to see it."
    )
    memory = await agent.tools.memory.read("MEMORY.md")
    assert memory is not None
    assert memory.content == "- my cat is called Tom\n"

    recalled = await agent.say("What do you remember?")
    assert tool_calls(recalled) == [("recall", {})]
    assert recalled.reply == ("[offline model] Here is what I remember:\n- my cat is called Tom")
    found = await agent.say("what do you remember about my cat")
    assert tool_calls(found) == [("search_memory", {"query": "cat"})]
    assert "MEMORY.md:1: - my cat is called Tom" in found.reply


async def test_recall_with_nothing_remembered_says_so(agent: Agent) -> None:
    turn = await agent.say("what do you remember")
    assert turn.reply.startswith("[offline model] I do not remember anything yet")


async def test_remind_me_in_five_minutes_creates_a_one_off_job(agent: Agent) -> None:
    turn = await agent.say("remind me in 5 minutes to stretch")
    assert tool_calls(turn) == [
        ("schedule_job", {"prompt": "Reminder: stretch", "at": "2026-11-26T09:05:00+01:00"})
    ]
    [job] = await agent.tools.jobs.list()
    assert (job.kind, job.prompt, job.next_run) == (
        "once",
        "Reminder: stretch",
        T0 + timedelta(minutes=5),
    )
    assert job.session_id == "s1"
    assert turn.reply == (
        "[offline model] ⏰ Reminder set for 2026-11-26 09:05 Europe/Paris: stretch "
        f"(job {job.id}). It is on the Jobs page, where you can cancel it."
    )


async def test_remind_me_at_a_clock_time_uses_the_agent_zone(agent: Agent) -> None:
    await agent.say("Remind me at 6:30pm to call Alice")
    await agent.say("remind me at 8:00 to water the plants")  # 08:00 has passed: tomorrow
    runs = sorted((job.prompt, job.next_run) for job in await agent.tools.jobs.list())
    assert runs == [
        ("Reminder: call Alice", datetime(2026, 11, 26, 17, 30, tzinfo=UTC)),
        ("Reminder: water the plants", datetime(2026, 11, 27, 7, 0, tzinfo=UTC)),
    ]


@pytest.mark.parametrize(
    ("prompt", "cron", "job_prompt"),
    [
        ("every day at 9 fetch https://example.com", "0 9 * * *", "fetch https://example.com"),
        (
            "every monday at 8:30 remind me to plan the week",
            "30 8 * * 1",
            "Reminder: plan the week",
        ),
        ("remind me every weekday at 6pm to leave", "0 18 * * 1-5", "Reminder: leave"),
        ("every 15 minutes check the hut page", "*/15 * * * *", "check the hut page"),
    ],
)
async def test_recurring_jobs_become_cron_jobs(
    agent: Agent, prompt: str, cron: str, job_prompt: str
) -> None:
    turn = await agent.say(prompt)
    [job] = await agent.tools.jobs.list()
    assert (job.kind, job.cron, job.prompt, job.timezone) == (
        "cron",
        cron,
        job_prompt,
        "Europe/Paris",
    )
    assert tool_calls(turn) == [("schedule_job", {"prompt": job_prompt, "cron": cron})]
    assert turn.reply.startswith(f"[offline model] Scheduled {job_prompt!r}, cron '{cron}', next ")


async def test_jobs_are_listed_and_cancelled_by_id_or_description(agent: Agent) -> None:
    empty = await agent.say("list my jobs")
    assert empty.reply == "[offline model] You have no active jobs."
    await agent.say("remind me in 5 minutes to stretch")
    await agent.say("remind me in 2 hours to drink water")
    water, stretch = sorted(await agent.tools.jobs.list(), key=lambda job: job.prompt)
    assert stretch.prompt == "Reminder: stretch"
    listed = await agent.say("what reminders do I have?")
    assert tool_calls(listed) == [("list_jobs", {})]
    assert f"- {stretch.id} [active] once" in listed.reply
    assert water.id in listed.reply

    # By description: the model lists the jobs, then cancels the one that matches.
    cancelled = await agent.say("cancel the reminder to stretch")
    assert tool_calls(cancelled) == [("list_jobs", {}), ("cancel_job", {"job_id": stretch.id})]
    ids = [
        part["tool_call_id"]
        for message in cancelled.messages
        if message["kind"] == "response"
        for part in message["parts"]
        if part["part_kind"] == "tool-call"
    ]
    assert ids == ["offline-5", "offline-6"]  # unique in the session (4 calls before)
    assert cancelled.reply.startswith(f"[offline model] Done: cancelled {stretch.id}")
    vague = await agent.say("cancel the reminder to sing")
    assert "No active jobs match 'sing'" in vague.reply
    assert water.id in vague.reply

    by_id = await agent.say(f"cancel job {water.id}")
    assert tool_calls(by_id) == [("cancel_job", {"job_id": water.id})]
    assert {job.status for job in await agent.tools.jobs.list()} == {"cancelled"}


async def test_fetch_reports_title_and_text(agent: Agent, site: LoopbackSite) -> None:
    turn = await agent.say(f"fetch {site.base}/hut")
    assert tool_calls(turn) == [("fetch_url", {"url": f"{site.base}/hut"})]
    assert turn.reply == (
        f"[offline model] Fetched {site.base}/hut (HTTP 200 text/html). "
        "The page title is 'Hut report'. It begins: Goûter Open from June to September."
    )
    assert [r.path for r in site.requests] == ["/hut"]


async def test_a_refused_tool_call_is_reported_not_retried(
    settings: RuntimeSettings, http: httpx.AsyncClient, site: LoopbackSite
) -> None:
    async for agent in open_agent(settings, http):  # no WEB_FETCH_ALLOWLIST: loopback refused
        turn = await agent.say(f"fetch {site.base}/hut")
    assert tool_calls(turn) == [("fetch_url", {"url": f"{site.base}/hut"})]
    assert turn.reply.startswith("[offline model] The fetch_url tool refused: ")
    assert "127.0.0.1" in turn.reply
    assert site.requests == []


async def test_open_without_a_browser_fetches_instead(agent: Agent, site: LoopbackSite) -> None:
    turn = await agent.say(f"open {site.base}/hut in the browser")
    assert tool_calls(turn) == [("fetch_url", {"url": f"{site.base}/hut"})]
    assert turn.reply.startswith(
        "[offline model] The browser is off (BROWSER_CDP_URL is not set), so I fetched the page "
        f"instead. Fetched {site.base}/hut (HTTP 200 text/html). The page title is 'Hut report'."
    )


@pytest.mark.slow
async def test_open_in_the_browser_reports_the_title(
    settings: RuntimeSettings,
    http: httpx.AsyncClient,
    site: LoopbackSite,
    cdp_url: str,
) -> None:
    settings = settings.model_copy(update={"web_fetch_allowlist": "127.0.0.1"})
    async for agent in open_agent(settings, http, cdp_url):
        turn = await agent.say(f"Open {site.base}/hut in the browser")
    assert tool_calls(turn) == [("open_page", {"url": f"{site.base}/hut"})]
    assert turn.reply.startswith(
        f"[offline model] Opened {site.base}/hut in the browser (HTTP 200). "
        "The page title is 'Hut report'. It begins: Goûter"
    )


async def test_anything_else_gets_help_and_how_to_connect_a_model(agent: Agent) -> None:
    turn = await agent.say("Plan a hut trip to the Goûter")
    assert tool_calls(turn) == []
    assert turn.reply.startswith(
        "[offline model] You said: 'Plan a hut trip to the Goûter'. This is message 1"
    )
    assert "remind me in 5 minutes to stretch" in turn.reply
    assert "docs/models.md" in turn.reply
    assert "AGENT_MODEL=" in turn.reply
    assert len(agent.deltas) >= 3  # streamed sentence by sentence
    when = await agent.say("remind me to stretch")
    assert when.reply.startswith("[offline model] When should I remind you?")


async def test_a_fired_reminder_is_said_back(agent: Agent) -> None:
    turn = await agent.say("[scheduled job 0123456789ab] Reminder: stretch", session="job")
    assert turn.reply == "[offline model] ⏰ Reminder: stretch"


async def test_the_default_engine_is_the_offline_model_with_tools(
    settings: RuntimeSettings, http: httpx.AsyncClient, fixed_clock: datetime
) -> None:
    """create_engine builds the offline model in the agent's zone (AGENT_TIMEZONE)."""
    store = LocalDirStore(settings.state_dir)
    tools = open_tools(settings, store)
    engine = create_engine(settings, tools.toolsets)
    service = ChatService(settings, store, SessionStore(store), engine, http)
    try:
        turn = await service.turn(TurnRequest("s", "remember I like tea", "a", "api", "r"))
    finally:
        await tools.close()
    assert tool_calls(turn) == [("remember", {"note": "I like tea", "long_term": True})]


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        (
            "remember: the dentist is on Friday",
            Call("remember", {"note": "the dentist is on Friday", "long_term": True}),
        ),
        (
            "Don't forget that Bob is vegan.",
            Call("remember", {"note": "Bob is vegan", "long_term": True}),
        ),
        ("search memory for dentist", Call("search_memory", {"query": "dentist"})),
        (
            "remind me to stretch in 10 min",
            Call(
                "schedule_job", {"prompt": "Reminder: stretch", "at": "2026-11-26T08:10:00+00:00"}
            ),
        ),
        (
            "remind me in an hour to call mum",
            Call(
                "schedule_job", {"prompt": "Reminder: call mum", "at": "2026-11-26T09:00:00+00:00"}
            ),
        ),
        (
            "remind me tomorrow at 7 to run",
            Call("schedule_job", {"prompt": "Reminder: run", "at": "2026-11-27T07:00:00+00:00"}),
        ),
        ("remind me at 25:00 to sleep", Say("I did not understand the time '25'; try 'at 18:30'.")),
        ("show my jobs", Call("list_jobs")),
        ("cancel 0123456789ab", Call("cancel_job", {"job_id": "0123456789ab"})),
        ("visit example.com", Call("open_page", {"url": "https://example.com"})),
        ("get https://example.com/a?b=1.", Call("fetch_url", {"url": "https://example.com/a?b=1"})),
        ("what is the weather", None),
    ],
)
def test_requests_read(prompt: str, expected: Call | Say | None) -> None:
    assert read_request(prompt, T0) == expected
