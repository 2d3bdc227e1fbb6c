"""`uv run python -m bench.runtime`: measure the runtime host in one run and print a report.

Startup (spawn -> /readyz) with an empty bucket and with 1,000 stored sessions; RSS idle and after
100 turns; per-turn latency with the offline model including the durable write to moto's S3
server; and acknowledged turns lost under one seeded SIGKILL schedule, write-through (ours)
beside a 30-second periodic sync (Moltworker's design, STATE_SYNC_MODE=periodic).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from pathlib import Path
from typing import Any

import httpx

from agent.ports import free_port
from bench.children import reaped
from bench.runtime.harness import HEADERS, REPO, S3, ChatLoad, moto_server, spawn
from bench.runtime.sessions_scale import seed, template_turn


def startup(s3: S3, runs: int) -> dict[str, Any]:
    """Spawn -> /readyz, empty and 1,000-session buckets interleaved so load drift hits both."""
    seeded = s3.new_bucket()
    # Stored by the runtime's own SessionStore (index entries, owner and all), like a real one.
    factory = template_turn(s3, s3.new_bucket())
    seed_s = seed(seeded, factory, {f"seed-{index:05d}": 2 for index in range(1000)})
    empty: list[float] = []
    full: list[float] = []
    first_read: list[float] = []
    for _ in range(runs):
        runtime = spawn(s3.env(s3.new_bucket()))
        empty.append(runtime.wait_ready())
        runtime.terminate()
        runtime = spawn(s3.env(seeded))
        full.append(runtime.wait_ready())
        with httpx.Client(timeout=30) as client:  # built before the clock starts
            began = time.monotonic()
            response = client.get(f"{runtime.url}/api/sessions/seed-00042", headers=HEADERS)
        assert response.status_code == 200, response.text
        first_read.append(time.monotonic() - began)
        runtime.terminate()
    return {
        "ready_empty_min_s": min(empty),
        "ready_1000_sessions_min_s": min(full),
        "ready_empty_s": statistics.median(empty),
        "ready_empty_runs_s": empty,
        "ready_1000_sessions_s": statistics.median(full),
        "ready_1000_sessions_runs_s": full,
        "first_read_of_a_stored_session_ms": statistics.median(first_read) * 1000,
        "seeding_1000_sessions_s": seed_s,
    }


def turns(s3: S3, count: int) -> dict[str, Any]:
    runtime = spawn(s3.env(s3.new_bucket()))
    runtime.wait_ready()
    time.sleep(1.0)
    idle = runtime.rss_mib()
    latencies = []
    with httpx.Client(timeout=30) as client:
        for index in range(count):
            began = time.perf_counter()
            response = client.post(
                f"{runtime.url}/api/chat",
                headers=HEADERS,
                json={"message": f"turn {index}", "session_id": f"bench-{index % 10}"},
            )
            latencies.append(time.perf_counter() - began)
            assert response.status_code == 200, response.text
    after = runtime.rss_mib()
    runtime.terminate()
    client = s3.client()
    bucket = s3.new_bucket()
    puts = []
    for index in range(count):
        began = time.perf_counter()
        client.put_object(
            Bucket=bucket, Key=f"probe/{index:08d}.json", Body=b"{}" * 400, IfNoneMatch="*"
        )
        puts.append(time.perf_counter() - began)
    ordered = sorted(latencies)
    return {
        "rss_idle_mib": idle,
        "rss_after_turns_mib": after,
        "turns": count,
        "turn_p50_ms": statistics.median(latencies) * 1000,
        "turn_p95_ms": ordered[int(len(ordered) * 0.95) - 1] * 1000,
        "bare_conditional_put_p50_ms": statistics.median(puts) * 1000,
    }


def kill_schedule(seed: int, kills: int) -> list[float]:
    rng = random.Random(seed)
    return [round(rng.uniform(3.0, 45.0), 1) for _ in range(kills)]


def loss_under_kills(s3: S3, mode: str, schedule: list[float]) -> dict[str, Any]:
    bucket = s3.new_bucket()
    env = {**s3.env(bucket), "STATE_SYNC_MODE": mode, "STATE_SYNC_INTERVAL_S": "30"}
    port = free_port()
    runtime = spawn(env, port)
    runtime.wait_ready()
    load = ChatLoad(runtime.url, ["k1", "k2", "k3"])
    load.start()
    kills_at = []
    for delay in schedule:
        time.sleep(delay)
        runtime.kill()
        kills_at.append(time.monotonic())
        runtime = spawn(env, port)
        runtime.wait_ready()
    time.sleep(2.0)
    load.stop()
    runtime.terminate()  # a graceful stop: the periodic design gets its final sync
    stored = s3.stored_turn_ids(bucket)
    lost = {tid for tid, where in load.acks.items() if stored.get(tid) != where}
    windows = [{"acknowledged": 0, "lost": 0} for _ in range(len(kills_at) + 1)]
    for tid, at in load.ack_times.items():
        window = windows[sum(1 for kill in kills_at if kill < at)]
        window["acknowledged"] += 1
        window["lost"] += tid in lost
    return {"mode": mode, "acknowledged": len(load.acks), "lost": len(lost), "per_window": windows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="startup repetitions (median)")
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--kills", type=int, default=4)
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--no-loss", action="store_true", help="skip the kill-schedule comparison")
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/runtime.json")
    args = parser.parse_args()
    report: dict[str, Any] = {"load_average_at_start": os.getloadavg(), "cores": os.cpu_count()}
    with reaped(), moto_server() as s3:
        report["startup"] = startup(s3, args.runs)
        print(json.dumps(report["startup"], indent=2), flush=True)
        report["turns"] = turns(s3, args.turns)
        print(json.dumps(report["turns"], indent=2), flush=True)
        if not args.no_loss:
            schedule = kill_schedule(args.seed, args.kills)
            report["kill_schedule_s"] = schedule
            report["loss"] = [
                loss_under_kills(s3, mode, schedule) for mode in ("write-through", "periodic")
            ]
            print(json.dumps(report["loss"], indent=2), flush=True)
    report["load_average_at_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
