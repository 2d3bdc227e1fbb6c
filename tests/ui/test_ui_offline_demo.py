"""The first five minutes without a key, in a real headless Chromium through the edge Worker (as
`make dev` runs it): the offline model remembers, recalls and schedules a reminder with the real
tools, and the reminder shows on the Jobs page with a Cancel button, as the page's hint promises.
Screenshots go to $UI_SCREENSHOTS (default: the test's tmp).
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from suite_support import chromium, page_problems, screenshots

from agent.dev import DevOptions, DevStack
from agent.ports import free_port

pytestmark = pytest.mark.slow


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - loopback
        return json.loads(response.read())


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_", "BROWSER_"))}
    options = DevOptions(
        port=free_port(),
        local_dir=tmp_path_factory.mktemp("dev") / ".local",
        identity="owner@example.com",
        browser=False,
        env=env,
    )
    with DevStack(options) as url:
        yield url


@pytest.fixture(scope="module")
def page(stack: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        page = context.new_page()
        problems = page_problems(page)
        page.goto(stack + "/")
        yield page
    assert problems == []


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return screenshots(tmp_path_factory.mktemp("screenshots"))


def say(page: Page, message: str) -> str:
    """Send `message` in the chat and return the saved reply's text."""
    replies = page.locator(".msg.agent .meta")
    before = replies.count()
    page.fill("#chat-input", message)
    page.press("#chat-input", "Enter")
    expect(replies).to_have_count(before + 1, timeout=30_000)
    agent = page.locator(".msg.agent").last
    expect(agent.locator(".meta")).to_contain_text("saved")
    return agent.locator(".text").inner_text()


def test_without_a_key_the_agent_remembers_recalls_and_schedules(
    page: Page, stack: str, shots: Path
) -> None:
    expect(page.locator("#offline-badge")).to_have_text("offline model")
    page.click("nav a[data-view=jobs]")
    hint = page.locator("#jobs-body")
    expect(hint).to_contain_text("Ask the agent to remind you of something.")
    page.click("nav a[data-view=chat]")
    expect(page.locator("#conn")).to_have_text("connected")

    noted = say(page, "remember that my cat is called Tom")
    assert noted.startswith("[offline model] Noted: 'my cat is called Tom' (remembered in memory/")
    assert _get(f"{stack}/api/memory/MEMORY.md")["content"] == "- my cat is called Tom\n"

    recalled = say(page, "what do you remember")
    assert recalled.startswith("[offline model] Here is what I remember:")
    # The reply is Markdown: the memory comes back as a rendered list item.
    item = page.locator(".msg.agent").last.locator(".text li")
    expect(item).to_have_text("my cat is called Tom")

    scheduled = say(page, "remind me in 5 minutes to stretch")
    assert scheduled.startswith("[offline model] ⏰ Reminder set for ")
    page.screenshot(path=str(shots / "offline-demo-chat.png"), full_page=True)
    [job] = _get(f"{stack}/api/jobs")["jobs"]
    assert (job["kind"], job["prompt"], job["status"]) == ("once", "Reminder: stretch", "active")
    assert job["id"] in scheduled

    page.click("nav a[data-view=jobs]")
    page.click("[data-refresh=jobs]")
    row = page.locator(f'#jobs-body tr[data-job="{job["id"]}"]')
    expect(row).to_contain_text("Reminder: stretch")
    expect(row.locator(".pill")).to_have_text("active")
    cancel = row.get_by_role("button", name="Cancel")
    expect(cancel).to_be_visible()
    page.screenshot(path=str(shots / "offline-demo-jobs.png"), full_page=True)
    cancel.click()
    expect(row.locator(".pill")).to_have_text("cancelled")
    assert _get(f"{stack}/api/jobs")["jobs"][0]["status"] == "cancelled"
