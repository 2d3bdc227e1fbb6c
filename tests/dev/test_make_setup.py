"""`make` sets up on a machine without uv: it installs one into .tools/ and uses it (Makefile).

The two commands need only Python 3.11+ and Node, so where no `uv` is on PATH the first make
creates a venv in `.tools/`, pip-installs uv there and runs every step with it. Run for real
against the repository's Makefile in a scratch directory, with a fake `python3` and `uv` that
record their calls instead of reaching the registry.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from dev_support import executable, scratch_checkout, tool_bin

FAKE_PYTHON = """#!/bin/sh
# python3 -m venv DIR: a venv whose python pip-installs a fake uv.
echo "python3 $*" >> "$CALLS"
[ "$1 $2" = "-m venv" ] || exit 2
mkdir -p "$3/bin"
cat > "$3/bin/python" <<'EOF'
#!/bin/sh
echo "venv-python $*" >> "$CALLS"
case "$*" in *"pip install"*uv) cp "$FAKE_UV" "$(dirname "$0")/uv" ;; *) exit 2 ;; esac
EOF
chmod +x "$3/bin/python"
"""

FAKE_UV = """#!/bin/sh
echo "$0 $*" >> "$CALLS"
mkdir -p .venv
"""


def make_setup(tmp_path: Path, checkout: Path, bin_dir: Path) -> list[str]:
    """Run `make setup-py` with only `bin_dir` on PATH; the calls the fakes recorded."""
    tool_bin(bin_dir)
    calls = tmp_path / "calls.log"
    calls.touch()
    before = len(calls.read_text().splitlines())
    env = {
        "PATH": str(bin_dir),
        "HOME": str(tmp_path),
        "CALLS": str(calls),
        "FAKE_UV": str(executable(tmp_path / "fake-uv", FAKE_UV)),
    }
    done = subprocess.run(
        ["make", "--no-print-directory", "setup-py"],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,  # a hang guard only
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return calls.read_text().splitlines()[before:]


def test_without_uv_on_path_make_installs_one_into_tools_and_syncs_with_it(
    tmp_path: Path,
) -> None:
    checkout = scratch_checkout(tmp_path)
    bin_dir = tmp_path / "bin"
    executable(bin_dir / "python3", FAKE_PYTHON)

    calls = make_setup(tmp_path, checkout, bin_dir)

    tools_uv = checkout / ".tools" / "bin" / "uv"
    assert calls == [
        "python3 -m venv .tools",
        "venv-python -m pip install --quiet --disable-pip-version-check uv",
        f"{tools_uv} sync --frozen",
    ]
    assert make_setup(tmp_path, checkout, bin_dir) == []  # once: a second make installs nothing


def test_a_uv_on_path_is_used_and_nothing_is_installed(tmp_path: Path) -> None:
    checkout = scratch_checkout(tmp_path)
    bin_dir = tmp_path / "bin"
    executable(bin_dir / "python3", FAKE_PYTHON)
    path_uv = executable(bin_dir / "uv", FAKE_UV)

    assert make_setup(tmp_path, checkout, bin_dir) == [f"{path_uv} sync --frozen"]
    assert not (checkout / ".tools").exists()
