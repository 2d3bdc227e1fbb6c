"""`make dev` end to end: `python -m agent.dev` as a subprocess on a fresh .local directory, a chat
through the printed URL (edge Worker in workerd → runtime, offline model), then SIGINT; every
process it started must be gone, and the turn must be on disk under the local state directory."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import psutil
import pytest
from suite_support import HANG_S, kill_tree
from websockets.sync.client import connect

from agent.dev import REPO_ROOT
from agent.ports import free_port

pytestmark = pytest.mark.slow

URL_LINE = re.compile(r"edgeagent is running at (http://127\.0\.0\.1:\d+)/")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_", "BROWSER_"))}
    return {**env, "PYTHONUNBUFFERED": "1"}


def _post(url: str, body: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(  # noqa: S310 - loopback
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        result: dict[str, object] = json.loads(response.read())
        return result


def _get(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - loopback
        return response.status, response.headers["content-type"], response.read().decode()


def _raw_status(url: str, method: str, path: str) -> int:
    """Send `path` byte for byte (no client-side normalisation); the response status."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, path, body=b"{}", headers={"content-type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_make_dev_serves_a_working_chat_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    local = tmp_path / ".local"
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.dev", "--port", str(port), "--local-dir", str(local)],
        cwd=REPO_ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if URL_LINE.search(line):
                found.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert found.wait(120), "no URL printed:\n" + "".join(lines)
        match = URL_LINE.search("".join(lines))
        assert match is not None
        url = match.group(1)
        assert url == f"http://127.0.0.1:{port}"
        output = "".join(lines)
        assert "model: offline" in output
        assert "browser tool: local Chromium at http://127.0.0.1:" in output
        # Nothing left loopback: wrangler did not try to fetch `request.cf` (tests/conftest.py).
        assert "Request.cf" not in (local / "logs" / "worker.log").read_text()

        started = psutil.Process(proc.pid).children(recursive=True)
        names = {p.name() for p in started}
        assert {"workerd", "chromium"} <= names, names
        assert any("agent.runtime" in " ".join(p.cmdline()) for p in started)
        # The edge token reaches the Worker through a private file, never a command line.
        secrets_file = local / "edge-secrets.env"
        assert secrets_file.stat().st_mode & 0o777 == 0o600
        token = json.loads(secrets_file.read_text().split("=", 1)[1])
        assert len(token) >= 32
        assert not any(token in " ".join(p.cmdline()) for p in started)

        # The page, then a chat turn over HTTP and one streamed over the WebSocket, all through
        # the Worker (which adds the identity and the edge token).
        status, kind, page = _get(url + "/")
        assert (status, kind.split(";")[0]) == (200, "text/html")
        assert "/ui/app.js" in page
        reply = _post(url + "/api/chat", {"message": "hello from make dev", "session_id": "dev1"})
        assert reply["offline"] is True
        assert "hello from make dev" in str(reply["reply"])
        with connect(url.replace("http://", "ws://") + "/ws", open_timeout=30) as ws:
            ws.send(json.dumps({"type": "chat", "message": "and again", "session_id": "dev1"}))
            frames = []
            while True:
                frame = json.loads(ws.recv(timeout=30))
                frames.append(frame)
                if frame["type"] != "delta":
                    break
        assert frames[-1]["type"] == "reply", frames[-1]
        assert frames[-1]["seq"] == 2
        assert len(frames) >= 2  # at least one delta streamed before the reply
        assert "".join(f["text"] for f in frames[:-1]) == frames[-1]["reply"]
        _, _, state = _get(url + "/api/state")
        assert json.loads(state)["user"] == "dev@localhost"
        # No credentials at all under make dev: the Worker's canonical-path check and the
        # runtime's internal credential keep every spelling of /internal/* away from the cron.
        for path in ["/internal%2Fcron", "/internal%2fcron", "//internal/cron", "/INTERNAL/cron"]:
            assert _raw_status(url, "POST", path) in {400, 404}, path
        assert _raw_status(url, "POST", "/%2e%2e/internal/cron") in {400, 404}
        assert not (local / "state" / "inbox" / "cron").exists()

        proc.send_signal(signal.SIGINT)
        assert proc.wait(HANG_S) == 0  # a hang guard: how fast it stops is not a test's question
    finally:
        kill_tree(proc)  # a failed run must not leave workerd, Chromium or the runtime behind
        reader.join(5)
        if proc.stdout is not None:
            proc.stdout.close()
    output = "".join(lines)
    assert output.rstrip().endswith("stopped."), output
    _, alive = psutil.wait_procs(started, timeout=10)
    assert alive == [], [(p.pid, p.name()) for p in alive]
    # The acknowledged turns are in .local/state, where a restart of `make dev` finds them.
    stored = sorted((local / "state" / "sessions" / "dev1").glob("*.json"))
    assert [p.name for p in stored] == ["00000001.json", "00000002.json"]


def _run_dev(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.dev", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_bad_model_setting_stops_make_dev_with_the_runtime_message(tmp_path: Path) -> None:
    env = {**_env(), "AGENT_MODEL": "openai:gpt-5-mini"}
    before = {p.pid for p in psutil.process_iter()}
    result = _run_dev(
        ["--port", str(free_port()), "--local-dir", str(tmp_path), "--no-browser"], env
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "the runtime exited with status 2" in result.stderr
    assert "AI_GATEWAY_BASE_URL" in result.stderr  # the runtime's own message, from its log
    leftovers = [
        p
        for p in psutil.process_iter(["pid", "cmdline"])
        if p.pid not in before and str(tmp_path) in " ".join(p.info["cmdline"] or [])
    ]
    assert leftovers == []


def test_a_taken_port_is_refused_naming_the_option(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run_dev(["--port", str(port), "--local-dir", str(tmp_path)], _env())
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is taken" in result.stderr
    assert "--port" in result.stderr
