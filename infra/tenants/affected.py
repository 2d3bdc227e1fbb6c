"""Which stacks a change touches: what a pull request previews and the fork plan diffs.

The repository's own stacks are the `Pulumi.<stack>.yaml` files at its root; tenant stacks come
from `tenants.yaml`. A change to the program (or anything it deploys or is locked to) touches
every stack; a change to one stack file touches that stack; the manifest or the tenant tool
touches the tenant stacks. Tests, docs and the README touch none.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

# Paths whose change alters what every stack deploys (or how it is checked).
PROGRAM_PATHS = (
    "infra/",
    "agent/",
    "Pulumi.yaml",
    "pyproject.toml",
    "uv.lock",
    ".github/workflows/",
)
TENANT_PATHS = ("tenants.yaml",)
_STACK_FILE = re.compile(r"^Pulumi\.([A-Za-z0-9_.-]+)\.yaml$")


@dataclass(frozen=True)
class Affected:
    """Repository stacks to preview, and whether the tenant stacks need a plan."""

    stacks: list[str]
    tenants: bool


def repository_stacks(root: Path) -> list[str]:
    """Stacks with a `Pulumi.<stack>.yaml` at the repository root."""
    return sorted(
        match.group(1)
        for path in root.glob("Pulumi.*.yaml")
        if (match := _STACK_FILE.match(path.name)) is not None
    )


def affected(changed: Iterable[str], stacks: Sequence[str]) -> Affected:
    """The stacks `changed` paths (relative to the repository root) touch."""
    touched: set[str] = set()
    tenants = False
    for path in changed:
        if path.startswith(PROGRAM_PATHS) and not path.startswith("infra/tenants/"):
            touched.update(stacks)
            tenants = True
        elif path.startswith(("infra/tenants/", *TENANT_PATHS)):
            tenants = True
        elif (match := _STACK_FILE.match(path)) is not None and match.group(1) in stacks:
            touched.add(match.group(1))
            # Tenant stacks inherit from the environment's stack file.
            tenants = True
    return Affected(sorted(touched), tenants)


def changed_paths(root: Path, base: str, head: str = "HEAD") -> list[str]:
    """Paths changed between the merge base of `base` and `head` (git, argument list only)."""
    if base.startswith("-") or head.startswith("-"):
        raise ValueError(f"not a git revision: {base!r} / {head!r}; example: origin/main")
    result = subprocess.run(  # noqa: S603 - fixed argv, revisions cannot be options
        ["git", "diff", "--name-only", f"{base}...{head}", "--"],  # noqa: S607
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    )
    return [line for line in result.stdout.splitlines() if line]
