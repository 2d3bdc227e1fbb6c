"""Start and stop of the real process: SIGTERM under load exits fast, loses nothing acknowledged."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from runtime_support import (
    EDGE_TOKEN,
    ChatLoad,
    RuntimeProcess,
    edge_headers,
    free_port,
    lost_acks,
    r2_env,
    spawn_runtime,
    stored_turns,
)
from suite_support import HTTP
from websockets.sync.client import connect

pytestmark = pytest.mark.slow


def test_sigterm_under_load_exits_and_keeps_every_acknowledged_turn(
    tmp_path: Path, moto_endpoint: str, bucket: str, runtimes: list[RuntimeProcess]
) -> None:
    port = free_port()
    env = {**r2_env(moto_endpoint, bucket), "AGENT_LOG_LEVEL": "info"}
    runtime = spawn_runtime(tmp_path, env, port)
    runtimes.append(runtime)
    runtime.wait_ready()
    load = ChatLoad(lambda _i: runtime.url, ["p", "q", "r", "s"])
    # An idle WebSocket client must not hold the shutdown up.
    with connect(f"ws://127.0.0.1:{port}/ws", additional_headers=edge_headers()):
        load.start()
        load.wait_for(4)  # turns in flight when SIGTERM lands
        runtime.terminate()  # waits HANG_S at most; how fast it stops is not a test's question
        load.stop()
    log = runtime.log.read_text()
    # uvicorn re-raises the signal after its graceful shutdown, so the status reports SIGTERM.
    assert runtime.proc.returncode in {0, -15}, log[-2000:]
    assert "runtime stopped; state flushed" in log
    assert "Application shutdown complete" in log
    assert load.acks, "no turn was acknowledged before SIGTERM"
    assert lost_acks(load.acks, stored_turns(moto_endpoint, bucket)) == []


def test_unreachable_store_keeps_the_runtime_unready_not_dead(
    tmp_path: Path, runtimes: list[RuntimeProcess]
) -> None:
    env = r2_env(f"http://127.0.0.1:{free_port()}", "state-nowhere")
    runtime = spawn_runtime(tmp_path, env)
    runtimes.append(runtime)
    deadline = time.monotonic() + 60
    error = ""
    while "state store" not in error and time.monotonic() < deadline:
        time.sleep(0.1)
        try:
            response = HTTP.get(f"{runtime.url}/readyz", headers=edge_headers(), timeout=2)
        except httpx.TransportError:
            continue
        assert response.status_code == 503
        error = response.json()["error"]
    assert "state store not reachable" in response.json()["error"]
    assert EDGE_TOKEN not in response.text
    assert HTTP.get(f"{runtime.url}/healthz").status_code == 200
    assert runtime.proc.poll() is None
