"""scripts/ensure-chromium: finds the installed browser; without it and without root it fails and
says what to run (a test run never passes without its browser tests)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ensure-chromium"


def test_finds_the_installed_chromium() -> None:
    result = subprocess.run([str(SCRIPT)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "Chromium" in result.stdout
    assert Path("/usr/bin/chromium").exists()


def test_missing_chromium_without_root_fails_naming_the_fix() -> None:
    # As root, drop to `nobody` for this run (util-linux setpriv); as anyone else, run as is.
    # bash reads the script from a pipe and starts in /, so the run does not depend on `nobody`
    # reaching the checkout: a clone inside a private (0700) directory passes too.
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    result = subprocess.run(
        [*(as_nobody if os.geteuid() == 0 else []), "bash", "-s"],
        input=SCRIPT.read_text(),
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CHROMIUM": "/nonexistent/chromium"},
    )
    assert result.returncode == 1
    assert "/nonexistent/chromium is missing" in result.stderr
    assert "apt-get install -y chromium" in result.stderr
