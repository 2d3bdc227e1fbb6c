"""Where `make test` keeps the tests' temporary files (scripts/fast_tmpdir.py and the Makefile)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from suite_support import load_script

from agent.localproc import REPO

script = load_script("fast_tmpdir")
MINE = f"edgeagent-{os.getuid()}"


def test_a_roomy_writable_candidate_gets_a_private_directory(tmp_path: Path) -> None:
    chosen = script.choose((str(tmp_path / "absent"), str(tmp_path)), min_free=1)
    assert chosen == str(tmp_path / MINE)
    assert stat.S_IMODE(os.stat(chosen).st_mode) == 0o700
    (tmp_path / MINE).chmod(0o755)  # loosened since: made private again
    assert script.choose((str(tmp_path),), min_free=1) == chosen
    assert stat.S_IMODE(os.stat(chosen).st_mode) == 0o700


def test_too_little_free_space_or_no_candidate_chooses_none(tmp_path: Path) -> None:
    free = shutil.disk_usage(tmp_path).free
    assert script.choose((str(tmp_path),), min_free=free * 2) is None
    assert not (tmp_path / MINE).exists()
    assert script.choose((str(tmp_path / "absent"),), min_free=1) is None


def test_a_symlink_or_a_file_in_the_place_of_the_directory_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    base = tmp_path / "shared"
    base.mkdir()
    (base / MINE).symlink_to(elsewhere)  # planted by someone else in a world-writable /dev/shm
    assert script.choose((str(base),), min_free=1) is None
    (base / MINE).unlink()
    (base / MINE).write_text("")
    assert script.choose((str(base),), min_free=1) is None


@pytest.mark.slow  # runs make
def test_make_runs_pytest_with_tmpdir_set_to_the_chosen_directory() -> None:
    dry = subprocess.run(
        ["make", "-n", "--no-print-directory", "test-fast", "TEST_TMPDIR=/somewhere/roomy"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,  # a hang guard only
        check=True,
    )
    runs = [line for line in dry.stdout.splitlines() if " run pytest " in line]
    assert runs
    assert all(line.startswith('TMPDIR="/somewhere/roomy" ') for line in runs), runs
