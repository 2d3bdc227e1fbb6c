"""`uv run python -m bench.engines`: native and OpenClaw engines side by side, in one run.

For each engine: spawn -> /readyz (fresh, then with restored state), idle RSS of the runtime and
of its whole process tree, and the state loss window under SIGKILL of every process at once (a
dying container). Native: chat turns under load; a turn is acknowledged only after its durable
write, so the window is the age of the oldest acknowledged turn missing from the store. OpenClaw:
a writer changes a workspace Markdown file and a WAL SQLite database in the gateway's state
directory every 100 ms; the window is the kill time minus the write time of the newest version
found in the store (Moltworker's rclone loop: up to 30 s).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from agent.ports import free_port
from bench.children import reaped
from bench.engines.harness import HEADERS, REPO, Runtime, spawn
from bench.engines.openclaw_install import InstallFailed, ensure_openclaw


class ChatLoad(threading.Thread):
    """Sends turns one after another and records each acknowledgement."""

    def __init__(self, runtime: Runtime, session: str) -> None:
        super().__init__(daemon=True)
        self.runtime, self.session = runtime, session
        self.acks: list[tuple[str, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            n = 0
            while not self.stop.is_set():
                n += 1
                try:
                    response = client.post(
                        f"{self.runtime.url}/api/chat",
                        headers=HEADERS,
                        json={"message": f"turn {n}", "session_id": self.session},
                    )
                except httpx.TransportError:
                    return
                if response.status_code == 200:
                    self.acks.append((response.json()["turn_id"], time.time()))


class Markers(threading.Thread):
    """Changes a Markdown file and a WAL SQLite database every `interval` seconds."""

    def __init__(self, state_dir: Path, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.file = state_dir / "workspace" / "memory" / "bench.md"
        self.db_path = state_dir / "state" / "bench.sqlite"
        self.interval = interval
        self.written: dict[int, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE IF NOT EXISTS marks (n INTEGER PRIMARY KEY, at REAL)")
        seq = int(db.execute("SELECT coalesce(max(n), 0) FROM marks").fetchone()[0])
        while not self.stop.is_set():
            seq += 1
            try:
                self.file.write_text(f"seq {seq}\n")
                db.execute("INSERT INTO marks VALUES (?, ?)", (seq, time.time()))
            except (OSError, sqlite3.Error):
                return
            self.written[seq] = time.time()
            time.sleep(self.interval)


def stored_marks(store: Path) -> tuple[int, int]:
    """Newest marker sequence in the stored Markdown file and in the stored database."""
    mirror = store / "openclaw"
    text = mirror / "workspace" / "memory" / "bench.md"
    file_seq = int(text.read_text().split()[1]) if text.exists() else 0
    db_seq = 0
    stored_db = mirror / "state" / "bench.sqlite"
    if stored_db.exists():
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "copy.sqlite"
            copy.write_bytes(stored_db.read_bytes())
            db = sqlite3.connect(copy)
            db_seq = int(db.execute("SELECT coalesce(max(n), 0) FROM marks").fetchone()[0])
            db.close()
    return file_seq, db_seq


def window(killed_at: float, written: dict[int, float], stored_seq: int) -> float:
    """Seconds of writes lost: kill time minus the write time of the newest stored version."""
    if not written:
        return 0.0
    newest = max(written)
    if stored_seq >= newest:
        return 0.0
    since = written.get(stored_seq, min(written.values()))
    return killed_at - since


def proxy_overhead(runtime_url: str, gateway_url: str, n: int = 100) -> dict[str, float]:
    """p50 of the gateway's /health, straight on loopback and through the 8080 proxy."""
    result = {}
    with httpx.Client(timeout=10) as client:
        for label, url, headers in (
            ("direct", f"{gateway_url}/health", {}),
            ("through_proxy", f"{runtime_url}/health", HEADERS),
        ):
            samples = []
            for _ in range(n):
                began = time.perf_counter()
                client.get(url, headers=headers).raise_for_status()
                samples.append((time.perf_counter() - began) * 1000)
            result[label] = statistics.median(samples)
    return result


def native_runs(work: Path, kills: int, idle_s: float) -> dict[str, Any]:
    env = {"AGENT_ENGINE": "native", "AGENT_MODEL": "offline"}
    ready, rss, windows, lost_total, acked = [], {}, [], 0, 0
    for run in range(kills + 1):
        runtime = spawn(work, env)
        ready.append(runtime.wait_ready(120))
        if run == 0:
            time.sleep(idle_s)
            rss = runtime.tree_rss_mib()
        if run == kills:
            runtime.stop()
            break
        loads = [ChatLoad(runtime, f"bench-{run}-{i}") for i in range(2)]
        for load in loads:
            load.start()
        time.sleep(random.uniform(2.0, 4.0))
        killed_at = runtime.sigkill_all()
        for load in loads:
            load.stop.set()
            load.join(15)
        stored = {
            json.loads(p.read_text())["turn_id"]
            for p in (work / "store" / "sessions").rglob("*.json")
        }
        acks = [ack for load in loads for ack in load.acks]
        lost = [at for turn_id, at in acks if turn_id not in stored]
        acked += len(acks)
        lost_total += len(lost)
        windows.append(max((killed_at - at for at in lost), default=0.0))
    return {
        "instance_type": "lite or larger (idle RSS above; stack default basic)",
        "spawn_to_ready_s": {"fresh": ready[0], "restored": ready[1:]},
        "idle_rss": rss,
        "acknowledged_turns": acked,
        "lost_acknowledged_turns": lost_total,
        "loss_window_s": windows,
    }


