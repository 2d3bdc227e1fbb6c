"""The edge build output is what infra uploads: checked with infra's own loader and hash rule."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from agent.dev import node_binary
from infra.edge_bundle import load_bundle, source_hash

EDGE_DIR = Path(__file__).resolve().parents[2] / "agent" / "edge"


def build(outdir: Path) -> None:
    node = node_binary()
    assert node.exists(), "run `npm ci --prefix agent/edge` first"
    subprocess.run(
        [str(node), "scripts/build.mjs", "--outdir", str(outdir)],
        cwd=EDGE_DIR,
        check=True,
        capture_output=True,
        timeout=120,
    )


def test_bundle_matches_the_contract(tmp_path: Path) -> None:
    build(tmp_path)
    bundle = load_bundle(tmp_path)
    manifest = bundle.manifest
    assert manifest.main_module == "index.js"
    assert manifest.modules == ["index.js"]
    wrangler = json.loads((EDGE_DIR / "wrangler.json").read_text())
    assert manifest.compatibility_date == wrangler["compatibility_date"]
    assert manifest.compatibility_flags == wrangler["compatibility_flags"]
    assert manifest.durable_object_classes == ["Sandbox", "Directory"]
    # infra recomputes the hash from the sources; the build must agree byte for byte.
    assert manifest.source_hash == source_hash(EDGE_DIR)
    code = (tmp_path / "index.js").read_text()
    exports = re.search(r"export\s*\{([^}]*)\}\s*;?\s*$", code)
    assert exports is not None, "the bundle must end with one ES export list"
    names = sorted(part.split(" as ")[-1].strip() for part in exports.group(1).split(","))
    assert names == ["Directory", "Sandbox", "default"]
    # One self-contained module: only the runtime's own `cloudflare:` imports remain.
    # Import statements only: a bare `from"` also occurs in code (`get("header.from")`).
    imports = re.findall(r"""\bimport\s*[\w*{}\s,$]*?\bfrom\s*["']([^"']+)["']""", code)
    imports += re.findall(r"""\bimport\s*["']([^"']+)["']""", code)
    assert imports
    assert all(spec.startswith("cloudflare:") for spec in imports), imports
