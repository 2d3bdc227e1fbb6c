"""Nothing started by the tests may outlive them: a pytest plugin (loaded by tests/conftest.py).

The test process becomes a child subreaper (Linux prctl), so a grandchild orphaned when its parent
dies (a gateway whose runtime was SIGKILLed) is re-parented here instead of to init, and the
session-end check still sees it. At session end every live descendant is a leak: the run fails
naming each one, and the leaks are killed.

Under pytest-xdist every worker is its own subreaper and checks its own tree when its session ends;
it hands what it found to the controller (`workeroutput`), which reports all of them and fails the
run. The controller then checks what is left under itself once the workers are gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys

import psutil
import pytest

_PR_SET_CHILD_SUBREAPER = 36
LEAK_GRACE_S = 5.0  # processes already on their way out get this long before they count as leaks
_WORKER_KEY = "edgeagent_leaked_processes"
_from_workers: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _survivors() -> list[psutil.Process]:
    alive = []
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            if child.status() != psutil.STATUS_ZOMBIE:
                alive.append(child)
    return alive


def _describe(process: psutil.Process) -> str:
    try:
        return f"pid {process.pid}: {' '.join(process.cmdline())[:160] or process.name()}"
    except psutil.Error:
        return f"pid {process.pid}"


def _stop_leaks() -> list[str]:
    """Wait out the grace period, then kill and describe every descendant still running."""
    _gone, leaked = psutil.wait_procs(_survivors(), timeout=LEAK_GRACE_S)
    described = [_describe(process) for process in leaked]
    for process in leaked:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(leaked, timeout=LEAK_GRACE_S)
    return described


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """Controller side of xdist: collect the leaks a worker found in its own tree."""
    output = getattr(node, "workeroutput", None) or {}
    _from_workers.extend(output.get(_WORKER_KEY, []))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any process the tests started is still running, then stop it."""
    leaked = _stop_leaks()
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller reports and fails the run
        worker = session.config.workerinput["workerid"]  # type: ignore[attr-defined]
        workeroutput[_WORKER_KEY] = [f"{line} (in worker {worker})" for line in leaked]
        return
    leaked += _from_workers
    if not leaked:
        return
    lines = "\n".join(f"  {line}" for line in leaked)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = f"{len(leaked)} process(es) started by the tests outlived them:\n{lines}"
    if reporter is not None:
        reporter.write_sep("=", "leaked processes", red=True)
        reporter.write_line(message)
    else:
        print(message, file=sys.stderr)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
