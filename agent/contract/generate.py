"""Write (or check) every file generated from the setting declarations.

`make generate` runs `python -m agent.contract.generate`; `--check` only reports stale files and
exits 1, which is what tests/contract/test_contract_generated.py asserts never happens.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from agent.contract import render
from agent.contract.settings import SETTINGS

REPO = Path(__file__).resolve().parents[2]
TYPESCRIPT = REPO / "agent" / "edge" / "src" / "generated" / "settings.ts"
PYTHON = REPO / "agent" / "runtime" / "generated" / "settings.py"
CONTRACT = REPO / "docs" / "contract.md"
COMMAND = "make generate"


def _ruff_format(text: str, path: Path) -> str:
    # This interpreter's own ruff, on text this module rendered.
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(path), "-"],
        input=text,
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"ruff could not format the generated {path}: {done.stderr.strip()}")
    return done.stdout


def expected() -> dict[Path, str]:
    """Each generated file and the text it must hold."""
    return {
        TYPESCRIPT: render.typescript(SETTINGS),
        PYTHON: _ruff_format(render.python(SETTINGS), PYTHON),
        CONTRACT: render.splice(CONTRACT.read_text(), render.markdown(SETTINGS)),
    }


def stale() -> list[Path]:
    """Generated files whose committed text differs from what the declarations give."""
    return [
        path for path, text in expected().items() if not path.exists() or path.read_text() != text
    ]


def main(argv: list[str]) -> int:
    """Write the generated files, or with `--check` list the stale ones and fail."""
    if "--check" in argv:
        outdated = stale()
        for path in outdated:
            print(f"stale: {path.relative_to(REPO)} (run `{COMMAND}`)", file=sys.stderr)
        return 1 if outdated else 0
    for path, text in expected().items():
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
