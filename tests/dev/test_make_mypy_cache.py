"""`make typecheck` shares mypy's cache between checkouts, and each still gets its own results.

The Makefile points mypy at one cache for the machine (`~/.cache/edgeagent/mypy`), so a new clone
or worktree does not analyse every installed package again. Two scratch checkouts of a small
package run the real mypy through the Makefile, one after the other, on that one cache: a changed
signature in one is an error there and only there, however the runs interleave.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from dev_support import executable, scratch_checkout, tool_bin

pytestmark = pytest.mark.slow  # mypy through make, four times: seconds of CPU

#: `uv sync` makes the venv directory the Makefile's stamp goes in; `uv run X` runs X.
FAKE_UV = """#!/bin/sh
case "$1" in
  sync) mkdir -p .venv ;;
  run) shift; exec "$@" ;;
  *) exit 2 ;;
esac
"""

PORTS = "def free_port() -> {returns}:\n    return {value}\n"
USE = "from agent.ports import free_port\n\n\ndef next_port() -> int:\n    return free_port() + 1\n"


def checkout_with(root: Path, name: str, returns: str, value: str) -> Path:
    checkout = scratch_checkout(root, name)
    for package in ("agent", "infra"):
        (checkout / package).mkdir()
        (checkout / package / "__init__.py").write_text("")
    (checkout / "agent" / "ports.py").write_text(PORTS.format(returns=returns, value=value))
    (checkout / "agent" / "use.py").write_text(USE)
    return checkout


def typecheck(checkout: Path, home: Path, bin_dir: Path) -> subprocess.CompletedProcess[str]:
    venv_bin = Path(sys.executable).parent  # the real mypy
    return subprocess.run(
        ["make", "--no-print-directory", "typecheck"],
        cwd=checkout,
        env={"PATH": f"{bin_dir}:{venv_bin}", "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=300,  # a hang guard only
        check=False,
    )


def test_two_checkouts_share_one_cache_and_keep_their_own_results(tmp_path: Path) -> None:
    bin_dir = tool_bin(tmp_path / "bin")
    executable(bin_dir / "uv", FAKE_UV)
    good = checkout_with(tmp_path, "good", "int", "8080")
    changed = checkout_with(tmp_path, "changed", "str", '"8080"')  # a caller now adds 1 to a str
    shared = tmp_path / ".cache" / "edgeagent" / "mypy"

    first = typecheck(good, tmp_path, bin_dir)
    assert first.returncode == 0, first.stdout + first.stderr
    assert shared.is_dir()
    assert not (good / ".mypy_cache").exists()

    for _ in range(2):  # after the other checkout's run, each result is still its own
        broken = typecheck(changed, tmp_path, bin_dir)
        assert broken.returncode != 0
        assert 'agent/use.py:5: error: Unsupported operand types for + ("str" and "int")' in (
            broken.stdout
        ), broken.stdout + broken.stderr
        again = typecheck(good, tmp_path, bin_dir)
        assert again.returncode == 0, again.stdout + again.stderr
        assert not (changed / ".mypy_cache").exists()
