"""How `make test` spreads the suite over pytest-xdist workers: longest work first, a file at a
time, except the shards of a long test, which run wherever a worker is free.

The suite's wall time is bounded by its longest chain of work on one worker. xdist's `loadfile`
sends whole files and starts with the files that hold the most tests; the longest tests (the
SIGKILL crash runs, the real OpenClaw gateway) hold few and so started last, and their minutes
were added to the end of the run. Here:

- every worker orders its collection: the entries of LONGEST_FIRST (in that order), then the
  other files by the seconds their collected tests took when they last ran (longest first;
  remembered in pytest's cache, `.pytest_cache/`; a fresh clone has none), then the
  files holding a `slow` test, then the rest, each file's tests kept together and in order (so a
  module fixture starts once); the controller hands work out in that order;
- a unit of work is a file, as with `loadfile`, except a test parametrized with ids `shard<N>`
  and every test of a file in EACH_TEST_APART: each is a unit of its own, so the shards of one
  long test, or the long tests of one file, run on several workers at once (each has its own
  processes, ports and directories, so they share nothing; a module fixture then starts once
  per worker that runs one of them);
- an entry of LONGEST_FIRST may name one test (`file::test`): it goes before its file.

Active with `--dist loadfile` (as `make test` and `make test-fast` run); any other mode, or no
xdist, runs as pytest or xdist would.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

#: The longest tests and test files, longest first (measured with `--durations`; docs/testing.md).
LONGEST_FIRST = (
    "tests/openclaw/test_openclaw_real_channels.py",
    "tests/runtime/test_runtime_crash.py",
    "tests/openclaw/test_openclaw_smoke.py",
    "tests/tenants/test_tenant_plan.py",
    "tests/infra/test_infra_cli.py",
    "tests/channels/test_channels_crash.py",
)
#: Files whose tests are each a unit of work: a few long tests, each starting its own processes
#: (the real OpenClaw gateway, installed once per machine under a lock).
EACH_TEST_APART = ("tests/openclaw/test_openclaw_smoke.py",)
_SHARD = re.compile(r"\[shard\d+\]$")


def _file(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def unit_of_work(nodeid: str) -> str:
    """The unit a test is scheduled in: its own for a shard or a test of EACH_TEST_APART, else
    its file."""
    apart = _SHARD.search(nodeid) or _file(nodeid) in EACH_TEST_APART
    return nodeid if apart else _file(nodeid)


def _rank(item: pytest.Item, slow_files: set[str], seconds: dict[str, float]) -> tuple[Any, ...]:
    path = _file(item.nodeid)
    test = item.nodeid.split("[", 1)[0]
    if test in LONGEST_FIRST:
        return (LONGEST_FIRST.index(test),)
    if path in LONGEST_FIRST:
        return (LONGEST_FIRST.index(path),)
    return len(LONGEST_FIRST), -seconds.get(path, 0.0), path not in slow_files


#: Where the last runs' seconds per test are kept (pytest's cache: `.pytest_cache/`).
SECONDS_KEY = "edgeagent/seconds-per-test"


def _remembered(config: pytest.Config) -> dict[str, float]:
    cache = getattr(config, "cache", None)  # None with `-p no:cacheprovider`
    found = cache.get(SECONDS_KEY, {}) if cache is not None else {}
    return {str(k): float(v) for k, v in found.items()} if isinstance(found, dict) else {}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("dist", "no") != "loadfile":
        return
    slow_files = {_file(item.nodeid) for item in items if item.get_closest_marker("slow")}
    remembered = _remembered(config)
    seconds: dict[str, float] = {}  # of the tests this run collected, per file
    for item in items:
        path = _file(item.nodeid)
        seconds[path] = seconds.get(path, 0.0) + remembered.get(item.nodeid, 0.0)
    # Stable: the tests of a file stay together and in their order.
    items.sort(key=lambda item: _rank(item, slow_files, seconds))


_ran: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Add up each test's phases (on the controller, which sees every worker's reports)."""
    _ran[report.nodeid] = _ran.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Remember how long each test that ran took, for the next run's order."""
    cache = getattr(session.config, "cache", None)
    if cache is None or hasattr(session.config, "workerinput") or not _ran:
        return
    cache.set(SECONDS_KEY, {**_remembered(session.config), **_ran})


@pytest.hookimpl(optionalhook=True)  # an xdist hook: unknown when xdist is not loaded
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getoption("dist", "no") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class LongestFirst(LoadScopeScheduling):  # type: ignore[misc]
        """`loadfile` in the workers' collection order, with each shard, and each test of a file
        in EACH_TEST_APART, a unit of its own."""

        def _split_scope(self, nodeid: str) -> str:
            return unit_of_work(nodeid)

    config.option.loadscopereorder = False  # keep the collection order: longest first
    return LongestFirst(config, log)
