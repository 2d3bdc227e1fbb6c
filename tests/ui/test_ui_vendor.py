"""The UI's vendored browser modules (marked, DOMPurify) are exactly the files of the packages
agent/ui-vendor/package-lock.json pins, as `npm ci` installed them (`make ui-vendor`)."""

from __future__ import annotations

import json
from pathlib import Path

from suite_support import REPO, load_script


def test_served_copies_equal_the_locked_packages() -> None:
    ui_vendor = load_script("ui_vendor")
    assert ui_vendor.stale() == []  # also fails, naming `make ui-vendor`, if the install is missing
    served = {p.name for p in ui_vendor.SERVED.iterdir()}
    assert served == set(ui_vendor.FILES)  # nothing in vendor/ that the lockfile does not explain


def test_the_lockfile_pins_exact_versions_with_integrity() -> None:
    manifest = json.loads((REPO / "agent" / "ui-vendor" / "package.json").read_text())
    lock = json.loads((REPO / "agent" / "ui-vendor" / "package-lock.json").read_text())
    for name, version in manifest["dependencies"].items():
        locked = lock["packages"][f"node_modules/{name}"]
        assert locked["version"] == version, name  # exact pins, no ranges
        assert locked["integrity"].startswith("sha512-"), name
    header = (REPO / "agent" / "runtime" / "ui" / "vendor" / "marked.esm.js").read_text()[:200]
    assert f"marked v{manifest['dependencies']['marked']}" in header


def test_a_changed_copy_is_reported(tmp_path: Path) -> None:
    ui_vendor = load_script("ui_vendor")
    for name in ui_vendor.FILES:
        (tmp_path / name).write_bytes((ui_vendor.SERVED / name).read_bytes())
    (tmp_path / "purify.es.mjs").write_text("export default {};\n")
    ui_vendor.SERVED = tmp_path
    assert ui_vendor.stale() == ["purify.es.mjs"]
    assert ui_vendor.main(["--check"]) == 1
