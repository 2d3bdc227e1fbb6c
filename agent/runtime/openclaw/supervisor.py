"""Run the OpenClaw gateway as a supervised child process.

Readiness is protocol level, not an open port: `/readyz` must answer JSON `{"ready": true}` (the
gateway's catch-all serves HTML 200 for any unknown path, so status alone proves nothing) and then
a WebSocket `connect` + `health` must return `ok`. A gateway that exits is restarted with
exponential backoff; one that stays unhealthy is killed and restarted. The child runs in its own
process group (it spawns worker processes) and gets a minimal environment: the runtime's own
secrets (edge token, R2 keys, browser token) are never inherited by an agent that can run tools.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import httpx

from agent.runtime.errors import EngineError
from agent.runtime.openclaw import protocol

log = logging.getLogger("agent.runtime.openclaw")

# Inherited from the runtime's environment; everything else is set explicitly.
PASSTHROUGH_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "NODE_OPTIONS", "USER")


@dataclass(frozen=True, slots=True)
class SupervisorPolicy:
    """Timing of readiness checks, restarts and shutdown."""

    start_timeout_s: float = 300.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    healthy_reset_s: float = 60.0  # a run this long resets the backoff
    health_interval_s: float = 15.0
    unhealthy_kills_after: int = 3
    stop_grace_s: float = 5.0
    poll_interval_s: float = 0.25


class OpenClawSupervisor:
    """Starts, watches, restarts and stops one gateway process."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        port: int,
        token: str,
        policy: SupervisorPolicy | None = None,
    ) -> None:
        self._argv = list(argv)
        self._env = {k: os.environ[k] for k in PASSTHROUGH_ENV if k in os.environ} | dict(env)
        self._port = port
        self._token = token
        self._policy = policy or SupervisorPolicy()
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._restart_requested = False
        self.ready = False
        self.reason = "gateway not started"
        self.starts = 0
        self.last_ready_s: float | None = None  # spawn -> protocol-level ready of the last start

    @property
    def pid(self) -> int | None:
        """The gateway's pid while it runs."""
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    def start(self) -> None:
        """Begin supervising (returns at once; watch `ready`)."""
        self._task = asyncio.create_task(self._run(), name="openclaw-supervisor")

    async def restart(self) -> None:
        """Stop the running gateway and start a fresh one at once (no backoff)."""
        proc = self._proc
        self._restart_requested = True
        self.ready = False
        self.reason = "restart requested"
        if proc is not None and proc.returncode is None:
            _kill_group(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), self._policy.stop_grace_s)
            except TimeoutError:
                _kill_group(proc.pid, signal.SIGKILL)

    async def stop(self) -> int | None:
        """SIGTERM the gateway's group, SIGKILL after the grace period; return its exit code."""
        self._stopping.set()
        self.ready = False
        self.reason = "stopping"
        code = await self._terminate()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.ready, self.reason = False, "stopped"
        return code

    async def _run(self) -> None:
        delay = self._policy.backoff_initial_s
        while not self._stopping.is_set():
            began = time.monotonic()
            try:
                self._proc = await asyncio.create_subprocess_exec(
                    *self._argv,
                    env=self._env,
                    stdin=asyncio.subprocess.DEVNULL,
                    start_new_session=True,
                )
            except OSError as error:
                self.reason = (
                    f"cannot start {self._argv[0]!r} ({error.strerror or error}); "
                    f"check OPENCLAW_BIN; retrying in {delay:g} s"
                )
                log.error("OpenClaw %s", self.reason)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                delay = min(delay * 2, self._policy.backoff_max_s)
                continue
            self.starts += 1
            self.reason = "gateway starting"
            log.info("OpenClaw gateway started (pid %d, start #%d)", self._proc.pid, self.starts)
            watch = asyncio.create_task(self._watch(self._proc, began))
            code = await self._proc.wait()
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
            self.ready = False
            _kill_group(self._proc.pid, signal.SIGKILL)  # workers must not outlive the gateway
            if self._stopping.is_set():
                return
            if self._restart_requested:
                self._restart_requested = False
                continue
            if time.monotonic() - began >= self._policy.healthy_reset_s:
                delay = self._policy.backoff_initial_s
            self.reason = f"gateway exited with code {code}; restarting in {delay:g} s"
            log.warning("OpenClaw %s", self.reason)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            delay = min(delay * 2, self._policy.backoff_max_s)

    async def _watch(self, proc: asyncio.subprocess.Process, began: float) -> None:
        policy = self._policy
        async with httpx.AsyncClient(timeout=2.0) as http:
            try:
                async with asyncio.timeout(policy.start_timeout_s):
                    while True:
                        if await self._healthy(http):
                            break
                        await asyncio.sleep(policy.poll_interval_s)
            except TimeoutError:
                self.reason = f"gateway not ready within {policy.start_timeout_s:g} s; killing it"
                log.warning("OpenClaw %s", self.reason)
                _kill_group(proc.pid, signal.SIGKILL)
                return
            self.last_ready_s = time.monotonic() - began
            self.ready, self.reason = True, ""
            log.info("OpenClaw gateway ready in %.1f s", self.last_ready_s)
            failures = 0
            while True:
                await asyncio.sleep(policy.health_interval_s)
                if await self._healthy(http):
                    failures, self.ready, self.reason = 0, True, ""
                    continue
                failures += 1
                self.ready = False
                if failures >= policy.unhealthy_kills_after:
                    log.warning("OpenClaw gateway unhealthy %d times; restarting it", failures)
                    _kill_group(proc.pid, signal.SIGKILL)
                    return

    async def _healthy(self, http: httpx.AsyncClient) -> bool:
        url = f"http://127.0.0.1:{self._port}/readyz"
        try:
            response = await http.get(url)
        except httpx.HTTPError as error:
            self.reason = f"gateway /readyz unreachable ({type(error).__name__})"
            return False
        if not response.headers.get("content-type", "").startswith("application/json"):
            self.reason = "gateway /readyz did not answer JSON (still starting?)"
            return False
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not (isinstance(body, dict) and body.get("ready")):
            self.reason = f"gateway /readyz answered {response.status_code}"
            return False
        try:
            health = await protocol.call(self._port, self._token, "health", limit_s=10.0)
        except EngineError as error:
            self.reason = f"gateway health call failed: {error}"
            return False
        if health.get("ok") is not True:
            self.reason = "gateway health call answered ok=false"
            return False
        return True

    async def _terminate(self) -> int | None:
        proc = self._proc
        if proc is None:
            return None
        if proc.returncode is None:
            _kill_group(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), self._policy.stop_grace_s)
            except TimeoutError:
                log.warning("OpenClaw gateway ignored SIGTERM; killing it")
                _kill_group(proc.pid, signal.SIGKILL)
                await proc.wait()
            _kill_group(proc.pid, signal.SIGKILL)  # workers that outlived it
        return proc.returncode


def _kill_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
