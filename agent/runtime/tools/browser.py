"""Browser: CDP to BROWSER_CDP_URL (Cloudflare Browser Rendering, or a local headless Chromium in
development and tests), spoken by the small client in `cdp.py` / `cdp_page.py`.

One browser session per turn at most: the toolset makes a fresh copy for every agent run
(`for_run`), that copy connects on the first browser tool call, and its `__aexit__` closes the
session when the run ends, whether it finished, failed or was cancelled. The bearer token travels
only in the `Authorization` header, never in a URL, and is redacted from any error text.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from pydantic import Field, SecretStr
from pydantic_ai import FunctionToolset, ModelRetry, RunContext
from pydantic_ai.toolsets import AbstractToolset

from agent.runtime.engine.deps import AgentDeps
from agent.runtime.store.base import StateStore
from agent.runtime.tools.cdp import CdpConnection, CdpError, CdpTimeout
from agent.runtime.tools.cdp_page import CdpPage, PageState
from agent.runtime.tools.limits import TOOL_RETRIES
from agent.runtime.tools.memory import WORKSPACE
from agent.runtime.tools.web import Allowlist, FetchFailed, FetchRefused, check_url

log = logging.getLogger("agent.runtime.tools.browser")

NAVIGATION_TIMEOUT_S = 20.0
ACTION_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 20.0
DEFAULT_CHARS = 20_000
MAX_CHARS = 100_000
SCREENSHOTS = "screenshots/"
LOCAL_SCHEMES = frozenset({"about", "blob", "data"})


@dataclass(frozen=True, slots=True)
class BrowserConfig:
    """Where the browser is and the limits that apply to it."""

    cdp_url: str
    token: SecretStr | None
    allowlist: Allowlist
    navigation_timeout_s: float = NAVIGATION_TIMEOUT_S
    action_timeout_s: float = ACTION_TIMEOUT_S

    def redact(self, text: str) -> str:
        """`text` without the bearer token."""
        if self.token is not None and self.token.get_secret_value():
            text = text.replace(self.token.get_secret_value(), "**********")
        return text


@dataclass
class BrowserSessions:
    """How many browser sessions the turns opened, and how many are open now (shared)."""

    opened: int = 0
    open: int = 0


@dataclass
class BrowserSession:
    """One turn's browser connection and tab, opened lazily."""

    config: BrowserConfig
    sessions: BrowserSessions
    connection: CdpConnection | None = None
    current: CdpPage | None = None
    blocked: list[str] = field(default_factory=list)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def page(self) -> CdpPage:
        """The turn's tab, connecting over CDP on first use."""
        async with self._lock:
            if self.current is not None:
                return self.current
            headers = {}
            if self.config.token is not None:
                headers["Authorization"] = f"Bearer {self.config.token.get_secret_value()}"
            try:
                self.connection = await CdpConnection.open(
                    self.config.cdp_url, headers, CONNECT_TIMEOUT_S
                )
            except CdpError as error:
                raise ModelRetry(
                    "the browser is not reachable: " + self.config.redact(str(error))[:300]
                ) from None
            self.sessions.opened += 1
            self.sessions.open += 1
            try:
                page = await CdpPage.open(self.connection, self._guard, CONNECT_TIMEOUT_S)
            except CdpError as error:
                raise ModelRetry(
                    "the browser refused a new tab: " + self.config.redact(str(error))[:300]
                ) from None
            page.navigation_timeout = self.config.navigation_timeout_s
            page.action_timeout = self.config.action_timeout_s
            self.current = page
            return page

    async def _guard(self, url: str) -> str | None:
        """Every request the page makes (subresources, links, scripts, frames) passes the same
        address check as web fetch, so a page cannot reach private addresses through the browser.
        Best effort: Chromium resolves names again itself."""
        if url.split(":", 1)[0].lower() in LOCAL_SCHEMES:
            return None
        try:
            await check_url(url, self.config.allowlist)
        except (FetchRefused, FetchFailed) as error:
            self.blocked.append(f"{url[:200]} ({error})")
            return str(error)
        return None

    def take_blocked(self) -> list[str]:
        """Requests blocked since the last call."""
        blocked, self.blocked = self.blocked, []
        return blocked

    async def close(self) -> None:
        """End the turn's browser context and the CDP connection (a remote browser then ends)."""
        connection, page = self.connection, self.current
        self.connection = self.current = None
        if connection is None:
            return
        try:
            if page is not None:
                try:
                    await page.close()
                except CdpError as error:
                    log.warning("closing the browser tab: %s", self.config.redact(str(error)))
            await connection.close()
        finally:
            self.sessions.open -= 1


Url = Annotated[str, Field(min_length=1, max_length=2048)]
Selector = Annotated[str, Field(min_length=1, max_length=500)]
Chars = Annotated[int, Field(ge=100, le=MAX_CHARS)]
TypedText = Annotated[str, Field(max_length=5000)]
T = TypeVar("T")


