"""Helpers the runtime-side test suites share: the edge token, loopback ports, moto S3, apps
served in a thread, runtime child processes, the in-process `/readyz` wait, headless Chromium,
the repository's Python scripts as modules.

Importable as `suite_support` from any test directory: pytest (prepend import mode) puts `tests/`
on `sys.path` for `tests/conftest.py`, as it puts each suite's directory there for its own
`*_support.py` modules.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import os
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import boto3
import httpx
import pytest
from moto.s3.responses import S3Response
from moto.server import ThreadedMotoServer
from starlette.testclient import TestClient

# Shared with the benchmarks (agent/localproc.py); the suites import them from here.
from agent.localproc import kill_tree, launch_runtime, serve_app  # noqa: F401
from agent.ports import free_port
from agent.runtime.edge_auth import internal_credential

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

EDGE_TOKEN = "test-edge-token-0123456789"
#: What the edge adds on its own cron ticks and webhook forwards (never on user requests).
INTERNAL = {"X-Agent-Internal": internal_credential(EDGE_TOKEN)}
REPO = Path(__file__).resolve().parents[1]
#: How long a test waits for what should happen (a child getting ready, a reply arriving) before
#: it calls it a hang. Generous on purpose: a hang guard, never a speed goal (the suite shares a
#: 2-core machine with a dozen other processes at times). Timings belong in bench/.
HANG_S = 120.0
#: One HTTP client for the suites' requests to their loopback servers. `httpx.get(...)` builds a
#: client, and with it an SSL context, on every call: ~40 ms of CPU, which polling loops paid
#: thousands of times a run. No keep-alive, so each request opens its own connection as before
#: (a test never meets a connection pooled to a server an earlier test stopped). Ruff refuses the
#: module-level calls (pyproject.toml, banned-api).
HTTP = httpx.Client(timeout=30.0, limits=httpx.Limits(max_keepalive_connections=0))


def load_script(name: str) -> ModuleType:
    """`scripts/<name>.py` loaded as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def wait_until(
    predicate: Callable[[], bool], seen: Callable[[], object], timeout: float = HANG_S
) -> None:
    """Poll `predicate` until true; on timeout fail with what `seen()` reports (a hang guard)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out; {seen()}")


async def until(
    predicate: Callable[[], bool | Awaitable[bool]], seen: Callable[[], object]
) -> None:
    """`wait_until` inside a test's event loop (`predicate` may be a coroutine function)."""
    deadline = time.monotonic() + HANG_S
    while time.monotonic() < deadline:
        result = predicate()
        if await result if inspect.isawaitable(result) else result:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out; {seen()}")


def s3(endpoint: str) -> Any:
    """A boto3 S3 client for the moto server at `endpoint`."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's threaded S3 server on loopback for the block: real HTTP, and conditional writes
    (`If-Match` / `If-None-Match`) enforced like R2. Yields its endpoint URL."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    # moto checks `If-None-Match` / `If-Match` and then stores, without a lock: two concurrent
    # creates of one key can both succeed on its threaded server (seen with two runtimes racing
    # for one turn number). R2 makes the check and the write one atomic step; so does this lock.
    put_object = S3Response.put_object
    lock = threading.RLock()

    def atomic_put_object(self: S3Response) -> Any:
        with lock:
            return put_object(self)

    S3Response.put_object = atomic_put_object  # type: ignore[method-assign]
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        S3Response.put_object = put_object  # type: ignore[method-assign]


def wait_ready(client: TestClient, headers: Mapping[str, str], attempts: int) -> None:
    """Poll the in-process app's `/readyz` every 10 ms, `attempts` times at most."""
    for _ in range(attempts):
        if client.get("/readyz", headers=headers).status_code == 200:
            return
        time.sleep(0.01)
    raise AssertionError(client.get("/readyz", headers=headers).json())


#: Debian's Chromium, which the browser and UI tests drive (scripts/ensure-chromium installs it).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}


@contextmanager
def chromium(profile: Path, **options: Any) -> Iterator[BrowserContext]:
    """Headless Chromium through Playwright with its profile at `profile`, a 1280x800 viewport
    and `options` (Playwright's persistent-context options) for the block. Fails, naming the
    script that installs it, when Chromium is missing."""
    from playwright.sync_api import sync_playwright  # imported by the browser tests only

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure-chromium (as root) first")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_FLAGS,
            headless=True,
            **{"viewport": DESKTOP, **options},
        )
        try:
            yield context
        finally:
            context.close()


def page_problems(page: Page, *, dialogs: bool = False) -> list[str]:
    """The list `page` fills with its script errors and console errors (a Content-Security-Policy
    violation is one), and with every dialog it opens when `dialogs`: a test asserts it empty."""
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    if dialogs:
        page.on("dialog", lambda dialog: problems.append(f"dialog: {dialog.message}"))
    return problems


def screenshots(default: Path) -> Path:
    """Where a UI test saves its screenshots: $UI_SCREENSHOTS, else `default` (created)."""
    folder = Path(os.environ.get("UI_SCREENSHOTS") or default)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
