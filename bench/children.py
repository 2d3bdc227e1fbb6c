"""Every runtime child a benchmark starts, so a benchmark that fails part-way leaves none running.

A benchmark spawns runtimes and stops each when its measurement ends; an exception in between (a
failed assertion, a runtime that never got ready) used to leave that runtime, and under the
OpenClaw engine its gateway, running after the benchmark exited. The harnesses register each
child with `started`; a benchmark's `main` runs inside `reaped`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from agent.localproc import RuntimeChild

Child = TypeVar("Child", bound=RuntimeChild)
_started: list[RuntimeChild] = []


def started(child: Child) -> Child:
    """Remember `child` for `reaped`; returned as it is."""
    _started.append(child)
    return child


@contextmanager
def reaped() -> Iterator[None]:
    """When the block ends, however it ends, kill every started child still running and
    everything below it (a child already stopped is only forgotten)."""
    try:
        yield
    finally:
        while _started:
            _started.pop().kill()