class BrowserToolset(FunctionToolset[AgentDeps]):
    """open_page / page_text / page_snapshot / click / type_text / screenshot."""

    def __init__(
        self,
        config: BrowserConfig,
        store: StateStore,
        sessions: BrowserSessions,
        session: BrowserSession | None = None,
    ) -> None:
        super().__init__(id="browser", max_retries=TOOL_RETRIES)
        self.config = config
        self.store = store
        self.sessions = sessions
        self.session = session
        _register(self)

    async def for_run(self, ctx: RunContext[AgentDeps]) -> AbstractToolset[AgentDeps]:
        """A copy with its own (not yet connected) session for this run."""
        return BrowserToolset(
            self.config, self.store, self.sessions, BrowserSession(self.config, self.sessions)
        )

    async def __aexit__(self, *args: Any) -> bool | None:
        """Close this run's browser session, however the run ended."""
        if self.session is not None:
            await self.session.close()
        return None

    async def page(self) -> CdpPage:
        """The run's tab."""
        if self.session is None:  # outside an agent run there is no turn to tie a session to
            raise ModelRetry("the browser is only available inside a turn")
        return await self.session.page()

    def describe(self, state: PageState, max_chars: int) -> str:
        """URL, title and visible text of the page, plus any requests the guard blocked."""
        text = "\n".join(line.strip() for line in state.text.splitlines() if line.strip())
        cut = "\n…(truncated)" if len(text) > max_chars else ""
        blocked = self.session.take_blocked() if self.session is not None else []
        note = "".join(f"\nBlocked request: {item}" for item in blocked[:10])
        return f"URL: {state.url}\nTitle: {state.title}\n\n{text[:max_chars]}{cut}{note}"

    async def guarded(self, action: str, step: Awaitable[T]) -> T:
        """Run a page action, turning CDP failures into messages the model can act on."""
        try:
            return await step
        except CdpTimeout:
            raise ModelRetry(
                f"{action} timed out; check the selector or try another page"
            ) from None
        except CdpError as error:
            raise ModelRetry(f"{action} failed: {self.config.redact(str(error))[:300]}") from None


def _register(tools: BrowserToolset) -> None:
    @tools.tool
    async def open_page(
        ctx: RunContext[AgentDeps], url: Url, max_chars: Chars = DEFAULT_CHARS
    ) -> str:
        """Open a web page in the browser and return its visible text.

        Args:
            url: an http:// or https:// URL.
            max_chars: at most this many characters of text are returned.
        """
        try:
            await check_url(url, tools.config.allowlist)
        except (FetchRefused, FetchFailed) as error:
            raise ModelRetry(f"refused: {error}") from None
        page = await tools.page()
        state = await tools.guarded(f"opening {url}", page.goto(url))
        status = f"HTTP {state.status}\n" if state.status is not None else ""
        return status + tools.describe(state, max_chars)

    @tools.tool
    async def page_text(ctx: RunContext[AgentDeps], max_chars: Chars = DEFAULT_CHARS) -> str:
        """The visible text of the page open in the browser.

        Args:
            max_chars: at most this many characters of text are returned.
        """
        page = await tools.page()
        return tools.describe(await tools.guarded("reading the page", page.state()), max_chars)

    @tools.tool
    async def page_snapshot(ctx: RunContext[AgentDeps], max_chars: Chars = DEFAULT_CHARS) -> str:
        """The accessibility tree of the open page (roles and names), to find what to click.

        Args:
            max_chars: at most this many characters are returned.
        """
        page = await tools.page()
        tree = await tools.guarded("the snapshot", page.snapshot())
        return tree[:max_chars] + ("\n…(truncated)" if len(tree) > max_chars else "")

    @tools.tool
    async def click(ctx: RunContext[AgentDeps], selector: Selector) -> str:
        """Click an element, then return the page's text.

        Args:
            selector: a CSS selector ('#submit', 'a[href*=login]'), 'text=Sign in' (an element
                whose visible text contains the words) or 'role=button[name="Search"]'.
        """
        page = await tools.page()
        state = await tools.guarded(f"clicking {selector!r}", page.click(selector))
        return tools.describe(state, DEFAULT_CHARS)

    @tools.tool
    async def type_text(
        ctx: RunContext[AgentDeps], selector: Selector, text: TypedText, submit: bool = False
    ) -> str:
        """Fill a text field, optionally pressing Enter, then return the page's text.

        Args:
            selector: a CSS selector for an input, e.g. 'input[name=q]', or
                'role=textbox[name="Search"]'.
            text: what to type.
            submit: press Enter afterwards.
        """
        page = await tools.page()
        state = await tools.guarded(
            f"typing into {selector!r}", page.fill(selector, text, submit=submit)
        )
        return tools.describe(state, DEFAULT_CHARS)

    @tools.tool
    async def screenshot(ctx: RunContext[AgentDeps], full_page: bool = False) -> str:
        """Take a PNG screenshot of the open page and store it in the workspace.

        Args:
            full_page: capture the whole scrollable page, not just the viewport.
        """
        page = await tools.page()
        png = await tools.guarded("the screenshot", page.screenshot(full_page=full_page))
        url = (await tools.guarded("the screenshot", page.state())).url
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = f"{SCREENSHOTS}{ctx.deps.session_id}-{stamp}-{uuid.uuid4().hex[:6]}.png"
        await tools.store.put(WORKSPACE + path, png, if_none_match=True)
        return f"saved {len(png)} bytes to workspace {path} (page {url})"
