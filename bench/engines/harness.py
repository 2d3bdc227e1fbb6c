"""Runtime processes for the engine benchmark: spawn, readiness, process-tree RSS, SIGKILL."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil

from agent.localproc import RUNTIME_PREFIXES, RuntimeChild, launch_runtime
from agent.ports import free_port
from bench.children import started

REPO = Path(__file__).resolve().parents[2]
EDGE_TOKEN = "bench-edge-token-0123456789"
HEADERS = {"X-Agent-Edge-Token": EDGE_TOKEN, "X-Agent-User": "owner@example.com"}


@dataclass
class Runtime(RuntimeChild):
    """A runtime child (agent/localproc.py) with what the engine benchmark measures besides:
    the memory of its whole process tree, and a SIGKILL of the whole tree at once."""

    def tree(self) -> list[psutil.Process]:
        root = psutil.Process(self.proc.pid)
        return [root, *root.children(recursive=True)]

    def tree_rss_mib(self) -> dict[str, float]:
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
        """SIGTERM, and SIGKILL of the tree if it has not stopped within a minute."""
        try:
            self.terminate(60)
        except subprocess.TimeoutExpired:
            self.sigkill_all()


def spawn(work: Path, env: dict[str, str]) -> Runtime:
    """A runtime in its own session on a local store under `work`, its output in a log there."""
    port = free_port()
    log = work / f"runtime-{port}-{uuid.uuid4().hex[:6]}.log"
    settings = {
        "AGENT_TENANT": "bench",
        "AGENT_EDGE_TOKEN": EDGE_TOKEN,
        "AGENT_LOG_LEVEL": "warning",
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "STATE_BACKEND": "local",
        "STATE_DIR": str(work / "store"),
        **env,
    }
    began = time.monotonic()
    proc = launch_runtime(
        settings, log, drop=(*RUNTIME_PREFIXES, "OPENCLAW_", "BROWSER_"), new_session=True
    )
    return started(Runtime(proc, port, log, HEADERS, began))
