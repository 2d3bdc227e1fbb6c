"""Where the checkout is, and how a file in it is named in a resource input.

A resource input must not hold the absolute path of the checkout: it would differ between two
clones (and between a laptop and CI), so every preview would show a change and a plan would not
compare across machines. Files the providers read (Worker modules, the Docker build context) are
therefore given relative to the directory Pulumi runs the program and its provider plugins in.

Pulumi runs a program whose `main` (Pulumi.yaml) is a directory *in* that directory, and starts
the provider plugins there too ("So that any relative paths inside of the program are correct",
pulumi/pulumi `getPwdMain`): for this project `main: infra/`, hence PROGRAM_DIR.
"""

from __future__ import annotations

import os
from pathlib import Path

from infra.errors import BuildError

REPO_ROOT = Path(__file__).resolve().parent.parent
# Pulumi.yaml `main`; a test keeps the two in step.
PROGRAM_DIR = REPO_ROOT / "infra"


def program_relative(path: Path) -> str:
    """A file of the checkout relative to PROGRAM_DIR (`/`-separated); any other path as is.

    A path outside the checkout (a dist directory named by EDGEAGENT_EDGE_DIST, say) is the
    caller's own choice of machine-specific location, so it stays absolute.
    """
    resolved = path.resolve()
    if not resolved.is_relative_to(REPO_ROOT):
        return str(resolved)
    return Path(os.path.relpath(resolved, PROGRAM_DIR)).as_posix()


def check_program_dir(cwd: Path) -> None:
    """Fail before declaring anything if the providers would resolve relative paths elsewhere."""
    if cwd.resolve() != PROGRAM_DIR:
        raise BuildError(
            f"the Pulumi program runs in {cwd}, not {PROGRAM_DIR}: Worker modules and the Docker "
            "build context are given relative to the latter; keep `main: infra/` in Pulumi.yaml "
            "and run pulumi from the repository (docs/deploy-rules.md)"
        )
