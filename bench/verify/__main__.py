"""`python -m bench.verify`: how long `python -m infra.verify` takes against the local stack.

Starts the whole stack on loopback (bench.verify.localstack: the built Worker in workerd with
Access on, the Access, R2 and AI Gateway stand-ins, a ready sandbox), then runs the full check
suite `RUNS` times and reports each run's wall time (goal: < 30 s). Writes
bench/results/verify.json.
"""

from __future__ import annotations

import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.edge_overhead.localdev import REPO_ROOT, build_bundle
from bench.verify.localstack import OutputsWorkspace, deployed_stack
from infra.verify.cli import main as verify

RUNS = 5
RESULTS = REPO_ROOT / "bench" / "results" / "verify.json"


def main() -> int:
    build_bundle()
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        started = time.monotonic()
        with deployed_stack(Path(tmp)) as stack:
            startup = time.monotonic() - started
            outputs = stack.outputs()
            walls: list[float] = []
            for _ in range(RUNS):
                out = io.StringIO()
                began = time.monotonic()
                code = verify(
                    ["--stack", "dev"], workspace=lambda _: OutputsWorkspace(outputs), out=out
                )
                walls.append(time.monotonic() - began)
                if code != 0:
                    print(out.getvalue())
                    print("infra.verify failed against the local stack")
                    return 1
    print(f"local stack started in {startup:.1f} s")
    print("run  wall (s)")
    for index, wall in enumerate(walls, 1):
        print(f"{index:>3}  {wall:8.2f}")
    print(f"median {statistics.median(walls):.2f} s, max {max(walls):.2f} s (goal < 30 s)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    result = {"startup_s": startup, "runs_s": walls, "median_s": statistics.median(walls)}
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
