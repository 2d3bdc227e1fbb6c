"""`uv run python -m bench.engines.state_scan`: the OpenClaw state sync's periodic full scan.

The runtime rescans the gateway's state directory at start and every 30 s (agent/runtime/openclaw/
sync.py), so its cost is paid for as long as the sandbox is up. Two kinds of files grow:

- files that are never persisted (`npm/`, `tmp/`, `cache/`, ...): with Slack on, the plugin install
  leaves ~25,000 of them. Goal: the scan's cost does not grow with them (they are never walked).
- persisted files (memory notes, credentials, databases): each is stat'ed once per scan, so the
  cost grows with them, bounded by the state's own size. Measured, no goal.

Each row is the median CPU time of a scan that finds nothing to upload (the steady state), at
10 / 1,000 / 5,000 files. Writes `bench/results/state_scan.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from agent.runtime.openclaw.sync import SKIP_TOP, StateSync
from agent.runtime.store.local import LocalDirStore

REPO = Path(__file__).resolve().parents[2]
COUNTS = (10, 1_000, 5_000)
FLAT = 3.0  # goal: a scan over 5,000 skipped files costs under 3x the one over 10


def make_tree(root: Path, *, skipped: int, persisted: int) -> None:
    """`skipped` files spread over the skipped trees, `persisted` workspace notes, 50 per dir;
    all written an hour ago (a scan re-reads a file changed in the last 2 s: not steady state)."""
    tops = sorted(SKIP_TOP)
    files = [root / tops[i % len(tops)] / f"d{i // 50}" / f"f{i}.js" for i in range(skipped)]
    files += [root / "workspace" / "memory" / f"d{i // 50}" / f"n{i}.md" for i in range(persisted)]
    an_hour_ago = time.time() - 3600
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(path.name)
        os.utime(path, (an_hour_ago, an_hour_ago))


async def scan_cpu(root: Path, store_dir: Path, reps: int) -> float:
    """Median CPU seconds of a steady-state full scan (after the first one uploaded everything)."""
    sync = StateSync(LocalDirStore(store_dir), root)
    await sync.sync_all()
    samples = []
    for _ in range(reps):
        started = time.process_time()
        changed = await sync.sync_all()
        samples.append(time.process_time() - started)
        assert changed == 0, "a steady-state scan uploaded something"
    return statistics.median(samples)


def measure(kind: str, reps: int) -> dict[int, float]:
    results = {}
    for count in COUNTS:
        with tempfile.TemporaryDirectory(prefix="state-scan-") as tmp:
            root, store_dir = Path(tmp) / "state", Path(tmp) / "store"
            store_dir.mkdir()
            skipped, persisted = (count, 10) if kind == "skipped" else (0, count)
            make_tree(root, skipped=skipped, persisted=persisted)
            results[count] = asyncio.run(scan_cpu(root, store_dir, reps))
            print(f"  {kind:>9} files {count:>6,}: {results[count] * 1000:8.2f} ms CPU per scan")
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/state_scan.json")
    args = parser.parse_args()
    print("OpenClaw state scan (steady state, median CPU):")
    skipped = measure("skipped", args.reps)
    persisted = measure("persisted", args.reps)
    growth = skipped[COUNTS[-1]] / max(skipped[COUNTS[0]], 1e-6)
    passed = growth < FLAT
    print(
        f"skipped files 10 -> 5,000: x{growth:.2f} (goal < x{FLAT:.0f}) "
        f"{'PASS' if passed else 'FAIL'}; persisted files 10 -> 5,000: "
        f"x{persisted[COUNTS[-1]] / max(persisted[COUNTS[0]], 1e-6):.1f} (grows by design)"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "cpu_s_per_scan": {"skipped": skipped, "persisted": persisted},
                "skipped_growth": growth,
                "goal": f"< x{FLAT:.0f} from 10 to 5,000 skipped files",
                "passed": passed,
            },
            indent=2,
        )
    )
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
