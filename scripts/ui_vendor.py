"""Copy the web UI's third-party browser modules from their locked npm install into the UI.

The UI renders replies as Markdown with `marked` and sanitises the HTML with `DOMPurify`. Both are
pinned by `agent/ui-vendor/package-lock.json`; `make ui-vendor` installs that lockfile (`npm ci`)
and runs this script, which copies each package's ready-made ES module (no bundler) and licence
into `agent/runtime/ui/vendor/`. The copies are committed, so the wheel and the runtime image serve
them without Node; `tests/ui/test_ui_vendor.py` checks they equal the locked packages' files.

Usage: `python scripts/ui_vendor.py` (copy) or `python scripts/ui_vendor.py --check` (compare).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "agent" / "ui-vendor"
SERVED = ROOT / "agent" / "runtime" / "ui" / "vendor"
# served name -> (package, file inside the installed package)
FILES = {
    "marked.esm.js": ("marked", "lib/marked.esm.js"),
    "marked.LICENSE": ("marked", "LICENSE"),
    "purify.es.mjs": ("dompurify", "dist/purify.es.mjs"),
    "purify.LICENSE": ("dompurify", "LICENSE"),
}


def locked_version(package: str) -> str:
    """The version package-lock.json pins for `package`."""
    lock = json.loads((PACKAGES / "package-lock.json").read_text())
    return str(lock["packages"][f"node_modules/{package}"]["version"])


def source(package: str, path: str) -> Path:
    """The file in the installed package, after checking the install is the locked version."""
    root = PACKAGES / "node_modules" / package
    manifest = root / "package.json"
    if not manifest.exists():
        raise SystemExit(f"{root} is missing: run `make ui-vendor` (npm ci in {PACKAGES})")
    installed = json.loads(manifest.read_text())["version"]
    if installed != locked_version(package):
        raise SystemExit(
            f"{package} {installed} is installed but the lockfile pins {locked_version(package)}: "
            "run `make ui-vendor`"
        )
    return root / path


def stale() -> list[str]:
    """Served files that differ from (or are missing next to) the locked packages' files."""
    return [
        name
        for name, (package, path) in FILES.items()
        if not (SERVED / name).exists()
        or (SERVED / name).read_bytes() != source(package, path).read_bytes()
    ]


def main(argv: list[str]) -> int:
    """Copy the files, or with --check report the ones that differ."""
    if argv == ["--check"]:
        differ = stale()
        for name in differ:
            print(f"{SERVED / name} differs from the locked package: run `make ui-vendor`")
        return 1 if differ else 0
    SERVED.mkdir(parents=True, exist_ok=True)
    for name, (package, path) in FILES.items():
        (SERVED / name).write_bytes(source(package, path).read_bytes())
    versions = ", ".join(f"{p} {locked_version(p)}" for p in sorted({p for p, _ in FILES.values()}))
    print(f"ui-vendor: copied {len(FILES)} files ({versions}) into {SERVED.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
