"""The web UI in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright),
through the edge Worker in local workerd in front of the runtime, as `make dev` runs them.

Signed in by the Worker's local identity (DEV_IDENTITY stands in for Cloudflare Access), the test
sends a message and watches the reply stream in over /ws, approves a Telegram pairing request
(the sender's update goes through the Worker's webhook verification to the runtime, which answers
through a fake Telegram API on loopback), and edits memory, including a conflicting edit. It fails,
saying so, when Chromium is missing. Screenshots go to $UI_SCREENSHOTS (default: the test's tmp).
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    BrowserContext,
    Page,
    WebSocket,
    WebSocketRoute,
    expect,
)
from suite_support import chromium, page_problems, screenshots
from ui_support import TG_TOKEN, FakeTelegram, fake_telegram, telegram_update

from agent.dev import DevOptions, DevStack
from agent.ports import free_port
from agent.runtime.jobs.model import Job

pytestmark = pytest.mark.slow

WEBHOOK_SECRET = "ui-test-telegram-secret"
IDENTITY = "owner@example.com"


def _http(url: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - loopback
        url,
        data=data,
        method=method,
        headers={"content-type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read())


@pytest.fixture(scope="module")
def telegram() -> Iterator[FakeTelegram]:
    with fake_telegram() as fake:
        yield fake


@pytest.fixture(scope="module")
def local_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dev") / ".local"


@pytest.fixture(scope="module")
def stack(local_dir: Path, telegram: FakeTelegram) -> Iterator[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_", "BROWSER_"))}
    env |= {
        "TELEGRAM_BOT_TOKEN": TG_TOKEN,
        "TELEGRAM_API_BASE_URL": telegram.url,
        "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "TELEGRAM_DM_POLICY": "pairing",
    }
    options = DevOptions(
        port=free_port(),
        local_dir=local_dir,
        identity=IDENTITY,
        browser=False,
        env=env,
    )
    with DevStack(options) as url:
        yield url


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as browser_context:
        yield browser_context


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return screenshots(tmp_path_factory.mktemp("screenshots"))


@pytest.fixture(scope="module")
def page(context: BrowserContext, stack: str) -> Iterator[Page]:
    page = context.new_page()
    problems = page_problems(page)
    page.goto(stack + "/")
    yield page
    # No script error and no Content-Security-Policy violation anywhere in the session; the one
    # failed request expected is the refused conflicting memory save (409).
    expected = "the server responded with a status of 409"
    assert [p for p in problems if expected not in p] == []
    page.close()


def test_signed_in_with_the_local_identity_and_offline_model_labelled(page: Page) -> None:
    expect(page.locator("#who")).to_have_text(f"Signed in as {IDENTITY}")
    expect(page.locator("#offline-badge")).to_be_visible()
    expect(page.locator("#offline-badge")).to_have_text("offline model")
    expect(page.locator("#conn")).to_have_text("connected")


def test_chat_reply_streams_in_and_is_saved(page: Page, shots: Path) -> None:
    frames: list[dict[str, Any]] = []

    def watch(socket: WebSocket) -> None:
        socket.on(
            "framereceived",
            lambda payload: (
                frames.append(json.loads(payload)) if isinstance(payload, str) else None
            ),
        )

    # Reconnect so the new socket is observed from its first frame.
    page.on("websocket", watch)
    page.reload()
    expect(page.locator("#conn")).to_have_text("connected")

    message = "Plan a hut trip to the Goûter. Book it for Saturday."
    page.fill("#chat-input", message)
    page.press("#chat-input", "Enter")
    agent = page.locator(".msg.agent").last
    expect(agent.locator(".meta")).to_contain_text("saved", timeout=30_000)
    expect(agent.locator(".meta")).to_contain_text("offline model")
    expect(page.locator(".msg.user").last).to_have_text(message)

    deltas = [f for f in frames if f["type"] == "delta"]
    replies = [f for f in frames if f["type"] == "reply"]
    assert len(replies) == 1
    assert len(deltas) >= 2, "the reply did not stream"  # the offline model streams by sentence
    assert "".join(d["text"] for d in deltas) == replies[0]["reply"]
    # The saved reply is rendered as Markdown: its text, with its list lines as list items.
    reply = replies[0]["reply"]
    items = [line[2:] for line in reply.splitlines() if line.startswith("- ")]
    expect(agent.locator(".text")).to_contain_text(reply.splitlines()[0])
    expect(agent.locator(".text li")).to_have_text(items)
    assert frames.index(deltas[0]) < frames.index(replies[0])

    session = replies[0]["session_id"]
    expect(page.locator(f'#session-list [data-session="{session}"]')).to_have_class(
        re.compile(r"\bactive\b")
    )
    page.screenshot(path=str(shots / "chat.png"), full_page=True)

    # A second message continues the same session; reopening the session shows both turns.
    page.fill("#chat-input", "And what should I pack?")
    page.click("#chat-send")
    expect(page.locator(".msg.agent .meta")).to_have_count(2, timeout=30_000)
    page.click("#new-chat")
    expect(page.locator(".msg")).to_have_count(0)
    page.click(f'#session-list [data-session="{session}"]')
    expect(page.locator(".msg.user")).to_have_count(2)
    expect(page.locator(".msg.agent").first).to_contain_text("Goûter")


def test_pairing_request_is_approved_in_the_channels_page(
    page: Page, stack: str, telegram: FakeTelegram, shots: Path
) -> None:
    # An unknown Telegram user writes; the Worker checks the webhook secret, the runtime answers
    # with a one-time code through the (fake) Bot API.
    _http(
        stack + "/webhooks/telegram",
        "POST",
        telegram_update(501, "hello, may I talk to you?"),
        {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
    )
    notice = telegram.wait_for_text("pairing code")
    code_match = re.search(r"pairing code is ([A-Z0-9]{8})", notice)
    assert code_match is not None, notice
    code = code_match.group(1)

    page.click("nav a[data-view=channels]")
    expect(page.locator('#channels-body tr[data-channel="telegram"]')).to_contain_text("enabled")
    expect(page.locator('#channels-body tr[data-channel="telegram"]')).to_contain_text("pairing")
    row = page.locator(f'#pairings-body tr[data-code="{code}"]')
    expect(row).to_contain_text("Ada (4242)")
    page.screenshot(path=str(shots / "channels.png"), full_page=True)
    row.get_by_role("button", name="Approve").click()
    expect(page.locator("#toast")).to_have_text("Approved telegram sender 4242")
    expect(page.locator("#pairings-body")).to_contain_text("No pending pairing requests.")
    telegram.wait_for_text("You're approved")
    assert _http(stack + "/api/pairings") == {"pairings": []}


def save(page: Page) -> int:
    """Click Save and return the status of the PUT it sent."""
    with page.expect_response(
        lambda r: r.request.method == "PUT" and r.url.endswith("/api/memory/MEMORY.md")
    ) as response:
        page.click("#memory-save")
    return response.value.status


def test_memory_is_edited_and_conflicts_are_caught(page: Page, stack: str, shots: Path) -> None:
    page.click("nav a[data-view=memory]")
    page.fill("#memory-new-path", "MEMORY.md")
    page.press("#memory-new-path", "Enter")
    expect(page.locator("#memory-path")).to_have_text("MEMORY.md")
    page.fill("#memory-content", "# Memory\n- prefers green tea\n")
    assert save(page) == 200
    expect(page.locator("#memory-status")).to_contain_text("Saved")
    expect(page.locator('#memory-files [data-path="MEMORY.md"]')).to_be_visible()
    assert _http(stack + "/api/memory/MEMORY.md")["content"] == "# Memory\n- prefers green tea\n"

    # A second edit replaces the version just saved (etag carried by the page).
    page.fill("#memory-content", "# Memory\n- prefers green tea\n- hikes on Saturdays\n")
    assert save(page) == 200
    stored = _http(stack + "/api/memory/MEMORY.md")
    assert stored["content"].endswith("- hikes on Saturdays\n")

    # Someone else changes the file: the page's next save is refused, not silently lost.
    _http(
        stack + "/api/memory/MEMORY.md",
        "PUT",
        {"content": "# Memory\n- changed elsewhere\n", "etag": stored["etag"]},
    )
    page.fill("#memory-content", "# Memory\n- my stale edit\n")
    assert save(page) == 409
    expect(page.locator("#memory-status")).to_contain_text("Changed elsewhere")
    expect(page.locator("#toast")).to_have_text("Not saved: MEMORY.md was changed elsewhere")
    assert _http(stack + "/api/memory/MEMORY.md")["content"] == "# Memory\n- changed elsewhere\n"

    page.fill("#memory-q", "elsewhere")
    page.press("#memory-q", "Enter")
    expect(page.locator("#memory-hits")).to_contain_text("MEMORY.md:2")
    page.locator("#memory-hits button").first.click()
    expect(page.locator("#memory-content")).to_have_value("# Memory\n- changed elsewhere\n")
    page.screenshot(path=str(shots / "memory.png"), full_page=True)


def test_jobs_are_listed_and_cancelled(
    page: Page, stack: str, local_dir: Path, shots: Path
) -> None:
    page.click("nav a[data-view=jobs]")
    expect(page.locator("#jobs-body")).to_contain_text("No jobs")
    # A job as the scheduling tool stores it (the offline model schedules nothing by itself).
    job = Job(
        id="a1b2c3d4e5f6",
        kind="cron",
        cron="0 7 * * 6",
        timezone="Europe/Paris",
        prompt="Weather for the hut this weekend?",
        channel="telegram",
        conversation="4242",
        session_id="telegram-weather",
        user="channel:telegram",
        created_at=datetime.now(UTC),
        timeout_s=60,
        next_run=datetime(2026, 11, 28, 6, 0, tzinfo=UTC),
    )
    jobs = local_dir / "state" / "jobs"
    jobs.mkdir(parents=True, exist_ok=True)
    (jobs / f"{job.id}.json").write_text(job.model_dump_json())

    page.click("[data-refresh=jobs]")
    row = page.locator(f'#jobs-body tr[data-job="{job.id}"]')
    expect(row).to_contain_text("0 7 * * 6 (Europe/Paris)")
    expect(row).to_contain_text("Weather for the hut this weekend?")
    expect(row.locator(".pill")).to_have_text("active")
    page.screenshot(path=str(shots / "jobs.png"), full_page=True)
    row.get_by_role("button", name="Cancel").click()
    expect(row.locator(".pill")).to_have_text("cancelled")
    expect(row.get_by_role("button", name="Cancel")).to_have_count(0)
    assert _http(stack + "/api/jobs")["jobs"][0]["status"] == "cancelled"


def test_state_page(page: Page, shots: Path) -> None:
    page.click("nav a[data-view=state]")
    facts = page.locator("#state-list")
    expect(facts).to_contain_text("local directory")
    expect(facts).to_contain_text("write-through")
    expect(facts.locator("dt:text-is('Sessions') + dd")).to_have_text("1")
    expect(facts.locator("dt:text-is('Memory files') + dd")).to_have_text("1")
    expect(facts.locator("dt:text-is('Pending pairings') + dd")).to_have_text("0")
    expect(facts.locator("dt:text-is('Last durable write') + dd")).not_to_have_text(
        "none since this sandbox started"
    )
    page.screenshot(path=str(shots / "state.png"), full_page=True)


def test_a_reply_lost_with_the_connection_is_resent_and_answered_once(
    context: BrowserContext, stack: str
) -> None:
    """The connection drops after the turn was stored but before its reply reached the page: the
    page reconnects, resends the message with the same turn_id, and gets the stored turn back."""
    dropped: list[str] = []

    def relay(route: WebSocketRoute) -> None:
        server = route.connect_to_server()
        route.on_message(server.send)

        def to_page(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame["type"] == "reply" and not dropped:
                dropped.append(frame["turn_id"])
                route.close(code=1012, reason="simulated restart")
                return
            route.send(message)

        server.on_message(to_page)

    page = context.new_page()
    page.route_web_socket(re.compile(r"/ws$"), relay)
    page.goto(stack + "/")
    expect(page.locator("#conn")).to_have_text("connected")
    page.fill("#chat-input", "Remind me about the dentist")
    page.press("#chat-input", "Enter")
    agent = page.locator(".msg.agent").last
    expect(agent.locator(".meta")).to_contain_text("saved", timeout=30_000)
    assert len(dropped) == 1
    expect(page.locator("#conn")).to_have_text("connected")
    session = page.locator("#session-list .item.active").get_attribute("data-session")
    turns = _http(f"{stack}/api/sessions/{session}")["turns"]
    assert [t["turn_id"] for t in turns] == dropped  # stored once, under the page's turn_id
    expect(agent.locator(".text")).to_have_text(turns[0]["reply"])
    page.close()


def test_long_session_lists_and_histories_page(page: Page, local_dir: Path, shots: Path) -> None:
    """More sessions than one listing page and a session longer than one history page: the page
    shows the newest of each and fetches the rest on demand ("More sessions", "Load older")."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from agent.runtime.sessions import SessionStore, Turn
    from agent.runtime.store.local import LocalDirStore

    async def fill() -> None:
        sessions = SessionStore(LocalDirStore(local_dir / "state"))
        start = datetime(2026, 1, 1, tzinfo=UTC)
        for index in range(40):  # a session per day, oldest first; plus one long one, newest
            session_id = f"paged-{index:02d}" if index < 39 else "paged-long"
            turns = 61 if session_id == "paged-long" else 1
            async with sessions.open(session_id):
                for seq in range(1, turns + 1):
                    draft = Turn(
                        seq=1,
                        turn_id=f"{session_id}-{seq}",
                        user=IDENTITY,
                        channel="api",
                        created_at=start.replace(day=1 + index % 28, month=1 + index // 28),
                        prompt=f"{session_id} m{seq}",
                        reply=f"reply {seq}",
                        model="offline",
                    )
                    await sessions.append(session_id, draft)

    # Playwright's sync API runs an event loop in this thread: write from another one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, fill()).result()
    page.click("nav a[data-view=memory]")
    expect(page.locator("#memory-scope")).to_contain_text("Memory is shared")
    page.click("nav a[data-view=chat]")
    items = page.locator("#session-list [data-session]")
    expect(items).to_have_count(30)
    more = page.locator("#sessions-more")
    expect(more).to_be_visible()
    more.click()
    expect(more).to_be_hidden()
    expect(page.locator('#session-list [data-session^="paged-"]')).to_have_count(40)
    listed = items.evaluate_all("nodes => nodes.map(n => n.dataset.session)")
    assert len(set(listed)) == len(listed)
    paged = [s for s in listed if s.startswith("paged-")]
    assert paged[0] == "paged-long"
    assert paged[1:] == [f"paged-{i:02d}" for i in range(38, -1, -1)]  # newest first

    page.click('#session-list [data-session="paged-long"]')
    expect(page.locator(".msg.user")).to_have_count(50)
    expect(page.locator(".msg.user").last).to_have_text("paged-long m61")
    older = page.locator("#load-older")
    expect(older).to_be_visible()
    older.click()
    expect(page.locator(".msg.user")).to_have_count(61)
    expect(page.locator(".msg.user").first).to_have_text("paged-long m1")
    expect(older).to_be_hidden()
    page.screenshot(path=str(shots / "paging.png"), full_page=True)
