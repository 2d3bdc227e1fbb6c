"""Fixtures for the OpenClaw engine tests: a fake gateway executable, the real pinned one, and
runtime processes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from openclaw_support import RuntimeChild

from bench.engines.openclaw_install import InstallFailed, OpenClawInstall, ensure_openclaw

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def openclaw() -> OpenClawInstall:
    """The pinned OpenClaw and its Node (installed once per machine); skipped, with the reason,
    only when npm cannot install them."""
    try:
        return ensure_openclaw()
    except InstallFailed as error:
        print(f"real openclaw tests skipped: {error}")
        pytest.skip(f"pinned openclaw could not be installed: {error}")


@pytest.fixture
def fake_openclaw(tmp_path: Path) -> Path:
    """An executable that runs the fake gateway with whatever arguments it is given."""
    script = tmp_path / "bin" / "openclaw"
    script.parent.mkdir()
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{HERE / "fake_gateway.py"}" "$@"\n')
    script.chmod(0o755)
    return script


@pytest.fixture
def children() -> Iterator[list[RuntimeChild]]:
    """Runtime processes started by a test; any still running are killed at the end."""
    started: list[RuntimeChild] = []
    yield started
    for child in started:
        child.kill()
