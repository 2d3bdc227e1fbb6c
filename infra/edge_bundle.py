"""The built edge Worker bundle (`agent/edge/dist`): find it, check it is fresh, build it if not.

The manifest format and the `source_hash` definition are pinned in docs/contract.md. A dist
directory named by `EDGEAGENT_EDGE_DIST` (or passed in) is used as is, without a freshness
check: that is how tests and CI point the program at a fixture bundle.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from infra.errors import BuildError
from infra.paths import REPO_ROOT

EDGE_DIR = REPO_ROOT / "agent" / "edge"
DIST_ENV = "EDGEAGENT_EDGE_DIST"

_CONTENT_TYPES = {
    ".js": "application/javascript+module",
    ".mjs": "application/javascript+module",
    ".cjs": "application/javascript",
    ".wasm": "application/wasm",
    ".txt": "text/plain",
    ".bin": "application/octet-stream",
}


class EdgeManifest(BaseModel):
    """`dist/manifest.json` as written by `npm run build` in agent/edge."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    main_module: str
    modules: list[str] = Field(min_length=1)
    compatibility_date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    compatibility_flags: list[str] = Field(default_factory=list)
    durable_object_classes: list[str] = Field(min_length=1)
    source_hash: str


@dataclass(frozen=True, slots=True)
class Module:
    """One module to upload: its name in the Worker, file, content type and sha256."""

    name: str
    path: Path
    content_type: str
    sha256: str


@dataclass(frozen=True, slots=True)
class EdgeBundle:
    """A checked, complete bundle: the manifest plus every module file it lists."""

    dist_dir: Path
    manifest: EdgeManifest
    modules: tuple[Module, ...]


def source_hash(edge_dir: Path) -> str:
    """sha256 over `<sha256>  <path>` lines of src/** and package-lock.json (docs/contract.md)."""
    files = [p for p in (edge_dir / "src").rglob("*") if p.is_file()]
    lock = edge_dir / "package-lock.json"
    if lock.is_file():
        files.append(lock)
    rel = sorted((p.relative_to(edge_dir).as_posix() for p in files), key=lambda s: s.encode())
    lines = "".join(
        f"{hashlib.sha256((edge_dir / r).read_bytes()).hexdigest()}  {r}\n" for r in rel
    )
    return hashlib.sha256(lines.encode()).hexdigest()


def load_bundle(dist_dir: Path) -> EdgeBundle:
    """Read and check a dist directory; every listed module must exist inside it."""
    manifest_path = dist_dir / "manifest.json"
    if not manifest_path.is_file():
        raise BuildError(f"{manifest_path} is missing: the edge bundle has not been built")
    try:
        manifest = EdgeManifest.model_validate_json(manifest_path.read_bytes())
    except ValidationError as exc:
        raise BuildError(f"{manifest_path} is not a valid edge manifest: {exc}") from None
    if manifest.main_module not in manifest.modules:
        raise BuildError(f"{manifest_path}: main_module {manifest.main_module!r} is not in modules")
    modules = []
    root = dist_dir.resolve()
    for name in manifest.modules:
        path = (dist_dir / name).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise BuildError(f"{manifest_path}: module {name!r} is not a file inside {dist_dir}")
        content_type = _CONTENT_TYPES.get(path.suffix)
        if content_type is None:
            known = ", ".join(sorted(_CONTENT_TYPES))
            raise BuildError(
                f"{manifest_path}: module {name!r} has an unknown type (known: {known})"
            )
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        modules.append(Module(name, path, content_type, digest))
    return EdgeBundle(dist_dir, manifest, tuple(modules))


def run_streaming(command: list[str], cwd: Path, out: IO[str]) -> int:
    """Run an argument list in `cwd`, copying its output line by line to `out`; the exit code."""
    # An argument list with a fixed program (npm found on PATH), never a shell string.
    with subprocess.Popen(  # noqa: S603
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            out.write(line)
        return process.wait()


Runner = Callable[[list[str], Path, IO[str]], int]


def resolve_bundle(
    dist_dir: Path | None = None,
    *,
    edge_dir: Path = EDGE_DIR,
    runner: Runner = run_streaming,
    log: IO[str] | None = None,
) -> EdgeBundle:
    """The bundle to deploy: an explicit or env dist dir as is, else agent/edge/dist if fresh.

    A missing or stale agent/edge/dist is rebuilt with npm (progress on `log`, stderr by default).
    """
    override = dist_dir or (Path(os.environ[DIST_ENV]) if os.environ.get(DIST_ENV) else None)
    if override is not None:
        return load_bundle(override)
    out = log if log is not None else sys.stderr
    if not (edge_dir / "src").is_dir():
        raise BuildError(f"{edge_dir / 'src'} does not exist: there is no edge Worker to bundle")
    expected = source_hash(edge_dir)
    dist = edge_dir / "dist"
    manifest_path = dist / "manifest.json"
    if manifest_path.is_file():
        try:
            current = EdgeManifest.model_validate_json(manifest_path.read_bytes()).source_hash
        except ValidationError:
            current = ""
        if current == expected:
            return load_bundle(dist)
        reason = "is stale (agent/edge/src or package-lock.json changed)"
    else:
        reason = "is missing"
    _build(edge_dir, reason, runner, out)
    bundle = load_bundle(dist)
    if bundle.manifest.source_hash != expected:
        raise BuildError(
            f"{manifest_path} has source_hash {bundle.manifest.source_hash}, expected {expected}: "
            "the build script must compute it as docs/contract.md defines"
        )
    return bundle


def _installed(edge_dir: Path) -> bool:
    """node_modules matches package-lock.json (npm's hidden lockfile is not older than it)."""
    hidden = edge_dir / "node_modules" / ".package-lock.json"
    lock = edge_dir / "package-lock.json"
    return hidden.is_file() and lock.is_file() and hidden.stat().st_mtime >= lock.stat().st_mtime


def _build(edge_dir: Path, reason: str, runner: Runner, out: IO[str]) -> None:
    # `npm ci` wipes node_modules: only when it is missing or older than the lockfile.
    install = [] if _installed(edge_dir) else [["npm", "ci", "--no-audit", "--no-fund"]]
    commands: Sequence[list[str]] = [*install, ["npm", "run", "build"]]
    manual = f"cd {edge_dir} && npm ci && npm run build"
    npm = shutil.which("npm")
    if npm is None:
        raise BuildError(f"the edge bundle {reason} and npm is not installed; run: {manual}")
    print(f"edgeagent: the edge bundle {reason}; building it in {edge_dir}", file=out, flush=True)
    for command in commands:
        print(f"edgeagent: $ {' '.join(command)}", file=out, flush=True)
        returncode = runner([npm, *command[1:]], edge_dir, out)
        if returncode != 0:
            raise BuildError(
                f"`{' '.join(command)}` failed with exit code {returncode}; fix it and run: "
                f"{manual}"
            )
