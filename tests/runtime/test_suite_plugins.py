"""The suite's own pytest plugins: the order `make test` hands work out in (tests/scheduling.py)
and the CPU report behind `make test-cost` (tests/cost_report.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import scheduling
from suite_support import REPO


class Cache:
    def __init__(self, stored: dict[str, Any]) -> None:
        self.stored = stored

    def get(self, key: str, default: Any) -> Any:
        return self.stored.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.stored[key] = value


class Config:
    def __init__(self, cache: Cache | None, dist: str = "loadfile") -> None:
        self.cache, self.dist = cache, dist

    def getoption(self, name: str, default: Any = None) -> Any:
        return self.dist if name == "dist" else default


class Item:
    def __init__(self, nodeid: str, slow: bool = False) -> None:
        self.nodeid, self.slow = nodeid, slow

    def get_closest_marker(self, name: str) -> object | None:
        return object() if name == "slow" and self.slow else None


def ordered(items: list[Item], cache: Cache | None, dist: str = "loadfile") -> list[str]:
    scheduling.pytest_collection_modifyitems(Config(cache, dist), items)  # type: ignore[arg-type]
    return [item.nodeid for item in items]


def test_longest_first_then_remembered_seconds_then_slow_files_then_the_rest() -> None:
    named_test, named_file = scheduling.LONGEST_FIRST[0], scheduling.LONGEST_FIRST[1]
    items = [
        Item("tests/a/test_quick.py::test_one"),
        Item("tests/a/test_quick.py::test_two"),
        Item("tests/b/test_marked.py::test_one", slow=True),
        Item("tests/c/test_known.py::test_one"),
        Item("tests/c/test_known.py::test_two"),
        Item(f"{named_file}::test_x"),
        Item(f"{named_test}[p]"),
        Item("tests/d/test_longer.py::test_one"),
    ]
    seconds = {
        "tests/c/test_known.py::test_one": 2.0,
        "tests/c/test_known.py::test_two": 2.0,  # the file: 4 s
        "tests/d/test_longer.py::test_one": 9.0,
        "tests/gone.py::test_removed": 99.0,  # no longer collected: ignored
    }
    got = ordered(items, Cache({scheduling.SECONDS_KEY: seconds}))
    assert got == [
        f"{named_test}[p]",
        f"{named_file}::test_x",
        "tests/d/test_longer.py::test_one",
        "tests/c/test_known.py::test_one",  # a file's tests stay together, in order
        "tests/c/test_known.py::test_two",
        "tests/b/test_marked.py::test_one",
        "tests/a/test_quick.py::test_one",
        "tests/a/test_quick.py::test_two",
    ]
    # Without a cache (a fresh clone, or -p no:cacheprovider): slow files first, then the rest.
    assert ordered([Item(n) for n in got[2:5]] + [Item(got[5], slow=True)], None) == [
        got[5],
        *got[2:5],
    ]
    # Any other distribution mode is left as pytest and xdist order it.
    assert ordered([Item(n) for n in reversed(got)], None, dist="load") == got[::-1]


def test_shards_and_tests_kept_apart_are_units_of_their_own() -> None:
    assert scheduling.unit_of_work("tests/a/test_x.py::test_y[shard3]") == (
        "tests/a/test_x.py::test_y[shard3]"
    )
    assert scheduling.unit_of_work("tests/a/test_x.py::test_y[3]") == "tests/a/test_x.py"
    apart = scheduling.EACH_TEST_APART[0]
    assert scheduling.unit_of_work(f"{apart}::test_z") == f"{apart}::test_z"


def test_each_test_s_seconds_are_remembered_for_the_next_run() -> None:
    cache = Cache({scheduling.SECONDS_KEY: {"tests/old.py::test_kept": 1.5}})
    scheduling._ran.clear()
    for phase, seconds in (("setup", 0.25), ("call", 2.0), ("teardown", 0.25)):
        report = SimpleNamespace(nodeid="tests/new.py::test_t", duration=seconds, when=phase)
        scheduling.pytest_runtest_logreport(report)  # type: ignore[arg-type]
    session = SimpleNamespace(config=SimpleNamespace(cache=cache))
    scheduling.pytest_sessionfinish(session)  # type: ignore[arg-type]
    scheduling._ran.clear()
    assert cache.stored[scheduling.SECONDS_KEY] == {
        "tests/old.py::test_kept": 1.5,
        "tests/new.py::test_t": 2.5,
    }


PLUGINS = ("-p", "no:cacheprovider", "-p", "cost_report", "--cpu-report", "2")
BURNER = """
    import time

    import pytest


    def burn(seconds):
        end = time.process_time() + seconds
        while time.process_time() < end:
            pass


    def test_costly():
        burn(0.7)


    @pytest.mark.slow
    def test_costly_and_marked():
        burn(0.7)


    def test_cheap():
        pass
"""


@pytest.mark.slow  # runs pytest itself, once serially and once over two xdist workers
@pytest.mark.parametrize("options", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_cpu_report_flags_costly_tests_not_marked_slow(
    tmp_path: Path, options: tuple[str, ...]
) -> None:
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(BURNER))
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    slow: slow\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *PLUGINS, *options],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO / "tests")},
        capture_output=True,
        text=True,
        timeout=600,  # a hang guard: xdist workers import the plugins afresh
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out
    report = out.split("CPU time per test", 1)[1]
    assert re.search(r"^ +\d+\.\d\d s  FAST>  test_inner\.py::test_costly$", report, re.M), out
    assert re.search(
        r"^ +\d+\.\d\d s  slow   test_inner\.py::test_costly_and_marked$", report, re.M
    )
    assert "test_cheap" not in report  # third of three: below the top 2, and cheap
    assert "(FAST>): 1;" in report
