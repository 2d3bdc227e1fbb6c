"""Start the edge Worker in local mode (`wrangler dev`, workerd on loopback) and the test origin.

Both run as child processes in their own process groups, so stopping them also stops workerd.
Secrets go to wrangler through a temporary env file, never on the command line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from agent.dev import (
    EDGE_DIR,
    REPO_ROOT,
    WRANGLER,
    WRANGLER_ENV,
    node_binary,
    wrangler_dev_command,
)
from agent.ports import free_port

__all__ = ["REPO_ROOT", "build_bundle", "origin", "serve_bundle", "wrangler_dev"]

SERVE = EDGE_DIR / "scripts" / "serve.mjs"
BUILD = EDGE_DIR / "scripts" / "build.mjs"


def wait_for_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll `url` until it answers with any HTTP status (or fail, naming the process's exit)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (loopback URL built here)
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


@contextmanager
def origin(port: int | None = None) -> Iterator[str]:
    """Run the test origin; yields its base URL."""
    port = port or free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.edge_overhead.origin", "--port", str(port)],
        cwd=REPO_ROOT,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base}/readyz", timeout=30, proc=proc)
        yield base
    finally:
        _stop(proc)


@contextmanager
def wrangler_dev(
    agent_origin: str,
    *,
    variables: Mapping[str, str] = {},
    secrets: Mapping[str, str] = {},
    test_scheduled: bool = False,
    log_path: Path | None = None,
) -> Iterator[str]:
    """Run the Worker in local mode in front of `agent_origin`; yields its base URL."""
    for path in (node_binary(), WRANGLER):
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run `npm ci --prefix agent/edge` first")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="edge-dev-") as tmp:
        env_file = Path(tmp) / "secrets.env"
        env_file.write_text("".join(f"{k}={json.dumps(v)}\n" for k, v in secrets.items()))
        env_file.chmod(0o600)
        cmd = wrangler_dev_command(
            port=port,
            persist_to=Path(tmp) / "state",
            env_file=env_file,
            variables={"AGENT_ORIGIN": agent_origin, **variables},
        )
        if test_scheduled:
            cmd.append("--test-scheduled")
        env = {**os.environ, **WRANGLER_ENV}
        log = open(log_path or Path(tmp) / "wrangler.log", "wb")  # noqa: SIM115 (closed below)
        proc = subprocess.Popen(
            cmd, cwd=EDGE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for_http(f"{base}/_edge/status", timeout=90, proc=proc)
            yield base
        finally:
            _stop(proc)
            log.close()


def build_bundle() -> None:
    """`npm run build`'s script: agent/edge/dist as infra uploads it."""
    subprocess.run([str(node_binary()), str(BUILD)], cwd=EDGE_DIR, check=True, timeout=180)


@contextmanager
def serve_bundle(agent_origin: str, *, edge_token: str | None = None) -> Iterator[str]:
    """Serve the built dist/index.js in one workerd process (Miniflare, no dev proxy)."""
    node = node_binary()
    if not node.exists():
        raise FileNotFoundError(f"{node} is missing: run `npm ci --prefix agent/edge` first")
    port = free_port()
    env = {**os.environ, "NO_COLOR": "1"}
    if edge_token is not None:
        env["AGENT_EDGE_TOKEN"] = edge_token
    proc = subprocess.Popen(
        [str(node), str(SERVE), "--port", str(port), "--origin", agent_origin],
        cwd=EDGE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base}/_edge/status", timeout=60, proc=proc)
        yield base
    finally:
        _stop(proc)
