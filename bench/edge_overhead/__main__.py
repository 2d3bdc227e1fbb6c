"""Added latency of the edge Worker: the same origin hit directly and through the Worker.

One run starts the loopback origin and, in front of it, the Worker in local mode twice: under
`wrangler dev` (which adds its own dev proxy worker in a second workerd) and as the built
dist/index.js served by one workerd process (Miniflare), the bundle infra uploads. After a warm-up
it sends N requests down each path in turn, so drift on a shared machine hits all alike, each
path over its own keep-alive connection. Prints p50/p90/p99 per path and each minus direct.

    uv run python -m bench.edge_overhead [--requests 2000] [--warmup 200]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

from bench.edge_overhead.localdev import REPO_ROOT, build_bundle, origin, serve_bundle, wrangler_dev

RESULTS = REPO_ROOT / "bench" / "results" / "edge_overhead.json"


@dataclass(frozen=True)
class Summary:
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float


def percentile(sorted_ms: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, round(q / 100 * len(sorted_ms)))
    return sorted_ms[min(rank, len(sorted_ms)) - 1]


def summarize(samples_ms: list[float]) -> Summary:
    s = sorted(samples_ms)
    return Summary(
        p50_ms=percentile(s, 50),
        p90_ms=percentile(s, 90),
        p99_ms=percentile(s, 99),
        mean_ms=statistics.fmean(s),
    )


class Client:
    """One keep-alive HTTP/1.1 connection; `get` returns the latency of one full response in ms."""

    def __init__(self, base: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def get(self, path: str) -> float:
        start = time.perf_counter_ns()
        self.conn.request("GET", path)
        res = self.conn.getresponse()
        body = res.read()
        elapsed = (time.perf_counter_ns() - start) / 1e6
        if res.status != 200 or body != b"ok":
            raise RuntimeError(f"GET {path} answered {res.status}: {body[:200]!r}")
        return elapsed

    def close(self) -> None:
        self.conn.close()


PATHS = ("direct", "wrangler_dev", "workerd")


def run(requests: int, warmup: int) -> dict[str, object]:
    build_bundle()
    load_before = os.getloadavg()[0]
    with origin() as origin_base, wrangler_dev(origin_base) as dev, serve_bundle(origin_base) as wd:
        clients = {
            "direct": Client(origin_base),
            "wrangler_dev": Client(dev),
            "workerd": Client(wd),
        }
        samples: dict[str, list[float]] = {name: [] for name in PATHS}
        try:
            for _ in range(warmup):
                for name in PATHS:
                    clients[name].get("/bench")
            for _ in range(requests):
                for name in PATHS:
                    samples[name].append(clients[name].get("/bench"))
        finally:
            for client in clients.values():
                client.close()
    load_after = os.getloadavg()[0]
    summaries = {name: summarize(samples[name]) for name in PATHS}
    direct = summaries["direct"]
    added = {
        name: Summary(
            p50_ms=s.p50_ms - direct.p50_ms,
            p90_ms=s.p90_ms - direct.p90_ms,
            p99_ms=s.p99_ms - direct.p99_ms,
            mean_ms=s.mean_ms - direct.mean_ms,
        )
        for name, s in summaries.items()
        if name != "direct"
    }
    return {
        "requests_per_path": requests,
        "warmup_per_path": warmup,
        "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}",
        # Other work on a shared machine inflates every path; the load says how quiet it was.
        "load_avg_1m_before": load_before,
        "load_avg_1m_after": load_after,
        "paths": {name: asdict(s) for name, s in summaries.items()},
        "added": {name: asdict(s) for name, s in added.items()},
    }


LABELS = {
    "direct": "origin directly",
    "wrangler_dev": "through the Worker, `wrangler dev`",
    "workerd": "through the Worker, built bundle in workerd",
}


def table(result: dict[str, Any]) -> str:
    lines = [
        f"| path ({result['requests_per_path']} requests each) "
        "| p50 ms | p90 ms | p99 ms | mean ms |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]

    def row(name: str, s: dict[str, float]) -> str:
        return (
            f"| {name} | {s['p50_ms']:.2f} | {s['p90_ms']:.2f} | {s['p99_ms']:.2f} "
            f"| {s['mean_ms']:.2f} |"
        )

    for name in PATHS:
        lines.append(row(LABELS[name], result["paths"][name]))
    for name, s in result["added"].items():
        lines.append(row(f"**added**, {LABELS[name].removeprefix('through the Worker, ')}", s))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--requests", type=int, default=2000, help="requests per path (>= 2000 for the docs)"
    )
    parser.add_argument(
        "--warmup", type=int, default=200, help="unmeasured requests per path first"
    )
    args = parser.parse_args()
    if args.requests < 1 or args.warmup < 0:
        parser.error("--requests must be >= 1 and --warmup >= 0, e.g. --requests 2000 --warmup 200")
    result = run(args.requests, args.warmup)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(
        f"\n{result['machine']}; 1-min load {result['load_avg_1m_before']:.1f} before, "
        f"{result['load_avg_1m_after']:.1f} after; raw numbers in {RESULTS.relative_to(REPO_ROOT)}"
    )


if __name__ == "__main__":
    main()
