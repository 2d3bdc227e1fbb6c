"""Helpers for the OpenClaw engine tests: runtime child processes on loopback ports."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from suite_support import EDGE_TOKEN, HANG_S, HTTP, free_port, kill_tree, launch_runtime

from bench.engines.openclaw_install import OpenClawInstall

EDGE = {"X-Agent-Edge-Token": EDGE_TOKEN, "X-Agent-User": "owner@example.com"}
GATEWAY_TOKEN = "smoke-gateway-token-0123456789"


def real_gateway_env(openclaw: OpenClawInstall, home: Path) -> dict[str, str]:
    """What every runtime in front of the real gateway needs: the pinned Node, a home, the token."""
    return {
        "PATH": openclaw.path_env(),
        "HOME": str(home),
        "OPENCLAW_GATEWAY_TOKEN": GATEWAY_TOKEN,
        "OPENCLAW_START_TIMEOUT_S": "240",
    }


def wait_for(check: Callable[[], bool], timeout: float, what: str, step: float = 0.05) -> float:
    """Poll until `check()` is true; return the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(step)
    raise AssertionError(f"{what}: not within {timeout} s")


@dataclass
class RuntimeChild:
    """`python -m agent.runtime` with AGENT_ENGINE=openclaw."""

    proc: subprocess.Popen[bytes]
    port: int
    gateway_port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def readyz(self) -> httpx.Response | None:
        try:
            return HTTP.get(f"{self.url}/readyz", headers=EDGE, timeout=2.0)
        except httpx.TransportError:
            return None

    def wait_ready(self, timeout: float = HANG_S) -> float:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"runtime exited early:\n{self.tail()}")
            response = self.readyz()
            return response is not None and response.status_code == 200

        try:
            return wait_for(ready, timeout, "runtime ready")
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self.tail()}") from None

    def output(self) -> str:
        """Everything the runtime logged so far (assert on this: how much of the tail is access
        lines depends on how often a test polled)."""
        return self.log.read_text(errors="replace")

    def tail(self) -> str:
        """The log's last 4,000 characters, for failure messages."""
        return self.output()[-4000:]

    def kill(self) -> None:
        """SIGKILL the runtime and everything it started (the gateway has its own group)."""
        kill_tree(self.proc)

    def terminate(self, timeout: float = 30.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


def spawn(tmp: Path, openclaw: Path | str, extra: dict[str, str] | None = None) -> RuntimeChild:
    """Start a runtime fronting `openclaw` (fake or real), state in `tmp/store` (local backend)."""
    port, gateway_port = free_port(), free_port()
    log = tmp / f"runtime-{port}-{uuid.uuid4().hex[:6]}.log"
    env = {
        "AGENT_TENANT": "acme",
        "AGENT_EDGE_TOKEN": EDGE_TOKEN,
        "AGENT_ENGINE": "openclaw",
        "AGENT_LOG_LEVEL": "info",
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "STATE_BACKEND": "local",
        "STATE_DIR": str(tmp / "store"),
        "OPENCLAW_BIN": str(openclaw),
        "OPENCLAW_STATE_DIR": str(tmp / f"oc-{uuid.uuid4().hex[:6]}"),
        "OPENCLAW_GATEWAY_PORT": str(gateway_port),
        "OPENCLAW_SYNC_DEBOUNCE_S": "0.3",
        **(extra or {}),
    }
    drop = ("AGENT_", "STATE_", "AI_GATEWAY_", "OPENCLAW_", "BROWSER_")
    proc = launch_runtime(env, log, drop=drop, new_session=True)
    return RuntimeChild(proc, port, gateway_port, log)
