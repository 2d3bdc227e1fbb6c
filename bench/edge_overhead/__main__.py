"""Added latency of the edge Worker: the same origin hit directly and through `wrangler dev`.

One run starts the loopback origin and the Worker in local mode in front of it, warms both paths
up, then sends N requests down each path, alternating A/B so drift on a shared machine hits both
alike, each over its own keep-alive connection. Prints p50/p90/p99 per path and the difference.

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

from bench.edge_overhead.localdev import REPO_ROOT, origin, wrangler_dev

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


def run(requests: int, warmup: int) -> dict[str, object]:
    load_before = os.getloadavg()[0]
    with origin() as origin_base, wrangler_dev(origin_base) as edge:
        direct, via_edge = Client(origin_base), Client(edge)
        try:
            for _ in range(warmup):
                direct.get("/bench")
                via_edge.get("/bench")
            direct_ms: list[float] = []
            edge_ms: list[float] = []
            for _ in range(requests):
                direct_ms.append(direct.get("/bench"))
                edge_ms.append(via_edge.get("/bench"))
        finally:
            direct.close()
            via_edge.close()
    load_after = os.getloadavg()[0]
    d, e = summarize(direct_ms), summarize(edge_ms)
    added = Summary(
        p50_ms=e.p50_ms - d.p50_ms,
        p90_ms=e.p90_ms - d.p90_ms,
        p99_ms=e.p99_ms - d.p99_ms,
        mean_ms=e.mean_ms - d.mean_ms,
    )
    return {
        "requests_per_path": requests,
        "warmup_per_path": warmup,
        "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}",
        # Other work on a shared machine inflates both paths; the load says how quiet it was.
        "load_avg_1m_before": load_before,
        "load_avg_1m_after": load_after,
        "direct": asdict(d),
        "via_worker": asdict(e),
        "added": asdict(added),
    }


def table(result: dict[str, object]) -> str:
    rows = [("origin directly", result["direct"]), ("through the Worker", result["via_worker"])]
    rows.append(("added by the Worker", result["added"]))
    lines = [
        f"| path ({result['requests_per_path']} requests each) "
        "| p50 ms | p90 ms | p99 ms | mean ms |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, raw in rows:
        s = raw if isinstance(raw, dict) else {}
        lines.append(
            f"| {name} | {s['p50_ms']:.2f} | {s['p90_ms']:.2f} | {s['p99_ms']:.2f} "
            f"| {s['mean_ms']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--requests", type=int, default=2000, help="requests per path (>= 2000 for the README)"
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