def openclaw_runs(work: Path, kills: int, idle_s: float) -> dict[str, Any]:
    try:
        install = ensure_openclaw()
    except InstallFailed as error:
        return {"skipped": str(error)}
    base = {
        "AGENT_ENGINE": "openclaw",
        "AGENT_MODEL": "offline",
        "PATH": install.path_env(),
        "HOME": str(work),
        "OPENCLAW_BIN": str(install.openclaw),
        "OPENCLAW_START_TIMEOUT_S": "300",
    }
    ready, rss, file_windows, db_windows, restored_ok = [], {}, [], [], []
    proxy_ms: dict[str, float] = {}
    expected: tuple[int, int] | None = None
    for run in range(kills + 1):
        state_dir = work / f"oc-{run}"  # every start is a new container with an empty disk
        gateway_port = free_port()
        runtime = spawn(
            work,
            {
                **base,
                "OPENCLAW_STATE_DIR": str(state_dir),
                "OPENCLAW_GATEWAY_PORT": str(gateway_port),
            },
        )
        ready.append(runtime.wait_ready(360))
        if expected is not None:
            restored_text = (state_dir / "workspace" / "memory" / "bench.md").read_text()
            restored_ok.append(restored_text == f"seq {expected[0]}\n")
        if run == 0:
            time.sleep(idle_s)
            rss = runtime.tree_rss_mib()
            proxy_ms = proxy_overhead(runtime.url, f"http://127.0.0.1:{gateway_port}")
        if run == kills:
            runtime.stop()
            break
        markers = Markers(state_dir)
        markers.start()
        time.sleep(random.uniform(2.0, 4.0))
        killed_at = runtime.sigkill_all()
        markers.stop.set()
        markers.join(5)
        expected = stored_marks(work / "store")
        file_windows.append(window(killed_at, markers.written, expected[0]))
        db_windows.append(window(killed_at, markers.written, expected[1]))
    return {
        "instance_type": "standard-1 (4 GiB) minimum",
        "openclaw_version": install.openclaw.parents[2].name,
        "spawn_to_ready_s": {"fresh": ready[0], "restored": ready[1:]},
        "idle_rss": rss,
        "gateway_health_p50_ms": proxy_ms,
        "loss_window_s": {"markdown": file_windows, "sqlite": db_windows},
        "restored_equals_stored": restored_ok,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=2, help="SIGKILLs per engine")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds idle before RSS")
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args()
    random.seed(args.seed)
    with reaped(), tempfile.TemporaryDirectory(prefix="bench-engines-") as tmp:
        work = Path(tmp)
        (work / "native").mkdir()
        (work / "openclaw").mkdir()
        report = {
            "load_average": os.getloadavg(),
            "cpus": os.cpu_count(),
            "native": native_runs(work / "native", args.kills, args.idle),
            "openclaw": openclaw_runs(work / "openclaw", args.kills, args.idle),
        }
    out = REPO / "bench" / "results" / "engines.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    _table(report)


def _table(report: dict[str, Any]) -> None:
    def fmt(values: list[float]) -> str:
        return (
            f"max {max(values):.2f} s, median {statistics.median(values):.2f} s" if values else "-"
        )

    native, claw = report["native"], report["openclaw"]
    claw_loss = claw.get("loss_window_s", {})
    print("\n| | native | openclaw |\n| --- | --- | --- |")
    if "skipped" in claw:
        print(f"openclaw skipped: {claw['skipped']}")
        return
    rows = [
        ("spawn -> ready, fresh", f"{native['spawn_to_ready_s']['fresh']:.1f} s",
         f"{claw['spawn_to_ready_s']['fresh']:.1f} s"),
        ("spawn -> ready, restored", fmt(native["spawn_to_ready_s"]["restored"]),
         fmt(claw["spawn_to_ready_s"]["restored"])),
        ("idle RSS, whole tree", f"{native['idle_rss']['tree_mib']:.0f} MiB",
         f"{claw['idle_rss']['tree_mib']:.0f} MiB"),
        ("loss window under SIGKILL", fmt(native["loss_window_s"]),
         f"md {fmt(claw_loss['markdown'])}; sqlite {fmt(claw_loss['sqlite'])}"),
        ("gateway /health p50, direct / via 8080", "-",
         f"{claw['gateway_health_p50_ms']['direct']:.1f} / "
         f"{claw['gateway_health_p50_ms']['through_proxy']:.1f} ms"),
        ("instance type", native["instance_type"], claw["instance_type"]),
    ]  # fmt: skip
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
