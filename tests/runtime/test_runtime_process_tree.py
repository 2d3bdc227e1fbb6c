"""Tests stop every process they start: `kill_tree` reaches a grandchild in its own session (as
the OpenClaw gateway is), and the session-end check (tests/process_guard.py) fails a leaky run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest
from suite_support import REPO, kill_tree

# A parent that starts a child in a new session (its own process group, like the gateway) and
# then waits; killing the parent's group alone would orphan the child.
PARENT = textwrap.dedent(
    """
    import subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                             start_new_session=True)
    print(child.pid, flush=True)
    time.sleep(120)
    """
)


def test_kill_tree_reaches_a_grandchild_in_its_own_session() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    grandchild = psutil.Process(int(parent.stdout.readline()))
    assert grandchild.ppid() == parent.pid
    assert psutil.Process(parent.pid).children(recursive=True) == [grandchild]
    kill_tree(parent)
    parent.stdout.close()
    assert parent.returncode == -9
    assert not grandchild.is_running() or grandchild.status() == psutil.STATUS_ZOMBIE


def _inner_run(tmp_path: Path, body: str, *options: str) -> subprocess.CompletedProcess[str]:
    """Run pytest on one test file with the suite's process guard plugin, in a child process."""
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(body))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "process_guard",
            *options,
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO / "tests")},
        capture_output=True,
        text=True,
        timeout=600,  # a hang guard: each xdist worker imports the plugins afresh
        check=False,
    )


# Serially, and spread over two xdist workers (each checks its own tree; the controller reports).
@pytest.mark.slow  # seconds of CPU: `make test` runs it, `make test-fast` does not
@pytest.mark.parametrize("options", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_a_run_that_leaks_fails_and_names_each_leak_even_an_orphan(
    tmp_path: Path, options: tuple[str, ...]
) -> None:
    leaky = f"""
        import subprocess, sys

        PARENT = {PARENT!r}

        def test_forgets_its_child():
            code = "import time; time.sleep(120)  # leaked-on-purpose"
            subprocess.Popen([sys.executable, "-c", code])

        def test_kills_only_the_parent():
            parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE)
            parent.stdout.readline()
            parent.kill()  # the grandchild lives on in its own session, orphaned
            parent.wait()
            parent.stdout.close()
    """
    result = _inner_run(tmp_path, leaky, *options)
    assert result.returncode == 1, result.stdout
    assert "2 passed" in result.stdout
    assert "2 process(es) started by the tests outlived them" in result.stdout
    assert "leaked-on-purpose" in result.stdout
    orphan = r"-c import time; time\.sleep\(120\)( \(in worker gw\d\))?$"
    assert re.search(orphan, result.stdout, re.MULTILINE), result.stdout
    # ...and the check stopped them, so this outer run has nothing left over either.
    assert not [
        p
        for p in psutil.process_iter(["cmdline", "status"])
        if "leaked-on-purpose" in " ".join(p.info["cmdline"] or [])
        and p.info["status"] != psutil.STATUS_ZOMBIE
    ]


@pytest.mark.slow  # seconds of CPU: `make test` runs it, `make test-fast` does not
def test_a_clean_run_passes(tmp_path: Path) -> None:
    clean = """
        import subprocess, sys

        def test_waits_for_its_child():
            subprocess.run([sys.executable, "-c", "pass"], check=True)
    """
    result = _inner_run(tmp_path, clean)
    assert result.returncode == 0, result.stdout
    assert "outlived" not in result.stdout
