"""`--cpu-report N`: after the run, the N tests that used the most CPU time, with the tests not
marked `slow` that used more than SLOW_CPU_S flagged (`make test-cost`; docs/testing.md).

What keeps `make test-fast` fast is which tests carry the `slow` marker; this finds the ones that
should. A test's CPU time is its pytest process's (user + system) plus that of the child processes
it started and waited for, while it set up, ran and tore down. CPU time, not wall time: it moves
far less with the machine's load. A report, never an assertion: no test fails for its cost.
Works under xdist: each worker attaches the numbers to its test reports, the controller prints.
"""

from __future__ import annotations

import resource
from collections.abc import Iterator

import pytest

#: A test not marked `slow` that uses more CPU than this is flagged: the budget `make test-fast`
#: is built on (about 1,100 tests in well under a minute on two cores).
SLOW_CPU_S = 0.5
_KEY = "cpu_s"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--cpu-report",
        type=int,
        default=0,
        metavar="N",
        help="print the N tests that used the most CPU time (0: no report)",
    )


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


_began = pytest.StashKey[float]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.config.getoption("cpu_report"):
        item.stash[_began] = _cpu_s()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    if call.when == "teardown" and _began in item.stash:  # before the last report is made
        item.user_properties.append((_KEY, _cpu_s() - item.stash[_began]))
    yield


class _Collector:
    def __init__(self) -> None:
        self.costs: dict[str, tuple[float, bool]] = {}

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for key, value in report.user_properties:
            if key == _KEY:
                self.costs[report.nodeid] = (float(value), "slow" in report.keywords)

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        top = terminalreporter.config.getoption("cpu_report")
        ranked = sorted(self.costs.items(), key=lambda entry: -entry[1][0])
        write = terminalreporter.write_line
        terminalreporter.section(f"CPU time per test (top {top} of {len(ranked)}, then FAST>)")
        flagged = 0
        for rank, (nodeid, (cpu_s, slow)) in enumerate(ranked):
            mark = "slow" if slow else ("FAST>" if cpu_s > SLOW_CPU_S else "fast")
            flagged += mark == "FAST>"
            if rank < top or mark == "FAST>":
                write(f"{cpu_s:7.2f} s  {mark:5}  {nodeid}")
        total = sum(cpu_s for cpu_s, _ in self.costs.values())
        write(f"total {total:.1f} s of CPU in tests (workers' start and collection not counted)")
        if flagged:
            write(
                f"not marked slow and over {SLOW_CPU_S} s of CPU (FAST>): {flagged}; "
                "mark them @pytest.mark.slow, or make them cheaper"
            )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("cpu_report") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_Collector(), "cpu_report_collector")
