"""The OpenClaw Devices page in a real headless Chromium (Debian's /usr/bin/chromium, Playwright)
against the runtime in openclaw mode, fronting the fake gateway as a real child process.

The browser carries the edge's headers (the Worker adds them in production). It opens
`/_agent/`, sees the pending pairing request, approves it and sees the device paired; a second
request whose name is markup is shown as text and rejected; "Backup now" and the gateway status
work. It fails, saying so, when Chromium is missing. Screenshots go to $UI_SCREENSHOTS (default:
the test's tmp).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from openclaw_support import EDGE, RuntimeChild, spawn, wait_for
from playwright.sync_api import Page, expect
from suite_support import HTTP, chromium, page_problems, screenshots

pytestmark = pytest.mark.slow

MARKUP = "<img src=x onerror=alert(1)>"


@pytest.fixture
def runtime(tmp_path: Path, fake_openclaw: Path, children: list[RuntimeChild]) -> RuntimeChild:
    child = spawn(tmp_path, fake_openclaw)
    children.append(child)
    child.wait_ready()
    return child


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    with chromium(tmp_path / "chromium-profile", extra_http_headers=EDGE) as context:
        page = context.new_page()
        problems = page_problems(page, dialogs=True)
        yield page
    # No script error, no CSP violation, and the markup in a device name never ran.
    assert problems == []


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return screenshots(tmp_path / "screenshots")


def test_devices_page_approves_and_rejects_pairing_requests(
    runtime: RuntimeChild, page: Page, shots: Path
) -> None:
    page.goto(f"{runtime.url}/_agent/")
    expect(page.locator("#gateway")).to_have_text("gateway ready")
    pending = page.locator('#pending-body tr[data-request="req-0001-abcd"]')
    expect(pending).to_contain_text("dev-1")
    expect(pending).to_contain_text("Ada's laptop · linux")
    expect(pending).to_contain_text("192.0.2.1")
    expect(page.locator("#paired-body")).to_contain_text("No paired devices.")
    expect(page.locator("#status-list")).to_contain_text("Starts")
    page.screenshot(path=str(shots / "devices-pending.png"), full_page=True)

    pending.get_by_role("button", name="Approve").click()
    expect(page.locator("#toast")).to_have_text("Approved device dev-1")
    expect(page.locator("#pending-body")).to_contain_text("No pending pairing requests.")
    paired = page.locator('#paired-body tr[data-device="dev-1"]')
    expect(paired).to_contain_text("Ada's laptop · linux")
    expect(paired).to_contain_text("operator")
    page.screenshot(path=str(shots / "devices-paired.png"), full_page=True)
    listed = HTTP.get(f"{runtime.url}/api/openclaw/devices", headers=EDGE).json()
    assert listed["pending"] == []
    assert [d["deviceId"] for d in listed["paired"]] == ["dev-1"]

    # A second device asks; its name is markup, shown as text. The owner rejects it.
    added = HTTP.post(
        f"{runtime.url}/fake/pair-request",
        params={"requestId": "req-0002-efgh", "deviceId": "dev-2", "displayName": MARKUP},
        headers=EDGE,
    )
    assert added.status_code == 200, added.text
    page.get_by_role("button", name="Refresh").click()
    second = page.locator('#pending-body tr[data-request="req-0002-efgh"]')
    expect(second).to_contain_text(MARKUP)
    assert page.locator("#pending-body img").count() == 0
    second.get_by_role("button", name="Reject").click()
    expect(page.locator("#toast")).to_have_text("Rejected device dev-2")
    expect(page.locator("#pending-body")).to_contain_text("No pending pairing requests.")
    expect(page.locator("#paired-body tr")).to_have_count(1)

    with page.expect_response(lambda r: r.url.endswith("/api/openclaw/sync")) as backup:
        page.get_by_role("button", name="Backup now").click()
    assert backup.value.status == 200
    written = backup.value.json()["written"]
    files = "1 changed file" if written == 1 else f"{written} changed files"
    expect(page.locator("#toast")).to_have_text(f"Backed up {files}")
    expect(page.locator("#status-list")).not_to_contain_text("none since this sandbox started")
    page.screenshot(path=str(shots / "devices-final.png"), full_page=True)

    page.get_by_role("button", name="Restart gateway").click()
    expect(page.locator("#toast")).to_have_text("Gateway restarting")
    wait_for(lambda: restarted(runtime), 30, "gateway restarted and ready")
    page.get_by_role("button", name="Refresh").click()
    expect(page.locator("#gateway")).to_have_text("gateway ready")
    starts = page.locator("#status-list dt", has_text="Starts").locator(
        "xpath=following-sibling::dd[1]"
    )
    expect(starts).to_have_text("2")


def restarted(runtime: RuntimeChild) -> bool:
    response = runtime.readyz()
    return (
        response is not None
        and response.status_code == 200
        and (response.json()["gateway_starts"] == 2)
    )
