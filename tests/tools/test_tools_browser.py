"""Browser: CDP to a real headless Chromium (Debian's /usr/bin/chromium) started on
loopback, driving a page served on loopback. One session per turn, closed on every path."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import httpx
import pytest
from pydantic import SecretStr
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from suite_support import HTTP
from tools_support import LoopbackSite, Script, deps_for, loopback_site, run_script, send

from agent.runtime.engine.agent import build_agent
from agent.runtime.settings import RuntimeSettings
from agent.runtime.store.local import LocalDirStore
from agent.runtime.tools import open_tools
from agent.runtime.tools.browser import (
    BrowserConfig,
    BrowserSession,
    BrowserSessions,
    BrowserToolset,
)
from agent.runtime.tools.web import Allowlist

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

SHOP = """<!doctype html><html><head><title>Gear shop</title></head><body>
<h1>Search the shop</h1>
<input name="q" aria-label="Query">
<button id="go" onclick="document.getElementById('out').textContent =
  'Results for ' + document.querySelector('input[name=q]').value">Search</button>
<p id="out">No search yet</p>
</body></html>"""
TOKEN = "cdp-secret-token-0123456789"


def stall(request: BaseHTTPRequestHandler) -> None:
    time.sleep(3)
    send("<title>late</title>")(request)


@pytest.fixture
def site() -> Iterator[LoopbackSite]:
    with loopback_site({"/shop": send(SHOP), "/stall": stall}) as running:
        yield running


@pytest.fixture
def driver() -> BrowserSessions:
    return BrowserSessions()


def toolset(cdp_url: str, store: LocalDirStore, driver: BrowserSessions) -> BrowserToolset:
    config = BrowserConfig(
        cdp_url, None, Allowlist.parse("127.0.0.1"), navigation_timeout_s=5, action_timeout_s=1
    )
    return BrowserToolset(config, store, driver)


def open_pages(cdp_url: str) -> list[str]:
    """The URLs of the page targets the browser still has open."""
    targets = HTTP.get(f"{cdp_url}/json/list", timeout=5).json()
    return [t["url"] for t in targets if t["type"] == "page"]


async def test_a_turn_opens_types_clicks_reads_and_screenshots(
    cdp_url: str,
    site: LoopbackSite,
    settings: RuntimeSettings,
    store: LocalDirStore,
    http: httpx.AsyncClient,
    driver: BrowserSessions,
) -> None:
    shop = f"{site.base}/shop"
    script = Script(
        [
            [("open_page", {"url": shop})],
            [("type_text", {"selector": "input[name=q]", "text": "crampons"})],
            [("click", {"selector": "#go"})],
            [("page_snapshot", {})],
            [("screenshot", {})],
            [("click", {"selector": "#no-such-button"})],
            [("open_page", {"url": "http://169.254.169.254/latest/meta-data/"})],
            [("open_page", {"url": "file:///etc/passwd"})],
        ]
    )
    await run_script(script, [toolset(cdp_url, store, driver)], deps_for(settings, store, http))
    assert script.seen[0].startswith(f"open_page: HTTP 200\nURL: {shop}\nTitle: Gear shop\n\n")
    assert script.seen[0].endswith("Search the shop\nSearch\nNo search yet")
    assert script.seen[1].endswith("No search yet")
    assert script.seen[2].endswith("Results for crampons")
    assert 'textbox "Query"' in script.seen[3]
    assert 'button "Search"' in script.seen[3]
    assert script.seen[4].startswith("screenshot: saved ")
    assert script.seen[5] == (
        "RETRY click: clicking '#no-such-button' timed out; check the selector or try another page"
    )
    assert script.seen[6].startswith("RETRY open_page: refused: 169.254.169.254 resolves to")
    assert script.seen[7].startswith("RETRY open_page: refused: only http and https")
    shots = await store.list("workspace/screenshots/")
    assert len(shots) == 1
    assert shots[0].key.startswith("workspace/screenshots/s1-")
    png = await store.get(shots[0].key)
    assert png is not None
    assert png.body.startswith(b"\x89PNG\r\n\x1a\n")
    assert f"saved {len(png.body)} bytes to workspace {shots[0].key[10:]}" in script.seen[4]
    # One session for the whole turn, closed when the turn ended.
    assert (driver.opened, driver.open) == (1, 0)
    assert shop not in open_pages(cdp_url)
    assert [r.path for r in site.requests if r.path != "/favicon.ico"] == ["/shop"]


async def test_each_turn_gets_its_own_session_even_when_it_fails(
    cdp_url: str,
    site: LoopbackSite,
    settings: RuntimeSettings,
    store: LocalDirStore,
    http: httpx.AsyncClient,
    driver: BrowserSessions,
) -> None:
    shop = f"{site.base}/shop"
    tools = toolset(cdp_url, store, driver)
    steps = 0

    def broken(_messages: list[ModelMessage], _info: AgentInfo) -> ModelResponse:
        nonlocal steps
        steps += 1
        if steps == 1:
            return ModelResponse(parts=[ToolCallPart("open_page", {"url": shop})])
        raise RuntimeError("the model provider went away")

    agent = build_agent(FunctionModel(broken), "test", [tools])
    with pytest.raises(RuntimeError, match="went away"):
        await agent.run("go", deps=deps_for(settings, store, http))
    assert (driver.opened, driver.open) == (1, 0)
    assert shop not in open_pages(cdp_url)

    script = Script([[("open_page", {"url": shop})], [("page_text", {})]])
    await run_script(script, [tools], deps_for(settings, store, http))
    assert script.seen[1].endswith("No search yet")
    assert (driver.opened, driver.open) == (2, 0)

    no_browser = Script([])
    await run_script(no_browser, [tools], deps_for(settings, store, http))
    assert driver.opened == 2  # a turn that uses no browser tool opens no session


async def test_a_cancelled_turn_closes_its_session(
    cdp_url: str,
    site: LoopbackSite,
    settings: RuntimeSettings,
    store: LocalDirStore,
    http: httpx.AsyncClient,
    driver: BrowserSessions,
) -> None:
    script = Script([[("open_page", {"url": f"{site.base}/stall"})]])
    turn = asyncio.create_task(
        run_script(script, [toolset(cdp_url, store, driver)], deps_for(settings, store, http))
    )
    for _ in range(200):
        if driver.open == 1 and site.requests:
            break
        await asyncio.sleep(0.02)
    assert driver.open == 1
    turn.cancel()
    with pytest.raises(asyncio.CancelledError):
        await turn
    assert (driver.opened, driver.open) == (1, 0)
    assert f"{site.base}/stall" not in open_pages(cdp_url)


async def test_bearer_token_goes_in_a_header_and_never_into_errors(
    settings: RuntimeSettings,
    store: LocalDirStore,
    http: httpx.AsyncClient,
    driver: BrowserSessions,
) -> None:
    def refuse(request: BaseHTTPRequestHandler) -> None:
        send(f"unauthorized {TOKEN}", "text/plain", status=401)(request)

    with loopback_site({"/json/version/": refuse, "/json/version": refuse}) as fake_cdp:
        config = BrowserConfig(fake_cdp.base, SecretStr(TOKEN), Allowlist.parse("127.0.0.1"))
        script = Script([[("open_page", {"url": f"{fake_cdp.base}/page"})]])
        await run_script(
            script, [BrowserToolset(config, store, driver)], deps_for(settings, store, http)
        )
    assert fake_cdp.requests
    assert fake_cdp.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert script.seen[0].startswith("RETRY open_page: the browser is not reachable: ")
    assert TOKEN not in script.seen[0]
    assert driver.open == 0


async def test_browser_tools_only_with_a_cdp_url(settings: RuntimeSettings) -> None:
    store = LocalDirStore(settings.state_dir)
    without = open_tools(settings, store)
    with_cdp = open_tools(
        settings.model_copy(update={"browser_cdp_url": "http://127.0.0.1:9"}), store
    )
    try:
        assert [t.id for t in without.toolsets] == ["memory", "schedule", "web", "send_file"]
        assert without.browser is None
        assert [t.id for t in with_cdp.toolsets] == [
            "memory",
            "schedule",
            "web",
            "send_file",
            "browser",
        ]
    finally:
        await without.close()
        await with_cdp.close()


async def test_the_page_cannot_reach_addresses_web_fetch_would_refuse(
    cdp_url: str,
    site: LoopbackSite,
    settings: RuntimeSettings,
    store: LocalDirStore,
    http: httpx.AsyncClient,
    driver: BrowserSessions,
) -> None:
    # 127.0.0.2 is loopback too, but only 127.0.0.1 is allowlisted: it stands for "internal".
    with loopback_site(
        {"/pixel.png": send(b"GIF89a", "image/gif"), "/admin": send("admin")}, host="127.0.0.2"
    ) as internal:
        leaky = (
            f'<html><head><title>Leaky</title></head><body><img src="{internal.base}/pixel.png">'
            f'<img src="{site.base}/ok.png"><a id="in" href="{internal.base}/admin">admin</a>'
            "<p>public page</p></body></html>"
        )
        site.routes["/leaky"] = send(leaky)
        site.routes["/ok.png"] = send(b"GIF89a", "image/gif")
        script = Script(
            [[("open_page", {"url": f"{site.base}/leaky"})], [("click", {"selector": "#in"})]]
        )
        await run_script(script, [toolset(cdp_url, store, driver)], deps_for(settings, store, http))
    assert f"Blocked request: {internal.base}/pixel.png (127.0.0.2 resolves to" in script.seen[0]
    assert f"Blocked request: {internal.base}/admin" in script.seen[1]
    assert internal.requests == []  # nothing reached the "internal" server
    assert "/ok.png" in [r.path for r in site.requests]  # allowed subresources still load


FORM = """<!doctype html><html><head><title>Form</title></head><body>
<h2>Find gear</h2>
<form action="/results" method="get"><input name="q" aria-label="Search terms"></form>
<div style="height: 3000px">tall</div>
<button onclick="document.title = 'clicked'">Show more</button>
</body></html>"""


async def test_text_and_role_selectors_enter_submits_and_full_page_shots(
    cdp_url: str,
    site: LoopbackSite,
    settings: RuntimeSettings,
    store: LocalDirStore,
    http: httpx.AsyncClient,
    driver: BrowserSessions,
) -> None:
    site.routes["/form"] = send(FORM)
    site.routes["/results"] = send("<title>Results</title><p>3 ropes found</p>")
    script = Script(
        [
            [("open_page", {"url": f"{site.base}/form"})],
            [("page_snapshot", {})],
            [("click", {"selector": "text=show MORE"})],
            [("screenshot", {"full_page": True})],
            [("click", {"selector": 'text="Show"'})],
            [
                (
                    "type_text",
                    {
                        "selector": 'role=textbox[name="Search terms"]',
                        "text": "rope",
                        "submit": True,
                    },
                )
            ],
            [("type_text", {"selector": "p", "text": "x"})],
        ]
    )
    await run_script(script, [toolset(cdp_url, store, driver)], deps_for(settings, store, http))
    assert '- heading "Find gear" [level=2]' in script.seen[1]
    assert "Title: clicked" in script.seen[2]  # scrolled 3,000 px down to the button, clicked it
    shots = await store.list("workspace/screenshots/")
    png = await store.get(shots[0].key)
    assert png is not None
    height = int.from_bytes(png.body[20:24], "big")  # the PNG header's IHDR height
    assert height > 3000  # the whole page, not the viewport
    assert script.seen[4] == (  # quoted, the whole text must match
        "RETRY click: clicking 'text=\"Show\"' timed out; check the selector or try another page"
    )
    assert script.seen[5].startswith(f"type_text: URL: {site.base}/results?q=rope\nTitle: Results")
    assert script.seen[5].endswith("3 ropes found")
    assert script.seen[6].startswith("RETRY type_text: typing into 'p' failed: ")
    assert "not a text field (p)" in script.seen[6]


async def test_frames_are_guarded_like_the_page(
    cdp_url: str,
    site: LoopbackSite,
    settings: RuntimeSettings,
    store: LocalDirStore,
    http: httpx.AsyncClient,
    driver: BrowserSessions,
) -> None:
    # The frame's own document is public (127.0.0.1 is allowlisted) but on another site, so
    # Chromium runs it in a frame target of its own; what it loads is guarded all the same.
    with (
        loopback_site({"/secret.png": send(b"GIF89a", "image/gif")}, host="127.0.0.2") as internal,
        loopback_site({}, host="127.0.0.1") as other,
    ):
        other.routes["/frame"] = send(f'<title>f</title><img src="{internal.base}/secret.png">')
        framed = other.base.replace("127.0.0.1", "localhost")
        site.routes["/outer"] = send(
            f'<title>Outer</title><iframe src="{framed}/frame"></iframe><p>outer page</p>'
        )
        allow = Allowlist.parse("127.0.0.1,localhost")
        config = BrowserConfig(cdp_url, None, allow, navigation_timeout_s=5, action_timeout_s=1)
        session = BrowserSession(config, driver)
        try:
            page = await session.page()
            state = await page.goto(f"{site.base}/outer")
            assert state.text == "outer page"
            for _ in range(500):  # the frame loads after the outer page: wait for its request
                if session.blocked:
                    break
                await asyncio.sleep(0.02)
        finally:
            await session.close()
        assert [r.path for r in other.requests] == ["/frame"]
    assert internal.requests == []
    assert session.take_blocked() == [
        f"{internal.base}/secret.png (127.0.0.2 resolves to 127.0.0.2, a loopback address; "
        "add it to WEB_FETCH_ALLOWLIST to allow it)"
    ]
