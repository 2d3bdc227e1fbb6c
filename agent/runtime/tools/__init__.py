"""The agent's tools (browser, web fetch, memory, scheduling, MCP) and the services behind them.

`open_tools` builds, once per runtime, the long-lived pieces (memory index, job book, scheduler,
web client, browser driver) and the default toolsets over them; the HTTP routes for memory and
jobs use the same pieces through `runtime.tools`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.runtime.engine.agent import AgentToolset
from agent.runtime.jobs.book import JobBook
from agent.runtime.jobs.runner import Scheduler
from agent.runtime.settings import RuntimeSettings
from agent.runtime.store.base import StateStore
from agent.runtime.tools.browser import BrowserConfig, BrowserSessions, BrowserToolset
from agent.runtime.tools.mcp import McpTools, open_mcp
from agent.runtime.tools.memory import MemoryBook, memory_toolset
from agent.runtime.tools.schedule import schedule_toolset
from agent.runtime.tools.send_file import send_file_toolset
from agent.runtime.tools.web import Allowlist, WebFetcher, web_toolset

__all__ = ["Tools", "open_tools"]


@dataclass
class Tools:
    """The services behind the tools, and the toolsets the agent gets by default."""

    memory: MemoryBook
    jobs: JobBook
    scheduler: Scheduler
    web: WebFetcher
    browser: BrowserSessions | None  # counts of browser sessions, when the tools are offered
    toolsets: list[AgentToolset] = field(default_factory=list)
    mcp: McpTools = field(default_factory=McpTools)

    async def close(self) -> None:
        """Close the web client, save and close the memory index (browser sessions end with
        their turns)."""
        try:
            await self.web.close()
            await self.mcp.close()
        finally:
            await self.memory.close()


def open_tools(settings: RuntimeSettings, store: StateStore) -> Tools:
    """The tool services for this runtime; browser tools only when BROWSER_CDP_URL is set."""
    allowlist = Allowlist.parse(settings.web_fetch_allowlist)
    memory = MemoryBook(store, settings.agent_timezone)
    jobs = JobBook(store)
    web = WebFetcher(allowlist)
    toolsets: list[AgentToolset] = [
        memory_toolset(memory),
        schedule_toolset(jobs),
        web_toolset(web),
        send_file_toolset(),
    ]
    browser: BrowserSessions | None = None
    if settings.browser_cdp_url is not None:
        browser = BrowserSessions()
        config = BrowserConfig(settings.browser_cdp_url, settings.browser_api_token, allowlist)
        toolsets.append(BrowserToolset(config, store, browser))
    mcp = open_mcp(settings.mcp_servers, allowlist)
    toolsets.extend(mcp.toolsets)
    return Tools(
        memory=memory,
        jobs=jobs,
        scheduler=Scheduler(jobs, store),
        web=web,
        browser=browser,
        toolsets=toolsets,
        mcp=mcp,
    )
