"""Runtime processes for the engine benchmark: spawn, readiness, process-tree RSS, SIGKILL."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parents[2]
EDGE_TOKEN = "bench-edge-token-0123456789"
HEADERS = {"X-Agent-Edge-Token": EDGE_TOKEN, "X-Agent-User": "owner@example.com"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Runtime:
    """One `python -m agent.runtime` and when it was spawned."""

    proc: subprocess.Popen[bytes]
    port: int
    spawned: float
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float) -> float:
        """Seconds from spawn to /readyz 200."""
        while time.monotonic() - self.spawned < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"runtime exited:\n{self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", headers=HEADERS, timeout=2).status_code == 200:
                    return time.monotonic() - self.spawned
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"not ready in {timeout} s:\n{self.log.read_text()[-2000:]}")

    def tree(self) -> list[psutil.Process]:
        root = psutil.Process(self.proc.pid)
        return [root, *root.children(recursive=True)]

    def rss_mib(self) -> dict[str, float]:
        """Resident memory of the runtime alone and of its whole process tree."""
        tree = self.tree()
        sizes = []
        for process in tree:
            try:
                sizes.append(process.memory_info().rss)
            except psutil.NoSuchProcess:
                sizes.append(0)
        return {"runtime_mib": sizes[0] / 2**20, "tree_mib": sum(sizes) / 2**20}

    def sigkill_all(self) -> float:
        """SIGKILL every process of the tree at once, as a dying container; return the time."""
        tree = self.tree()
        killed_at = time.time()
        for process in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
        self.proc.wait(10)
        for process in tree[1:]:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.wait(10)
        return killed_at

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.sigkill_all()


def spawn(work: Path, env: dict[str, str]) -> Runtime:
    port = free_port()
    log = work / f"runtime-{port}-{uuid.uuid4().hex[:6]}.log"
    full = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AGENT_", "STATE_", "AI_GATEWAY_", "OPENCLAW_", "BROWSER_"))
    }
    full.update(
        {
            "AGENT_TENANT": "bench",
            "AGENT_EDGE_TOKEN": EDGE_TOKEN,
            "AGENT_LOG_LEVEL": "warning",
            "PORT": str(port),
            "HOST": "127.0.0.1",
            "STATE_BACKEND": "local",
            "STATE_DIR": str(work / "store"),
            **env,
        }
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent.runtime"],
            env=full,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Runtime(proc, port, time.monotonic(), log)
