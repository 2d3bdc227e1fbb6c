"""Byte-compile, in parallel, exactly the installed files that some modules import.

`make` installs the environment without `--compile-bytecode` (compiling all ~21,000 installed files
took minutes on a 2-core machine), and Python does not write bytecode on import when
PYTHONDONTWRITEBYTECODE is set. This compiles only what a command needs, once: usage
`python scripts/compile_imports.py infra.program agent.runtime.app`; `--collect tests` first
imports what pytest's collection of `tests` imports (every test module and its helpers). Files
already current are skipped, so a second run takes well under a second.
"""

from __future__ import annotations

import compileall
import contextlib
import importlib
import importlib.util
import io
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path


def collect(path: str) -> None:
    """Import what pytest imports to collect the tests under `path` (output kept quiet)."""
    import pytest

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", path])
    if code != 0:
        print(out.getvalue()[-3000:], file=sys.stderr)
        raise SystemExit(f"compile_imports: collecting {path} failed (exit {code})")


def imported_files(modules: list[str]) -> list[str]:
    """The .py files loaded by importing `modules` (ours and installed packages alike)."""
    for name in modules:
        importlib.import_module(name)
    files = {getattr(module, "__file__", None) for module in list(sys.modules.values())}
    return sorted(f for f in files if f and f.endswith(".py") and os.path.exists(f))


def _compile(path: str) -> bool:
    return bool(compileall.compile_file(path, quiet=2))


def main(argv: list[str]) -> int:
    """Compile the files behind the modules named in `argv`; print one progress line."""
    started = time.monotonic()
    # Import without writing bytecode, whatever PYTHONDONTWRITEBYTECODE says (`make test` unsets it
    # for pytest, and its prerequisites inherit that): the pool below then compiles the files on
    # every core instead of this one process compiling them one by one as it imports.
    sys.dont_write_bytecode = True
    if argv[:1] == ["--collect"]:
        collect(argv[1])
        argv = argv[2:]
    files = imported_files(argv)
    stale = [f for f in files if not Path(importlib.util.cache_from_source(f)).exists()]
    if stale:
        print(f"setup: byte-compiling {len(stale)} of {len(files)} imported files...", flush=True)
        with ProcessPoolExecutor() as pool:
            list(pool.map(_compile, stale, chunksize=64))
        print(f"setup: compiled in {time.monotonic() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
