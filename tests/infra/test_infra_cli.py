"""`python -m infra.plan` as people run it: formats, stack files, exit codes, diffs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from infra_support import EDGE_DIST, minimal_config

REPO = Path(__file__).resolve().parents[2]


def run_plan(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EDGEAGENT_EDGE_DIST": str(EDGE_DIST)}
    return subprocess.run(
        [sys.executable, "-m", "infra.plan", *args],
        cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def write_stack(path: Path, config: dict[str, object]) -> Path:
    path.write_text(yaml.safe_dump({"config": config}))
    return path


@pytest.mark.slow  # seconds of CPU: `make test` runs it, `make test-fast` does not
def test_json_plan_of_the_shipped_dev_stack_is_byte_identical(tmp_path: Path) -> None:
    first = run_plan("--stack", "dev", "--format", "json")
    second = run_plan("--stack", "dev", "--format", "json")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    document = json.loads(first.stdout)
    assert document["stack"] == "dev"
    kinds = {r["type"].rsplit(":", 1)[-1] for r in document["resources"]}
    assert {
        "R2Bucket", "R2BucketLifecycle", "AccountToken", "AiGateway", "ZeroTrustAccessApplication",
        "ZeroTrustAccessPolicy", "ZeroTrustAccessServiceToken", "Worker", "WorkerVersion",
        "WorkersDeployment", "WorkersCronTrigger",
    } <= kinds  # fmt: skip
    (tmp_path / "old.json").write_text(first.stdout)
    same = run_plan("--stack", "dev", "--diff", str(tmp_path / "old.json"))
    assert same.returncode == 0
    assert same.stdout.strip() == "no changes"


@pytest.mark.slow  # seconds of CPU: `make test` runs it, `make test-fast` does not
def test_text_plan_and_diff_from_a_config_file(tmp_path: Path) -> None:
    base = write_stack(tmp_path / "a.yaml", minimal_config())
    old = run_plan("--stack", "acme-prod", "--config-file", str(base), "--format", "json")
    assert old.returncode == 0, old.stderr
    (tmp_path / "old.json").write_text(old.stdout)
    text = run_plan("--stack", "acme-prod", "--config-file", str(base))
    # A first deploy: the Durable Object classes are provisioned by `edgeagent-edge-provision`.
    assert text.stdout.startswith("stack acme-prod: 26 resources in 7 components\n")
    storage = text.stdout.split("\nedgeagent-storage  (Storage)\n", 1)[1].split("\n\n", 1)[0]
    assert "  + cloudflare:R2Bucket  edgeagent-storage-bucket" in storage.splitlines()
    assert text.stdout.rstrip().splitlines()[-3].startswith("container cost estimate")
    assert text.stdout.rstrip().splitlines()[-4].startswith("model spend limits: none")
    changed = write_stack(tmp_path / "b.yaml", {**minimal_config(), "edgeagent:cron": "0 * * * *"})
    diff = run_plan(
        "--stack", "acme-prod", "--config-file", str(changed), "--diff", str(tmp_path / "old.json")
    )
    assert diff.stdout.splitlines() == [
        "~ cloudflare:index/workersCronTrigger:WorkersCronTrigger  edgeagent-edge-cron",
        "    schedules[0].cron",
        "0 to add, 0 to remove, 1 to change",
    ]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {**minimal_config(), "edgeagent:maxInstances": 0},
            "  - edgeagent:maxInstances: Input should be greater than or equal to 1 "
            "(example: edgeagent:maxInstances: 5)",
        ),
    ],
)
@pytest.mark.slow  # over half a second of CPU (make test-cost)
def test_bad_config_exits_2_with_every_bad_key(
    tmp_path: Path, config: dict[str, object], expected: str
) -> None:
    config = {k: v for k, v in config.items() if k != "edgeagent:accountId"}
    result = run_plan(
        "--stack", "dev", "--config-file", str(write_stack(tmp_path / "bad.yaml", config))
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == "error: invalid configuration for stack 'dev' (2 problems):"
    assert expected in lines
    assert any(line.startswith("  - edgeagent:accountId: is required") for line in lines)


def test_missing_stack_file_exits_2(tmp_path: Path) -> None:
    result = run_plan("--stack", "nope", "--config-file", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2
    assert "cannot read stack config" in result.stderr
