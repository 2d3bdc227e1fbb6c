"""`uv run python -m bench.runtime.sessions_scale`: conversations that last for months, over HTTP.

The runtime runs as a real child process (offline model, state on moto's S3 server, every S3
request counted at the server) and is driven only through its public HTTP API, as an outside
scale run would. Histories are stored in the runtime's own layout beforehand (`seeding`), then:

1. turn latency at each history length (default 10 / 1,000 / 5,000 turns), interleaved per rep;
2. the cold first turn in the longest session after a restart, its storage reads, and the RSS;
3. the bytes sent to the model per turn at each length (the runtime pointed at a loopback
   OpenAI-compatible fake, `fake_model`);
4. the first `/api/sessions` page after a start with 10 / 1,000 / 5,000 sessions;
5. RSS after a turn in each of 200 sessions of 200 turns (stopped at `--fleet-budget-s`);
6. the first memory search after a start with 1,000 memory files, before and after the runtime
   saved its search index (a graceful stop saves it).

Writes `bench/results/sessions_scale.json` and `.md` (goal, measured, PASS/FAIL per row).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from agent.runtime.sessions import turn_key
from agent.runtime.tools.memory import WORKSPACE
from bench.children import reaped
from bench.runtime.fake_model import fake_model
from bench.runtime.harness import HEADERS, REPO, S3, RequestLog, Runtime, moto_server, spawn
from bench.runtime.seeding import (
    EPOCH,
    MARKER,
    SeedStore,
    TurnFactory,
    put_objects,
    seed_session,
)

TIMEOUT = httpx.Timeout(900.0, connect=10.0)


@dataclass
class Row:
    """One line of the report: a goal, what was measured, and whether it met the goal."""

    what: str
    goal: str
    measured: str
    passed: bool | None  # None: informational


@contextmanager
def running(env: dict[str, str]) -> Iterator[Runtime]:
    runtime = spawn(env)
    try:
        runtime.wait_ready()
        yield runtime
    finally:
        runtime.terminate()


def chat(runtime: Runtime, session_id: str, message: str) -> dict[str, Any]:
    with httpx.Client(timeout=TIMEOUT) as client:
        response = client.post(
            f"{runtime.url}/api/chat",
            headers=HEADERS,
            json={"message": message, "session_id": session_id},
        )
    if response.status_code != 200:
        raise RuntimeError(f"turn in {session_id} failed: {response.status_code} {response.text}")
    body: dict[str, Any] = response.json()
    return body


def measured_turn(s3: S3, bucket: str, runtime: Runtime, session_id: str) -> dict[str, Any]:
    """Seconds for one turn over HTTP, and the storage requests it caused (reads, by kind)."""
    before = s3.requests.of(bucket)
    began = time.perf_counter()
    chat(runtime, session_id, "how are things going?")
    elapsed = time.perf_counter() - began
    caused = s3.requests.of(bucket) - before
    return {"s": elapsed, "reads": RequestLog.reads(caused), "requests": dict(caused)}


def template_turn(s3: S3, bucket: str) -> TurnFactory:
    """One real turn stored by the runtime: the shape every seeded turn copies."""
    with running(s3.env(bucket)) as runtime:
        chat(runtime, "template", MARKER)
    stored = s3.client().get_object(Bucket=bucket, Key=turn_key("template", 1))
    return TurnFactory(stored["Body"].read())


def seed(bucket: str, factory: TurnFactory, sessions: dict[str, int], first: int = 0) -> float:
    """Store `sessions` (id -> turns) in `bucket`; seconds taken."""
    began = time.monotonic()
    store = SeedStore(bucket)

    async def run() -> None:
        for index, (session_id, turns) in enumerate(sessions.items(), start=first):
            start = EPOCH + timedelta(minutes=index)
            await seed_session(store, factory, session_id, turns, start)

    asyncio.run(run())
    store.publish()
    return time.monotonic() - began


def history(s3: S3, factory: TurnFactory, sizes: list[int], reps: int) -> dict[str, Any]:
    """Turn latency, cold restore, RSS and model bytes against history length."""
    bucket = s3.new_bucket()
    sessions = {f"hist-{size}": size for size in sizes}
    seeded_s = seed(bucket, factory, sessions)
    big = f"hist-{max(sizes)}"
    env = s3.env(bucket)
    report: dict[str, Any] = {"sizes": sizes, "seeding_s": seeded_s}

    with running(env) as runtime:
        # A session stored before this runtime ever saw it (e.g. written by an older version).
        report["first_turn_in_unseen_session"] = measured_turn(s3, bucket, runtime, big)
        for size in sizes:  # load every session once before timing warm turns
            chat(runtime, f"hist-{size}", "warming up")
        latency: dict[int, list[float]] = {size: [] for size in sizes}
        for _ in range(reps):
            for size in sizes:
                latency[size].append(measured_turn(s3, bucket, runtime, f"hist-{size}")["s"])
        report["turn_s"] = {str(size): statistics.median(latency[size]) for size in sizes}
        report["turn_runs_s"] = {str(size): latency[size] for size in sizes}
        report["rss_after_all_sizes_mib"] = runtime.rss_mib()

    before_spawn = s3.requests.of(bucket)
    with running(env) as runtime:
        startup_reads = RequestLog.reads(s3.requests.of(bucket) - before_spawn)
        report["cold_turn"] = measured_turn(s3, bucket, runtime, big)
        report["cold_turn"]["startup_reads"] = startup_reads
        report["rss_after_loading_longest_mib"] = runtime.rss_mib()

    with fake_model() as model:
        model_env = {
            **env,
            "AGENT_MODEL": "openai:bench-fake",
            "AGENT_MODEL_BASE_URL": model.base_url,
        }
        sent: dict[str, Any] = {}
        with running(model_env) as runtime:
            for size in sizes:
                chat(runtime, f"hist-{size}", "first turn after the restart")
                first = model.take()
                chat(runtime, f"hist-{size}", "and the next one")
                steady = model.take()
                sent[str(size)] = {
                    "bytes": sum(steady),
                    "requests": len(steady),
                    "first_turn_bytes": sum(first),
                    "first_turn_requests": len(first),
                }
        report["model_request"] = sent
    return report


def listing(s3: S3, factory: TurnFactory, sizes: list[int]) -> dict[str, Any]:
    """The first /api/sessions page after a start, as the number of sessions grows."""
    bucket = s3.new_bucket()
    env = s3.env(bucket)
    made = 0
    found: dict[str, Any] = {}
    for size in sorted(sizes):
        fresh = {f"list-{index:05d}": 1 for index in range(made, size)}
        seeded_s = seed(bucket, factory, fresh, first=made)
        made = size
        with running(env) as runtime:
            before = s3.requests.of(bucket)
            with httpx.Client(timeout=TIMEOUT) as client:  # built before the clock starts
                began = time.perf_counter()
                response = client.get(f"{runtime.url}/api/sessions", headers=HEADERS)
            elapsed = time.perf_counter() - began
            reads = RequestLog.reads(s3.requests.of(bucket) - before)
        if response.status_code != 200:
            raise RuntimeError(f"/api/sessions failed: {response.status_code} {response.text}")
        page = response.json()["sessions"]
        newest = f"list-{size - 1:05d}"
        if not page or page[0]["session_id"] != newest:
            raise RuntimeError(f"/api/sessions does not start with the newest session {newest}")
        found[str(size)] = {"s": elapsed, "reads": reads, "page": len(page), "seeding_s": seeded_s}
    return found


def fleet(
    s3: S3, factory: TurnFactory, sessions: int, turns: int, budget_s: float
) -> dict[str, Any]:
    """RSS after one turn in each of `sessions` sessions of `turns` turns (two clients)."""
    bucket = s3.new_bucket()
    ids = [f"fleet-{index:04d}" for index in range(sessions)]
    seeded_s = seed(bucket, factory, dict.fromkeys(ids, turns))
    done: list[str] = []
    with running(s3.env(bucket)) as runtime:
        idle = runtime.rss_mib()
        deadline = time.monotonic() + budget_s
        queue = list(reversed(ids))
        lock = threading.Lock()

        def work() -> None:
            while time.monotonic() < deadline:
                with lock:
                    if not queue:
                        return
                    session_id = queue.pop()
                chat(runtime, session_id, "one more thing")
                with lock:
                    done.append(session_id)

        began = time.monotonic()
        workers = [threading.Thread(target=work) for _ in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.monotonic() - began
        rss = runtime.rss_mib()
    return {
        "sessions": sessions,
        "turns_each": turns,
        "sessions_loaded": len(done),
        "loading_s": elapsed,
        "rss_idle_mib": idle,
        "rss_mib": rss,
        "seeding_s": seeded_s,
    }


def memory_search(s3: S3, files: int) -> dict[str, Any]:
    """Storage reads of the first memory search after a start, without and with a saved index."""
    bucket = s3.new_bucket()
    put_objects(
        bucket,
        {
            f"{WORKSPACE}memory/note-{index:05d}.md": f"- note {index}: topic{index}\n".encode()
            for index in range(files)
        },
    )
    found: dict[str, Any] = {"files": files}
    for run in ("first_start", "restart"):
        with running(s3.env(bucket)) as runtime:
            before = s3.requests.of(bucket)
            with httpx.Client(timeout=TIMEOUT) as client:  # built before the clock starts
                began = time.perf_counter()
                response = client.get(
                    f"{runtime.url}/api/memory/search",
                    headers=HEADERS,
                    params={"q": f"topic{files - 1}"},
                )
            elapsed = time.perf_counter() - began
            caused = s3.requests.of(bucket) - before
        hits = response.json().get("hits") if response.status_code == 200 else None
        if not hits or hits[0]["path"] != f"memory/note-{files - 1:05d}.md":
            raise RuntimeError(f"memory search failed: {response.status_code} {response.text}")
        found[run] = {"s": elapsed, "reads": RequestLog.reads(caused), "requests": dict(caused)}
    return found


def rows(report: dict[str, Any]) -> list[Row]:
    hist, lists, crowd = report["history"], report["listing"], report["fleet"]
    small, big = str(min(hist["sizes"])), str(max(hist["sizes"]))
    turn = hist["turn_s"]
    ratio = turn[big] / turn[small]
    per_size = ", ".join(f"{turn[s] * 1000:.0f} ms at {int(s):,}" for s in map(str, hist["sizes"]))
    cold = hist["cold_turn"]
    unseen = hist["first_turn_in_unseen_session"]
    few, many = str(min(map(int, lists))), str(max(map(int, lists)))
    pages = ", ".join(
        f"{lists[s]['s']:.3f} s / {lists[s]['reads']:,} reads at {int(s):,}"
        for s in sorted(lists, key=int)
    )
    sent = hist["model_request"]
    sent_text = ", ".join(
        f"{sent[s]['bytes'] / 1024:,.1f} KiB at {int(s):,}" for s in map(str, hist["sizes"])
    )
    memory = report["memory_search"]
    loaded = f"{crowd['sessions_loaded']} of {crowd['sessions']} sessions"
    complete = crowd["sessions_loaded"] == crowd["sessions"]
    return [
        Row(
            f"turn latency, {int(big):,} vs {int(small):,} turns of history",
            "< 1.5x",
            f"{ratio:.2f}x ({per_size})",
            ratio < 1.5,
        ),
        Row(
            f"cold first turn in a {int(big):,}-turn session after a restart",
            "< 0.5 s",
            f"{cold['s']:.3f} s",
            cold["s"] < 0.5,
        ),
        Row(
            "storage reads of that cold turn",
            "≤ 10",
            f"{cold['reads']:,} (startup before it: {cold['startup_reads']:,})",
            cold["reads"] <= 10,
        ),
        Row(
            f"first `/api/sessions` page after a start, {int(many):,} sessions",
            "< 0.2 s",
            pages,
            lists[many]["s"] < 0.2,
        ),
        Row(
            f"RSS after loading a {int(big):,}-turn session",
            "< 150 MiB",
            f"{hist['rss_after_loading_longest_mib']:.1f} MiB",
            hist["rss_after_loading_longest_mib"] < 150,
        ),
        Row(
            f"RSS after {crowd['sessions']} sessions x {crowd['turns_each']} turns",
            "< 200 MiB",
            f"{crowd['rss_mib']:.1f} MiB ({loaded} in {crowd['loading_s']:.0f} s)",
            complete and crowd["rss_mib"] < 200,
        ),
        Row(
            f"storage reads of the first memory search after a restart, {memory['files']:,} files",
            "≤ 5 (index snapshot + listing)",
            f"{memory['restart']['reads']:,} in {memory['restart']['s']:.3f} s "
            f"(first start, no saved index: {memory['first_start']['reads']:,})",
            memory["restart"]["reads"] <= 5,
        ),
        Row("data sent to the model per turn", "bounded", sent_text, None),
        Row(
            f"first turn in a {int(big):,}-turn session never loaded by this version",
            "—",
            f"{unseen['s']:.3f} s, {unseen['reads']:,} reads",
            None,
        ),
        Row(
            f"first `/api/sessions` page, {int(few):,} sessions",
            "—",
            f"{lists[few]['s']:.3f} s",
            None,
        ),
    ]


def markdown(report: dict[str, Any], table: list[Row]) -> str:
    verdict = {True: "PASS", False: "FAIL", None: "info"}
    lines = [
        "# sessions_scale",
        "",
        f"Run at {report['started_at']} on {report['cores']} cores, load average "
        f"{report['load_average_at_start'][0]:.1f} at start, "
        f"{report['load_average_at_end'][0]:.1f} at end; {report['wall_s']:.0f} s.",
        "",
        "| what | goal | measured | result |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {r.what} | {r.goal} | {r.measured} | {verdict[r.passed]} |" for r in table]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, nargs="+", default=[10, 1000, 5000])
    parser.add_argument("--sessions", type=int, nargs="+", default=[10, 1000, 5000])
    parser.add_argument("--fleet", type=int, nargs=2, default=[200, 200], metavar=("N", "TURNS"))
    parser.add_argument("--memory-files", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=3, help="timed turns per history length")
    parser.add_argument("--fleet-budget-s", type=float, default=600.0)
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/sessions_scale.json")
    args = parser.parse_args()
    began = time.monotonic()
    report: dict[str, Any] = {
        "started_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cores": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
    }
    with reaped(), moto_server() as s3:
        factory = template_turn(s3, s3.new_bucket())
        report["history"] = history(s3, factory, sorted(args.history), args.reps)
        print(json.dumps(report["history"], indent=2), flush=True)
        report["listing"] = listing(s3, factory, args.sessions)
        print(json.dumps(report["listing"], indent=2), flush=True)
        sessions, turns = args.fleet
        report["fleet"] = fleet(s3, factory, sessions, turns, args.fleet_budget_s)
        print(json.dumps(report["fleet"], indent=2), flush=True)
        report["memory_search"] = memory_search(s3, args.memory_files)
        print(json.dumps(report["memory_search"], indent=2), flush=True)
    report["load_average_at_end"] = os.getloadavg()
    report["wall_s"] = time.monotonic() - began
    table = rows(report)
    report["rows"] = [asdict(row) for row in table]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    text = markdown(report, table)
    args.out.with_suffix(".md").write_text(text)
    print(text)
    print(f"written to {args.out} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
