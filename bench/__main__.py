"""Run every benchmark in turn (`make bench`); each also runs alone as `python -m bench.<name>`.

Results are printed as tables and written as JSON under `bench/results/` (not committed); the
docs/benchmarks.md quotes a run on the 2-core reference machine.
"""

from __future__ import annotations

import subprocess
import sys
import time

BENCHES = (
    "edge_overhead",
    "runtime",
    "runtime.sessions_scale",
    "engines",
    "engines.state_scan",
    "verify",
    "ui_stream",
    "image_size",
    "plan",
)


def main() -> int:
    """Run each benchmark as its own process so one crash does not hide the others."""
    names = sys.argv[1:] or list(BENCHES)
    unknown = sorted(set(names) - set(BENCHES))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
        return 2
    failed: list[str] = []
    for name in names:
        print(f"\n=== bench.{name} ===", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, "-m", f"bench.{name}"])
        elapsed = time.monotonic() - started
        print(f"=== bench.{name}: exit {code} in {elapsed:.0f} s ===", flush=True)
        if code != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
