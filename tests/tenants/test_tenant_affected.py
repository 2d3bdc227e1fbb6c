"""Which stacks a change touches (what a pull request previews)."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pytest

from infra.tenants.affected import Affected, affected, changed_paths, repository_stacks
from infra.tenants.cli import main

STACKS = ["dev", "prod"]


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        (["infra/components/storage.py"], Affected(["dev", "prod"], tenants=True)),
        (["agent/edge/src/index.ts"], Affected(["dev", "prod"], tenants=True)),
        (["uv.lock"], Affected(["dev", "prod"], tenants=True)),
        (["infra/policy/validators.py"], Affected(["dev", "prod"], tenants=True)),
        (["Pulumi.prod.yaml"], Affected(["prod"], tenants=True)),
        (["Pulumi.dev.yaml", "README.md"], Affected(["dev"], tenants=True)),
        (["Pulumi.acme-dev.yaml"], Affected([], tenants=False)),
        (["tenants.yaml"], Affected([], tenants=True)),
        (["infra/tenants/cli.py"], Affected([], tenants=True)),
        (["README.md", "tests/infra/test_x.py", "docs/contract.md"], Affected([], tenants=False)),
        ([], Affected([], tenants=False)),
    ],
)
def test_affected_stacks(changed: list[str], expected: Affected) -> None:
    assert affected(changed, STACKS) == expected


def git(root: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip()


def test_changed_paths_since_the_merge_base(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    for name in ("Pulumi.dev.yaml", "Pulumi.prod.yaml", "README.md", "tenants.yaml"):
        (tmp_path / name).write_text("x\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "base")
    base = git(tmp_path, "rev-parse", "HEAD")
    git(tmp_path, "checkout", "-q", "-b", "feature")
    (tmp_path / "Pulumi.prod.yaml").write_text("y\n")
    git(tmp_path, "commit", "-q", "-am", "prod change")
    git(tmp_path, "checkout", "-q", "main")
    (tmp_path / "README.md").write_text("main moved on\n")
    git(tmp_path, "commit", "-q", "-am", "unrelated")
    git(tmp_path, "checkout", "-q", "feature")

    assert repository_stacks(tmp_path) == ["dev", "prod"]
    assert changed_paths(tmp_path, "main") == ["Pulumi.prod.yaml"]
    assert changed_paths(tmp_path, base) == ["Pulumi.prod.yaml"]
    out = io.StringIO()
    code = main(
        [
            "--manifest",
            str(tmp_path / "tenants.yaml"),
            "affected",
            "--base",
            "main",
            "--format",
            "github",
        ],
        out=out,
    )
    assert code == 0
    assert out.getvalue() == 'stacks=["prod"]\ntenants=true\n'
    out = io.StringIO()
    main(["--manifest", str(tmp_path / "tenants.yaml"), "affected", "--base", "main"], out=out)
    assert json.loads(out.getvalue()) == {"stacks": ["prod"], "tenants": True}


def test_revisions_that_look_like_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a git revision"):
        changed_paths(tmp_path, "--output=/tmp/x")


def test_unknown_revision_exits_2(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["--manifest", str(tmp_path / "tenants.yaml"), "affected", "--base", "nope"],
        out=out,
        err=err,
    )
    assert code == 2
    assert err.getvalue().startswith("error: cannot list changed paths: fatal:")
