"""Durability under SIGKILL and under two concurrent runtimes, with real processes and real HTTP.

The runtime runs as `python -m agent.runtime` against moto's threaded S3 server on loopback. The
load records every acknowledged turn; afterwards each must be in the bucket exactly as
acknowledged (same session, sequence number and prompt).
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import httpx
import pytest
from rt_support import (
    ChatLoad,
    RuntimeProcess,
    edge_headers,
    free_port,
    lost_acks,
    r2_env,
    spawn_runtime,
    stored_turns,
)

pytestmark = pytest.mark.slow


@pytest.mark.timeout(600)  # 21 process starts; slow when the 2 cores are shared
def test_sigkill_at_random_moments_loses_no_acknowledged_turn(
    tmp_path: Path, moto_endpoint: str, bucket: str, runtimes: list[RuntimeProcess]
) -> None:
    rng = random.Random(20261126)
    port = free_port()
    env = r2_env(moto_endpoint, bucket)
    runtime = spawn_runtime(tmp_path, env, port)
    runtimes.append(runtime)
    runtime.wait_ready()
    # Six writers: four on their own sessions, two sharing one (so turns also race in-process).
    load = ChatLoad(lambda _i: f"http://127.0.0.1:{port}", ["a", "b", "c", "d", "shared", "shared"])
    load.start()
    kills = 0
    deadline = time.monotonic() + 480
    while (kills < 20 or len(load.acks) < 200) and time.monotonic() < deadline:
        time.sleep(rng.uniform(0.1, 1.2))
        if kills >= 20:
            continue
        runtime.kill()
        kills += 1
        runtime = spawn_runtime(tmp_path, env, port)
        runtimes.append(runtime)
        runtime.wait_ready()
    load.stop()
    assert kills >= 20
    assert len(load.acks) >= 200, f"only {len(load.acks)} turns acknowledged"

    stored = stored_turns(moto_endpoint, bucket)
    assert lost_acks(load.acks, stored) == []
    # The restarted runtime restores the same history through its API.
    for session_id in ["a", "b", "c", "d", "shared"]:
        response = httpx.get(f"{runtime.url}/api/sessions/{session_id}", headers=edge_headers())
        served = {turn["turn_id"] for turn in response.json()["turns"]}
        assert {a.turn_id for a in load.acks if a.session_id == session_id} <= served
        seqs = [turn["seq"] for turn in response.json()["turns"]]
        assert seqs == list(range(1, len(seqs) + 1))


def test_two_runtimes_on_one_session_lose_nothing(
    tmp_path: Path, moto_endpoint: str, bucket: str, runtimes: list[RuntimeProcess]
) -> None:
    env = r2_env(moto_endpoint, bucket)
    ports = [free_port(), free_port()]
    pair = [spawn_runtime(tmp_path, env, port) for port in ports]
    runtimes.extend(pair)
    for runtime in pair:
        runtime.wait_ready()
    # Four writers on one session, alternating between the two runtimes.
    load = ChatLoad(lambda i: f"http://127.0.0.1:{ports[i % 2]}", ["one"] * 4)
    load.start()
    time.sleep(2.0)
    # A restart overlapping a shutdown: the replacement serves the session while the old
    # runtime, SIGTERMed with turns in flight, drains and finishes them.
    replacement = spawn_runtime(tmp_path, env)
    runtimes.append(replacement)
    replacement.wait_ready()
    old = pair[0]
    ports[0] = replacement.port
    old.proc.send_signal(15)
    old.proc.wait(15)
    time.sleep(2.0)
    load.stop()

    assert len(load.acks) >= 40, f"only {len(load.acks)} turns acknowledged"
    by_port = {ack.turn_id for ack in load.acks}
    assert len(by_port) == len(load.acks)
    stored = stored_turns(moto_endpoint, bucket)
    assert lost_acks(load.acks, stored) == []
    seqs = sorted(turn["seq"] for turn in stored.values())
    assert seqs == list(range(1, len(seqs) + 1))  # no gap, no sequence number used twice
    assert len({a.seq for a in load.acks}) == len(load.acks)
