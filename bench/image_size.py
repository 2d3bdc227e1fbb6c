"""`make image-size` (`python -m bench.image_size`): installed size of the runtime dependencies.

Installs exactly what the container image installs (`pyproject.toml`'s `[project.dependencies]`
as locked, no dependency group) into a throwaway virtual environment, then adds up the files of
every installed distribution, as `uv sync --no-default-groups` lays them out in the image's
`/app/.venv` (bytecode aside: `--bytecode` compiles it too, as the Dockerfile does). Goal:
< 150 MB. Prints the total and the largest distributions; writes bench/results/image_size.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from importlib.metadata import Distribution, distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "image_size.json"
GOAL_MB = 150.0
MB = 1_000_000


@dataclass(frozen=True)
class Package:
    """One installed distribution and the bytes its files take."""

    name: str
    version: str
    bytes: int


def _run(*cmd: str | Path) -> None:
    subprocess.run([str(c) for c in cmd], check=True, cwd=REPO, stdout=subprocess.DEVNULL)


def _site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python*/site-packages")) or [venv / "Lib" / "site-packages"]
    return found[0]


def _size(dist: Distribution, root: Path) -> int:
    total = 0
    for file in dist.files or ():
        path = root / file
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
    return total


def measure(venv: Path, *, bytecode: bool) -> list[Package]:
    """Install the locked runtime set into `venv` and size each distribution in it."""
    uv = shutil.which("uv") or "uv"
    requirements = venv.parent / "runtime-requirements.txt"
    _run(
        uv, "export", "--frozen", "--no-default-groups", "--no-emit-project", "--no-hashes",
        "--format", "requirements-txt", "--output-file", requirements,
    )  # fmt: skip
    _run(uv, "venv", "--quiet", "--python", sys.executable, venv)
    install = [uv, "pip", "install", "--quiet", "--python", venv / "bin" / "python"]
    if bytecode:
        install.append("--compile-bytecode")
    _run(*install, "--link-mode", "copy", "-r", requirements)
    site = _site_packages(venv)
    packages = [
        Package(dist.metadata["Name"], dist.version, _size(dist, site))
        for dist in distributions(path=[str(site)])
    ]
    if bytecode:  # .pyc files are not in RECORD: count each __pycache__ towards the total
        cached = sum(p.stat().st_size for p in site.rglob("__pycache__/*.pyc"))
        packages.append(Package("(bytecode)", "", cached))
    return sorted(packages, key=lambda p: p.bytes, reverse=True)


def main(argv: list[str] | None = None) -> int:
    """Measure, print, record; exit 1 when the set misses the goal."""
    parser = argparse.ArgumentParser(prog="python -m bench.image_size")
    parser.add_argument("--bytecode", action="store_true", help="also compile .pyc (slower)")
    parser.add_argument("--top", type=int, default=12, help="largest distributions to list")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="image-size-") as tmp:
        packages = measure(Path(tmp) / "venv", bytecode=args.bytecode)
    total = sum(p.bytes for p in packages)
    print(f"{'distribution':<32} {'version':<14} {'MB':>8}")
    for package in packages[: args.top]:
        print(f"{package.name:<32} {package.version:<14} {package.bytes / MB:>8.1f}")
    rest = packages[args.top :]
    if rest:
        print(f"{f'({len(rest)} more)':<47} {sum(p.bytes for p in rest) / MB:>8.1f}")
    verdict = "meets" if total / MB < GOAL_MB else "MISSES"
    print(
        f"runtime dependency set: {total / MB:.1f} MB in {len(packages)} distributions "
        f"({verdict} the < {GOAL_MB:.0f} MB goal)"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "total_mb": round(total / MB, 1),
                "goal_mb": GOAL_MB,
                "bytecode": args.bytecode,
                "python": sys.version.split()[0],
                "platform": f"{sys.platform}-{os.uname().machine}",
                "seconds": round(time.monotonic() - started, 1),
                "packages": [asdict(p) for p in packages],
            },
            indent=2,
        )
        + "\n"
    )
    return 0 if total / MB < GOAL_MB else 1


if __name__ == "__main__":
    sys.exit(main())
