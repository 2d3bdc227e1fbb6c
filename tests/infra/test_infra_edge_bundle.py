"""The edge bundle: the contract's source hash, manifest checks, and rebuild when stale."""

from __future__ import annotations

import io
import json
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest
from infra_support import EDGE_DIST

from infra.edge_bundle import DIST_ENV, load_bundle, resolve_bundle, source_hash
from infra.errors import BuildError


def make_edge(root: Path) -> Path:
    edge = root / "edge"
    (edge / "src" / "lib").mkdir(parents=True)
    (edge / "src" / "index.ts").write_text("export default {};\n")
    (edge / "src" / "lib" / "a b.ts").write_text("export const a = 1;\n")
    (edge / "src" / "Z.ts").write_text("export const z = 2;\n")
    (edge / "package-lock.json").write_text('{"lockfileVersion": 3}\n')
    return edge


def write_dist(edge: Path, digest: str, classes: tuple[str, ...] = ("Sandbox",)) -> None:
    dist = edge / "dist"
    dist.mkdir(exist_ok=True)
    (dist / "index.js").write_text("export default {};\n")
    manifest = {
        "main_module": "index.js",
        "modules": ["index.js"],
        "compatibility_date": "2026-11-01",
        "compatibility_flags": [],
        "durable_object_classes": list(classes),
        "source_hash": digest,
    }
    (dist / "manifest.json").write_text(json.dumps(manifest))


def test_source_hash_is_the_contract_shell_pipeline(tmp_path: Path) -> None:
    edge = make_edge(tmp_path)
    shell = subprocess.run(
        ["bash", "-c", "find src package-lock.json -type f | LC_ALL=C sort | tr '\\n' '\\0' "
         "| xargs -0 sha256sum | sha256sum"],
        cwd=edge, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert source_hash(edge) == shell.stdout.split()[0]
    before = source_hash(edge)
    (edge / "src" / "Z.ts").write_text("export const z = 3;\n")
    assert source_hash(edge) != before


def test_fixture_bundle_loads_with_hashes() -> None:
    bundle = load_bundle(EDGE_DIST)
    assert bundle.manifest.durable_object_classes == ["Sandbox", "Directory"]
    [module] = bundle.modules
    assert module.content_type == "application/javascript+module"
    assert len(module.sha256) == 64


@pytest.mark.parametrize(
    ("manifest_change", "message"),
    [
        ({"modules": ["index.js", "../outside.js"]}, "module '../outside.js' is not a file inside"),
        ({"main_module": "other.js"}, "main_module 'other.js' is not in modules"),
        ({"modules": ["index.js", "data.xyz"]}, "module 'data.xyz' has an unknown type"),
        ({"compatibility_date": "soon"}, "is not a valid edge manifest"),
    ],
)
def test_bad_manifests_are_refused(
    tmp_path: Path, manifest_change: dict[str, object], message: str
) -> None:
    edge = make_edge(tmp_path)
    write_dist(edge, "x")
    (edge / "dist" / "data.xyz").write_text("?")
    (tmp_path / "edge" / "outside.js").write_text("")
    manifest = json.loads((edge / "dist" / "manifest.json").read_text())
    manifest.update(manifest_change)
    (edge / "dist" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BuildError, match=re.escape(message)):
        load_bundle(edge / "dist")


def test_missing_manifest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match=r"manifest\.json is missing"):
        load_bundle(tmp_path)


def test_env_var_points_at_a_dist_dir_as_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DIST_ENV, str(EDGE_DIST))
    assert resolve_bundle(edge_dir=Path("/nonexistent")).dist_dir == EDGE_DIST


def fake_npm(bin_dir: Path, log: Path, exit_code: int = 0) -> None:
    """An `npm` that records its arguments and, on `run build`, writes dist with $FAKE_HASH."""
    bin_dir.mkdir()
    script = bin_dir / "npm"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$PWD $*" >> {log}\n'
        f"[ {exit_code} -ne 0 ] && exit {exit_code}\n"
        'if [ "$1" = run ]; then mkdir -p dist && printf "export default {};" > dist/index.js && '
        'printf \'{"main_module":"index.js","modules":["index.js"],'
        '"compatibility_date":"2026-11-01","durable_object_classes":["Sandbox"],'
        '"source_hash":"%s"}\' "$FAKE_HASH" > dist/manifest.json; fi\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def edge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(DIST_ENV, raising=False)
    return make_edge(tmp_path)


def test_fresh_bundle_is_used_without_building(edge: Path) -> None:
    write_dist(edge, source_hash(edge))

    def no_build(command: list[str], cwd: Path, out: object) -> int:
        raise AssertionError("must not build a fresh bundle")

    bundle = resolve_bundle(edge_dir=edge, runner=no_build)
    assert bundle.dist_dir == edge / "dist"


@pytest.mark.parametrize("state", ["missing", "stale"])
def test_missing_or_stale_bundle_is_rebuilt_with_npm(
    edge: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state: str
) -> None:
    if state == "stale":
        write_dist(edge, "an-old-hash")
    log = tmp_path / "npm.log"
    fake_npm(tmp_path / "bin", log)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_HASH", source_hash(edge))
    progress = io.StringIO()
    bundle = resolve_bundle(edge_dir=edge, log=progress)
    assert bundle.manifest.source_hash == source_hash(edge)
    assert log.read_text().splitlines() == [f"{edge} ci --no-audit --no-fund", f"{edge} run build"]
    assert f"the edge bundle is {state}" in progress.getvalue()
    assert "$ npm run build" in progress.getvalue()


def test_installed_node_modules_are_not_reinstalled(
    edge: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (edge / "node_modules").mkdir()
    (edge / "node_modules" / ".package-lock.json").write_text("{}")
    log = tmp_path / "npm.log"
    fake_npm(tmp_path / "bin", log)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_HASH", source_hash(edge))
    resolve_bundle(edge_dir=edge, log=io.StringIO())
    assert log.read_text().splitlines() == [f"{edge} run build"]
    os.utime(edge / "node_modules" / ".package-lock.json", (0, 0))  # older than the lockfile
    (edge / "src" / "index.ts").write_text("export default { changed: true };\n")
    monkeypatch.setenv("FAKE_HASH", source_hash(edge))
    resolve_bundle(edge_dir=edge, log=io.StringIO())
    assert log.read_text().splitlines()[1:] == [
        f"{edge} ci --no-audit --no-fund",
        f"{edge} run build",
    ]


def test_without_npm_the_error_gives_the_command(
    edge: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(BuildError) as caught:
        resolve_bundle(edge_dir=edge)
    assert str(caught.value) == (
        "the edge bundle is missing and npm is not installed; "
        f"run: cd {edge} && npm ci && npm run build"
    )


def test_a_failing_build_stops_with_its_exit_code(
    edge: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_npm(tmp_path / "bin", tmp_path / "npm.log", exit_code=3)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(BuildError, match="`npm ci --no-audit --no-fund` failed with exit code 3"):
        resolve_bundle(edge_dir=edge, log=io.StringIO())


def test_a_build_writing_another_hash_is_refused(
    edge: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_npm(tmp_path / "bin", tmp_path / "npm.log")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_HASH", "not-the-contract-hash")
    with pytest.raises(BuildError, match="has source_hash not-the-contract-hash, expected"):
        resolve_bundle(edge_dir=edge, log=io.StringIO())
