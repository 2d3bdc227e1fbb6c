"""The container image: what agent/Dockerfile and .dockerignore promise, checked without Docker.

The image installs only the project's own dependencies from uv.lock (`--no-default-groups`), so
every module agent/runtime imports must come from that locked closure or the standard library.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions

import pytest
from suite_support import REPO

DOCKERFILE = (REPO / "agent/Dockerfile").read_text()


def runtime_closure() -> set[str]:
    """Distributions the image gets: the project's dependencies and theirs, extras included."""
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    packages = {package["name"]: package for package in lock["package"]}
    todo = [dict(dep) for dep in packages["edgeagent"]["dependencies"]]
    seen: set[str] = set()
    while todo:
        dep = todo.pop()
        name = dep["name"]
        package = packages[name]
        extras = dep.get("extra", [])
        key = f"{name}[{','.join(sorted(extras))}]"
        if key in seen:
            continue
        seen.add(key)
        todo.extend(dict(d) for d in package.get("dependencies", []))
        for extra in extras:
            todo.extend(dict(d) for d in package.get("optional-dependencies", {}).get(extra, []))
    return {key.split("[", 1)[0] for key in seen}


def imported_top_levels() -> set[str]:
    names: set[str] = set()
    for path in (REPO / "agent/runtime").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


@pytest.mark.slow  # over half a second of CPU (make test-cost)
def test_runtime_imports_only_what_the_image_installs() -> None:
    closure = {normalise(name) for name in runtime_closure()}
    providers = packages_distributions()
    outside = []
    for module in sorted(imported_top_levels()):
        if module in sys.stdlib_module_names or module in {"agent", "mypy_boto3_s3"}:
            continue  # mypy_boto3_s3 is imported for typing only, under TYPE_CHECKING
        dists = {normalise(d) for d in providers.get(module, [module])}
        if not dists & closure:
            outside.append(f"{module} (from {sorted(dists)})")
    assert outside == [], "imported by agent/runtime but not in the image's dependency set"


def test_infra_and_dev_tools_stay_out_of_the_image() -> None:
    closure = {normalise(name) for name in runtime_closure()}
    for tool in ["pulumi", "pulumi-cloudflare", "moto", "pytest", "mypy", "ruff"]:
        assert tool not in closure


def test_dockerfile_promises() -> None:
    assert "uv sync --frozen --no-default-groups" in DOCKERFILE
    assert "FROM ${PYTHON_IMAGE}" in DOCKERFILE
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in DOCKERFILE
    assert "USER agent:agent" in DOCKERFILE
    assert "EXPOSE 8080" in DOCKERFILE
    assert "HEALTHCHECK" in DOCKERFILE
    assert "/healthz" in DOCKERFILE
    assert DOCKERFILE.rstrip().endswith('CMD ["python", "-m", "agent.runtime"]')


def test_dockerignore_sends_only_what_the_build_copies() -> None:
    lines = [
        line
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = set()
    for line in DOCKERFILE.splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            copied.update(part.rstrip("/") for part in line.split()[1:-1])
    assert copied <= allowed
    for secret_or_noise in ["infra", "tests", ".local", ".venv", "agent/edge"]:
        assert secret_or_noise not in allowed


@pytest.mark.slow  # over half a second of CPU (make test-cost)
def test_every_runtime_dependency_is_imported_by_the_runtime() -> None:
    """The other direction: nothing in `[project.dependencies]` that agent/runtime never imports
    (a library only tests or tools use belongs in a dependency group, out of the image)."""
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    providers = packages_distributions()
    imported = {normalise(d) for m in imported_top_levels() for d in providers.get(m, [])}
    unused = [d for d in declared if normalise(re.split(r"[\[<>=!~ ]", d)[0]) not in imported]
    assert unused == [], "runtime dependencies agent/runtime does not import"
