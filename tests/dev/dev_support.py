"""Helpers for the tests that run the repository's Makefile in a scratch checkout."""

from __future__ import annotations

import shutil
from pathlib import Path

from agent.localproc import REPO

#: What the Makefile's recipes and the tests' fake tools run, linked into a PATH of their own.
TOOLS = ("make", "bash", "sh", "touch", "mkdir", "find", "chmod", "cat", "cp", "dirname")


def scratch_checkout(root: Path, name: str = "checkout") -> Path:
    """A directory holding the repository's Makefile and the files its set-up depends on."""
    checkout = root / name
    checkout.mkdir()
    for file in ("Makefile", "uv.lock", "pyproject.toml"):
        shutil.copy2(REPO / file, checkout / file)
    return checkout


def executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def tool_bin(bin_dir: Path) -> Path:
    """`bin_dir` with links to TOOLS added (a PATH that holds no uv unless a test puts one)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found is not None, f"{tool} is needed to run the Makefile"
        if not (bin_dir / tool).exists():
            (bin_dir / tool).symlink_to(found)
    return bin_dir
