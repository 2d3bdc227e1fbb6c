"""Browser: Playwright over CDP to BROWSER_CDP_URL (Cloudflare Browser Rendering, or a local
headless Chromium in development and tests).

One browser session per turn at most: the toolset makes a fresh copy for every agent run
(`for_run`), that copy connects on the first browser tool call, and its `__aexit__` closes the
session when the run ends, whether it finished, failed or was cancelled. The Playwright driver
process is shared by all turns and stopped with the runtime. The bearer token travels only in the
`Authorization` header, never in a URL, and is redacted from any error text.

Playwright itself is imported only when the browser is first used (the driver starts, or one of
its errors is handled): importing it costs every runtime start time and memory otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from pydantic import Field, SecretStr
from pydantic_ai import FunctionToolset, ModelRetry, RunContext
from pydantic_ai.toolsets import AbstractToolset

from agent.runtime.engine.deps import AgentDeps
from agent.runtime.store.base import StateStore
from agent.runtime.tools.limits import TOOL_RETRIES
from agent.runtime.tools.memory import WORKSPACE
from agent.runtime.tools.web import Allowlist, FetchFailed, FetchRefused, check_url

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page, Playwright, Route

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


class BrowserDriver:
    """The Playwright driver process, started on first use and shared by every turn."""

    def __init__(self) -> None:
        self._playwright: Playwright | None = None
        self._lock = asyncio.Lock()
        self.sessions_opened = 0
        self.sessions_open = 0

    async def playwright(self) -> Playwright:
        """The running driver."""
        async with self._lock:
            if self._playwright is None:
                from playwright.async_api import async_playwright

                self._playwright = await async_playwright().start()
            return self._playwright

    async def close(self) -> None:
        """Stop the driver."""
        async with self._lock:
            if self._playwright is not None:
                await self._playwright.stop()
                self._playwright = None


@dataclass
class BrowserSession:
    """One turn's browser connection and page, opened lazily."""

    config: BrowserConfig
    driver: BrowserDriver
    browser: Browser | None = None
    context: BrowserContext | None = None
    current: Page | None = None
    blocked: list[str] = field(default_factory=list)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def page(self) -> Page:
        """The turn's page, connecting over CDP on first use."""
        from playwright.async_api import Error as PlaywrightError

        async with self._lock:
            if self.current is not None:
                return self.current
            playwright = await self.driver.playwright()
            headers = {}
            if self.config.token is not None:
                headers["Authorization"] = f"Bearer {self.config.token.get_secret_value()}"
            try:
                self.browser = await playwright.chromium.connect_over_cdp(
                    self.config.cdp_url, headers=headers, timeout=CONNECT_TIMEOUT_S * 1000
                )
            except PlaywrightError as error:
                raise ModelRetry(
                    "the browser is not reachable: " + self.config.redact(error.message)[:300]
                ) from None
            self.driver.sessions_opened += 1
            self.driver.sessions_open += 1
            self.context = await self.browser.new_context()
            await self.context.route("**/*", self._guard)
            self.current = await self.context.new_page()
            self.current.set_default_navigation_timeout(self.config.navigation_timeout_s * 1000)
            self.current.set_default_timeout(self.config.action_timeout_s * 1000)
            return self.current

    async def _guard(self, route: Route) -> None:
        """Every request the page makes (subresources, links, scripts) passes the same address
        check as web fetch, so a page cannot reach private addresses through the browser.
        Best effort: Chromium resolves names again itself, and redirects are not re-routed."""
        from playwright.async_api import Error as PlaywrightError

        url = route.request.url
        try:
            if url.split(":", 1)[0].lower() not in LOCAL_SCHEMES:
                await check_url(url, self.config.allowlist)
        except (FetchRefused, FetchFailed) as error:
            self.blocked.append(f"{url[:200]} ({error})")
            with contextlib.suppress(PlaywrightError):
                await route.abort("blockedbyclient")
            return
        with contextlib.suppress(PlaywrightError):
            await route.continue_()

    def take_blocked(self) -> list[str]:
        """Requests blocked since the last call."""
        blocked, self.blocked = self.blocked, []
        return blocked

    async def close(self) -> None:
        """Close the turn's context and the CDP connection (a remote browser then ends)."""
        browser, context = self.browser, self.context
        self.browser = self.context = self.current = None
        if browser is None:
            return
        from playwright.async_api import Error as PlaywrightError

        try:
            if context is not None:
                with contextlib.suppress(PlaywrightError):
                    await context.close()
            with contextlib.suppress(PlaywrightError):
                await browser.close()
        finally:
            self.driver.sessions_open -= 1


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
        driver: BrowserDriver,
        session: BrowserSession | None = None,
    ) -> None:
        super().__init__(id="browser", max_retries=TOOL_RETRIES)
        self.config = config
        self.store = store
        self.driver = driver
        self.session = session
        _register(self)

    async def for_run(self, ctx: RunContext[AgentDeps]) -> AbstractToolset[AgentDeps]:
        """A copy with its own (not yet connected) session for this run."""
        return BrowserToolset(
            self.config, self.store, self.driver, BrowserSession(self.config, self.driver)
        )

    async def __aexit__(self, *args: Any) -> bool | None:
        """Close this run's browser session, however the run ended."""
        if self.session is not None:
            await self.session.close()
        return None

    async def page(self) -> Page:
        """The run's page."""
        if self.session is None:  # outside an agent run there is no turn to tie a session to
            raise ModelRetry("the browser is only available inside a turn")
        return await self.session.page()

    async def describe(self, page: Page, max_chars: int) -> str:
        """URL, title and visible text of the page, plus any requests the guard blocked."""
        title = await page.title()
        text = await page.locator("body").inner_text()
        text = "\n".join(line.strip() for line in text.splitlines() if line.strip())
        cut = "\n…(truncated)" if len(text) > max_chars else ""
        blocked = self.session.take_blocked() if self.session is not None else []
        note = "".join(f"\nBlocked request: {item}" for item in blocked[:10])
        return f"URL: {page.url}\nTitle: {title}\n\n{text[:max_chars]}{cut}{note}"

    async def guarded(self, action: str, step: Awaitable[T]) -> T:
        """Run a page action, turning Playwright failures into messages the model can act on."""
        from playwright.async_api import Error as PlaywrightError
        from playwright.async_api import TimeoutError as PlaywrightTimeoutError

        try:
            return await step
        except PlaywrightTimeoutError:
            raise ModelRetry(
                f"{action} timed out; check the selector or try another page"
            ) from None
        except PlaywrightError as error:
            raise ModelRetry(
                f"{action} failed: {self.config.redact(error.message)[:300]}"
            ) from None

    async def settle(self, page: Page) -> None:
        """Wait briefly for a navigation an action may have started; a page that stays put is
        fine."""
        from playwright.async_api import TimeoutError as PlaywrightTimeoutError

        with contextlib.suppress(PlaywrightTimeoutError):
            await page.wait_for_load_state("domcontentloaded")


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

        async def go() -> str:
            response = await page.goto(url, wait_until="domcontentloaded")
            status = f"HTTP {response.status}\n" if response is not None else ""
            return status + await tools.describe(page, max_chars)

        return await tools.guarded(f"opening {url}", go())

    @tools.tool
    async def page_text(ctx: RunContext[AgentDeps], max_chars: Chars = DEFAULT_CHARS) -> str:
        """The visible text of the page open in the browser.

        Args:
            max_chars: at most this many characters of text are returned.
        """
        page = await tools.page()
        return await tools.guarded("reading the page", tools.describe(page, max_chars))

    @tools.tool
    async def page_snapshot(ctx: RunContext[AgentDeps], max_chars: Chars = DEFAULT_CHARS) -> str:
        """The accessibility tree of the open page (roles and names), to find what to click.

        Args:
            max_chars: at most this many characters are returned.
        """
        page = await tools.page()

        async def snap() -> str:
            tree = await page.locator("body").aria_snapshot()
            return tree[:max_chars] + ("\n…(truncated)" if len(tree) > max_chars else "")

        return await tools.guarded("the snapshot", snap())

    @tools.tool
    async def click(ctx: RunContext[AgentDeps], selector: Selector) -> str:
        """Click an element, then return the page's text.

        Args:
            selector: a Playwright selector, e.g. 'text=Sign in', '#submit',
                'role=button[name="Search"]'.
        """
        page = await tools.page()

        async def act() -> str:
            await page.click(selector)
            await tools.settle(page)
            return await tools.describe(page, DEFAULT_CHARS)

        return await tools.guarded(f"clicking {selector!r}", act())

    @tools.tool
    async def type_text(
        ctx: RunContext[AgentDeps], selector: Selector, text: TypedText, submit: bool = False
    ) -> str:
        """Fill a text field, optionally pressing Enter, then return the page's text.

        Args:
            selector: a Playwright selector for an input, e.g. 'input[name=q]'.
            text: what to type.
            submit: press Enter afterwards.
        """
        page = await tools.page()

        async def act() -> str:
            await page.fill(selector, text)
            if submit:
                await page.press(selector, "Enter")
                await tools.settle(page)
            return await tools.describe(page, DEFAULT_CHARS)

        return await tools.guarded(f"typing into {selector!r}", act())

    @tools.tool
    async def screenshot(ctx: RunContext[AgentDeps], full_page: bool = False) -> str:
        """Take a PNG screenshot of the open page and store it in the workspace.

        Args:
            full_page: capture the whole scrollable page, not just the viewport.
        """
        page = await tools.page()
        png = await tools.guarded("the screenshot", page.screenshot(full_page=full_page))
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = f"{SCREENSHOTS}{ctx.deps.session_id}-{stamp}-{uuid.uuid4().hex[:6]}.png"
        await tools.store.put(WORKSPACE + path, png, if_none_match=True)
        return f"saved {len(png)} bytes to workspace {path} (page {page.url})"
