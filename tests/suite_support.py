"""Helpers the runtime-side test suites share: the edge token, loopback ports, moto S3, apps
served in a thread, runtime child processes, the in-process `/readyz` wait, headless Chromium.

Importable as `suite_support` from any test directory: pytest (prepend import mode) puts `tests/`
on `sys.path` for `tests/conftest.py`, as it puts each suite's directory there for its own
`*_support.py` modules.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import psutil
import pytest
import uvicorn
from moto.s3.responses import S3Response
from moto.server import ThreadedMotoServer
from starlette.testclient import TestClient
from starlette.types import ASGIApp

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


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


@contextmanager
def serve_app(app: ASGIApp, what: str, **config: Any) -> Iterator[str]:
    """Serve `app` with uvicorn on a free loopback port in a thread for the block (no lifespan,
    errors only; `config` adds or overrides uvicorn options). Yields its base URL."""
    port = free_port()
    options = {"lifespan": "off", "log_level": "error", **config}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + HANG_S
    while not server.started:
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def kill_tree(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """SIGKILL a child and every process below it, whatever session or process group they moved
    to (the OpenClaw gateway runs in its own, so killing the child's group is not enough), then
    reap them. Each process is stopped before its children are listed, so none can fork one that
    would be missed; the tree is collected before anything dies, so nothing is orphaned first."""
    family: list[psutil.Process] = []
    if proc.poll() is None:
        pending = [psutil.Process(proc.pid)]
        while pending:
            member = pending.pop()
            try:
                member.suspend()
                pending.extend(member.children())
            except psutil.NoSuchProcess:
                continue
            family.append(member)
    for member in family:
        with suppress(psutil.NoSuchProcess):
            member.kill()
    proc.wait(timeout)  # the child is reaped by its Popen, so its returncode stays meaningful
    psutil.wait_procs([m for m in family if m.pid != proc.pid], timeout=timeout)


def launch_runtime(
    env: Mapping[str, str], log: Path, *, drop: tuple[str, ...], new_session: bool = False
) -> subprocess.Popen[bytes]:
    """`python -m agent.runtime` from the repository root, output to `log`, environment: this
    process's without the variables starting with `drop` (the developer's own settings must not
    leak in), then `env`."""
    full_env = {key: value for key, value in os.environ.items() if not key.startswith(drop)}
    full_env.update(env)
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "agent.runtime"],
            env=full_env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=new_session,
        )


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
