"""Durability under SIGKILL and under two concurrent runtimes, with real processes and real HTTP.

The runtime runs as `python -m agent.runtime` against moto's threaded S3 server on loopback. The
load records every acknowledged turn; afterwards each must be in the bucket exactly as
acknowledged (same session, sequence number and prompt).

A small context budget (AGENT_CONTEXT_TOKENS) makes every session compact every few turns and
checkpoint every 4, so kills also land between a turn and its checkpoint and in the middle of a
compaction (markers, summary); a session restored afterwards must still be whole.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path
from typing import Any

import pytest
from runtime_support import (
    R2_SETTINGS,
    ChatLoad,
    RuntimeProcess,
    edge_headers,
    free_port,
    lost_acks,
    r2_env,
    s3,
    spawn_runtime,
    stored_turns,
)
from suite_support import HTTP

from agent.runtime.sessions import SessionStore, Summary
from agent.runtime.store.r2 import R2Store

pytestmark = pytest.mark.slow
SMALL_CONTEXT = {"AGENT_CONTEXT_TOKENS": "1000"}


def restored_windows(endpoint: str, bucket: str, sessions: list[str]) -> dict[str, Any]:
    """Each session as a fresh runtime restores it: (summary covers, first seq, next seq)."""

    async def restore() -> dict[str, Any]:
        store = R2Store(bucket=bucket, endpoint=endpoint, **R2_SETTINGS)
        found = {}
        for session_id in sessions:
            async with SessionStore(store).open(session_id) as window:
                covers = window.summary.covers if window.summary else 0
                first = window.turns[0].seq if window.turns else None
                found[session_id] = (covers, first, window.next_seq)
        await store.close()
        return found

    return asyncio.run(restore())


def served_history(url: str, session_id: str) -> list[dict[str, Any]]:
    """Every turn of the session through the API, following its pages (newest page first)."""
    pages: list[list[dict[str, Any]]] = []
    params: dict[str, int] = {"limit": 100}
    while True:
        response = HTTP.get(
            f"{url}/api/sessions/{session_id}", headers=edge_headers(), params=params
        )
        body = response.json()
        pages.insert(0, body["turns"])
        if body["older_before"] is None:
            return [turn for page in pages for turn in page]
        params["before"] = body["older_before"]


def derived_objects(endpoint: str, bucket: str, kind: str) -> list[dict[str, Any]]:
    client = s3(endpoint)
    bodies = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=kind):
        for item in page.get("Contents", []):
            body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            bodies.append(json.loads(body))
    return bodies


def assert_sessions_restore_whole(
    endpoint: str, bucket: str, stored: dict[str, dict[str, Any]], sessions: list[str]
) -> None:
    """Compaction and checkpoints happened, and a cold restore sees every stored turn."""
    summaries = [
        Summary.model_validate(b) for b in derived_objects(endpoint, bucket, "session-summaries/")
    ]
    assert summaries, "no session compacted: raise the load or lower AGENT_CONTEXT_TOKENS"
    assert derived_objects(endpoint, bucket, "session-checkpoints/")
    last = {s: max(t["seq"] for t in stored.values() if t["key"].startswith(f"sessions/{s}/"))
            for s in sessions}  # fmt: skip
    for session_id, (covers, first, next_seq) in restored_windows(
        endpoint, bucket, sessions
    ).items():
        assert next_seq == last[session_id] + 1, session_id
        assert first in (None, covers + 1), session_id  # the window starts right after its summary


# 20 SIGKILLs and at least 200 acknowledged turns in all, in shards that share nothing (each its
# own bucket, runtime processes, port and random moments), so the xdist workers run them side by
# side (tests/scheduling.py) instead of one after another.
SHARDS = 4
KILLS = 20 // SHARDS
ACKS = 200 // SHARDS


@pytest.mark.timeout(1200)  # 6 process starts: minutes when the 2 cores are shared
@pytest.mark.parametrize("shard", range(SHARDS), ids=lambda shard: f"shard{shard}")
def test_sigkill_at_random_moments_loses_no_acknowledged_turn(
    shard: int, tmp_path: Path, moto_endpoint: str, bucket: str, runtimes: list[RuntimeProcess]
) -> None:
    rng = random.Random(20261126 + shard)
    port = free_port()
    env = {**r2_env(moto_endpoint, bucket), **SMALL_CONTEXT}
    runtime = spawn_runtime(tmp_path, env, port)
    runtimes.append(runtime)
    runtime.wait_ready()
    # Six writers: four on their own sessions, two sharing one (so turns also race in-process).
    load = ChatLoad(lambda _i: f"http://127.0.0.1:{port}", ["a", "b", "c", "d", "shared", "shared"])
    load.start()
    kills = 0
    # No wall-clock deadline: on a loaded machine restarts are slow, and the count is the point
    # (the timeout above is the backstop).
    while kills < KILLS or len(load.acks) < ACKS:
        time.sleep(rng.uniform(0.1, 1.2))
        if kills >= KILLS:
            continue
        runtime.kill()
        kills += 1
        runtime = spawn_runtime(tmp_path, env, port)
        runtimes.append(runtime)
        runtime.wait_ready()
    load.stop()
    assert kills >= KILLS
    assert len(load.acks) >= ACKS, f"only {len(load.acks)} turns acknowledged"

    stored = stored_turns(moto_endpoint, bucket)
    assert lost_acks(load.acks, stored) == []
    # The restarted runtime restores the same history through its API.
    for session_id in ["a", "b", "c", "d", "shared"]:
        turns = served_history(runtime.url, session_id)
        served = {turn["turn_id"] for turn in turns}
        assert {a.turn_id for a in load.acks if a.session_id == session_id} <= served
        assert [turn["seq"] for turn in turns] == list(range(1, len(turns) + 1))
    assert_sessions_restore_whole(moto_endpoint, bucket, stored, ["a", "b", "c", "d", "shared"])


def test_two_runtimes_on_one_session_lose_nothing(
    tmp_path: Path, moto_endpoint: str, bucket: str, runtimes: list[RuntimeProcess]
) -> None:
    env = {**r2_env(moto_endpoint, bucket), **SMALL_CONTEXT}
    ports = [free_port(), free_port()]
    pair = [spawn_runtime(tmp_path, env, port) for port in ports]
    runtimes.extend(pair)
    for runtime in pair:
        runtime.wait_ready()
    # Four writers on one session, alternating between the two runtimes.
    load = ChatLoad(lambda i: f"http://127.0.0.1:{ports[i % 2]}", ["one"] * 4)
    load.start()
    load.wait_for(20)
    # A restart overlapping a shutdown: the replacement serves the session while the old
    # runtime, SIGTERMed with turns in flight, drains and finishes them.
    replacement = spawn_runtime(tmp_path, env)
    runtimes.append(replacement)
    replacement.wait_ready()
    old = pair[0]
    ports[0] = replacement.port
    old.proc.send_signal(15)
    old.proc.wait(15)
    load.wait_for(len(load.acks) + 20)  # the replacement serves turns too
    load.stop()

    by_port = {ack.turn_id for ack in load.acks}
    assert len(by_port) == len(load.acks)
    stored = stored_turns(moto_endpoint, bucket)
    assert lost_acks(load.acks, stored) == []
    seqs = sorted(turn["seq"] for turn in stored.values())
    assert seqs == list(range(1, len(seqs) + 1))  # no gap, no sequence number used twice
    assert len({a.seq for a in load.acks}) == len(load.acks)
    assert_sessions_restore_whole(moto_endpoint, bucket, stored, ["one"])
