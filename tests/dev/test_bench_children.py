"""A benchmark that fails part-way leaves no runtime running (bench/children.py)."""

from __future__ import annotations

import subprocess

import psutil
import pytest

from agent.localproc import RuntimeChild
from bench.children import reaped, started


def test_a_failing_benchmark_still_kills_each_child_and_what_it_started() -> None:
    # A child that has started a process of its own, as a runtime starts the OpenClaw gateway.
    proc = subprocess.Popen(["sh", "-c", "sleep 300 & echo $!; wait"], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    grandchild = psutil.Process(int(proc.stdout.readline()))
    done = subprocess.Popen(["true"])
    done.wait()

    def benchmark() -> None:
        with reaped():
            started(RuntimeChild(proc, 0, None, {}))
            started(RuntimeChild(done, 0, None, {}))  # already stopped: only forgotten
            raise AssertionError("measurement failed")

    with pytest.raises(AssertionError, match="measurement failed"):
        benchmark()
    assert proc.poll() is not None
    assert not grandchild.is_running() or grandchild.status() == psutil.STATUS_ZOMBIE
    proc.stdout.close()
