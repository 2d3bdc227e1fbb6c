"""Local servers and runtime children on loopback, for the tests and the benchmarks alike.

Not part of the runtime (the image copies agent/runtime only): like agent/dev.py, a tool of the
checkout. The tests (tests/suite_support.py, tests/runtime/runtime_support.py) and the benchmarks
(bench/runtime, bench/verify) both start `python -m agent.runtime` children, serve ASGI apps in a
thread and stop process trees; this is the one copy of each, in the package both already import
(neither tests nor bench imports the other).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import psutil
import uvicorn
from starlette.types import ASGIApp

from agent.ports import free_port

REPO = Path(__file__).resolve().parents[1]
#: What the runtime reads from the environment: dropped from the inherited one, so the
#: developer's own settings never leak into a child.
RUNTIME_PREFIXES = ("AGENT_", "STATE_", "AI_GATEWAY_")


@contextmanager
def serve_app(app: ASGIApp, what: str, timeout: float = 120.0, **config: Any) -> Iterator[str]:
    """Serve `app` with uvicorn on a free loopback port in a thread for the block (no lifespan,
    errors only; `config` adds or overrides uvicorn options). Yields its base URL; raises
    RuntimeError naming `what` if it does not start within `timeout` (a hang guard)."""
    # The socket is bound here and handed to uvicorn: no moment when another process can take
    # the port (a child process cannot be given a socket this way: spawn_runtime uses free_port).
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    options = {"lifespan": "off", "log_level": "error", **config}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()


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
    env: Mapping[str, str],
    log: Path | None,
    *,
    drop: tuple[str, ...] = RUNTIME_PREFIXES,
    new_session: bool = False,
) -> subprocess.Popen[bytes]:
    """`python -m agent.runtime` from the repository root, output to `log` (or nowhere),
    environment: this process's without the variables starting with `drop`, then `env`."""
    full_env = {key: value for key, value in os.environ.items() if not key.startswith(drop)}
    full_env.update(env)
    out: IO[bytes] | int = open(log, "wb") if log is not None else subprocess.DEVNULL  # noqa: SIM115
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "agent.runtime"],
            env=full_env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=new_session,
        )
    finally:
        if not isinstance(out, int):
            out.close()  # the child holds its own copy


@dataclass
class RuntimeChild:
    """A `python -m agent.runtime` child on a loopback port."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path | None
    headers: Mapping[str, str]  # what /readyz needs: the edge token and a user
    started: float = field(default_factory=time.monotonic)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 300.0) -> float:
        """Seconds from spawn until /readyz answered 200. `timeout` only catches a hang: a start
        takes seconds on a quiet machine and over a minute when 2 cores are shared (measured)."""
        with httpx.Client(timeout=1.0) as client:
            while time.monotonic() - self.started < timeout:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"runtime exited early ({self.proc.returncode}){self._tail()}"
                    )
                with suppress(httpx.TransportError):
                    response = client.get(f"{self.url}/readyz", headers=self.headers)
                    if response.status_code == 200:
                        return time.monotonic() - self.started
                time.sleep(0.02)
        raise RuntimeError(f"runtime not ready in {timeout} s{self._tail()}")

    def _tail(self) -> str:
        return f":\n{self.log.read_text()[-3000:]}" if self.log is not None else ""

    def kill(self) -> None:
        """SIGKILL the runtime and anything it started."""
        kill_tree(self.proc)

    def terminate(self, timeout: float = 120.0) -> float:
        """SIGTERM (the graceful stop); seconds until it exited."""
        start = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout)
        return time.monotonic() - start

    def rss_mib(self) -> float:
        return float(psutil.Process(self.proc.pid).memory_info().rss) / (1 << 20)


def spawn_runtime(
    settings: Mapping[str, str],
    headers: Mapping[str, str],
    log: Path | None = None,
    port: int | None = None,
) -> RuntimeChild:
    """Start a runtime on `port` (a free one by default), listening on 127.0.0.1, with
    `settings` over the inherited environment (minus the runtime's own variables)."""
    port = port or free_port()
    started = time.monotonic()
    proc = launch_runtime({"PORT": str(port), "HOST": "127.0.0.1", **settings}, log)
    return RuntimeChild(proc, port, log, headers, started)
