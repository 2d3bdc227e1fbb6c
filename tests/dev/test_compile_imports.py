"""What `make compile` and the tests' compile step byte-compile (scripts/compile_imports.py)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.localproc import REPO


def bytecode(source: Path) -> Path:
    return Path(importlib.util.cache_from_source(str(source)))


def compile_imports(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`scripts/compile_imports.py first` as make runs it, in `env`."""
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / "compile_imports.py"), "first"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.slow  # two interpreters and a process pool: over half a second of CPU
def test_exactly_the_imported_files_are_compiled_even_when_imports_may_write_bytecode(
    tmp_path: Path,
) -> None:
    (tmp_path / "first.py").write_text("import second\n")
    (tmp_path / "second.py").write_text("VALUE = 1\n")
    (tmp_path / "unused.py").write_text("VALUE = 2\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as under `make test`, which unsets it
    result = compile_imports(env)
    assert result.returncode == 0, result.stderr
    # The pool compiled both (the import itself wrote nothing: it says how many it compiled).
    assert "byte-compiling 2 of " in result.stdout, result.stdout
    assert bytecode(tmp_path / "first.py").exists()
    assert bytecode(tmp_path / "second.py").exists()
    assert not bytecode(tmp_path / "unused.py").exists()

    again = compile_imports(env)
    assert again.returncode == 0, again.stderr
    assert again.stdout == ""  # everything current: nothing to say, nothing compiled
