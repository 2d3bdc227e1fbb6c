"""The tenant tool end to end through the real `pulumi.automation` code, against a stand-in
`pulumi` executable (tests/tenants/fake_pulumi_cli.py) since no CLI can be installed here."""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi import automation as auto

from infra.tenants.automation import AutomationWorkspace
from infra.tenants.cli import main
from infra.tenants.engine import Workspace

pytestmark = pytest.mark.slow  # the tenants CLI as a process over a fake Pulumi CLI

FAKE = Path(__file__).with_name("fake_pulumi_cli.py")
SECRET = "xoxb-fake-slack-token"


@pytest.fixture
def cli(tmp_path: Path) -> Path:
    root = tmp_path / "pulumi-cli"
    (root / "bin").mkdir(parents=True)
    launcher = root / "bin" / "pulumi"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "{root}" "$@"\n')
    launcher.chmod(0o755)
    return root


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "Pulumi.yaml").write_text("name: edgeagent\nruntime: python\nmain: infra/\n")
    (root / "Pulumi.dev.yaml").write_text(
        yaml.safe_dump({"config": {"edgeagent:sleepAfter": "10m", "edgeagent:maxInstances": 2}})
    )
    tenants = {
        "acme": {"environments": ["dev"], "config": {"slackBotToken": {"secretEnv": "ACME_SLACK"}}},
        "globex": {"environments": ["dev"]},
        "initech": {"environments": ["dev"], "config": {"allowedEmails": ["p@initech.example"]}},
    }
    (root / "tenants.yaml").write_text(
        yaml.safe_dump({"environments": {"dev": {"base": "Pulumi.dev.yaml"}}, "tenants": tenants})
    )
    return root


def run(project: Path, cli: Path, *argv: str) -> tuple[int, str]:
    def workspace(args: argparse.Namespace, root: Path) -> Workspace:
        return AutomationWorkspace(
            root,
            organization=args.org,
            policy_packs=[root / "infra" / "policy"],
            pulumi_command=auto.PulumiCommand(root=str(cli)),
        )

    out = io.StringIO()
    code = main(
        ["--manifest", str(project / "tenants.yaml"), *argv],
        workspace_factory=workspace,
        environ={"ACME_SLACK": SECRET},
        out=out,
        err=out,
    )
    return code, out.getvalue()


def state(cli: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((cli / "state.json").read_text())
    return loaded


def calls(cli: Path) -> list[list[str]]:
    return [json.loads(line) for line in (cli / "calls.jsonl").read_text().splitlines()]


def test_up_creates_configures_and_deploys_every_stack(project: Path, cli: Path) -> None:
    (cli / "state.json").write_text(
        json.dumps(
            {
                "stacks": {
                    "globex-dev": {"config": {"edgeagent:removed": {"value": "x", "secret": False}}}
                },
                "fail": ["initech-dev"],
            }
        )
    )
    code, out = run(project, cli, "up", "--jobs", "2")
    assert code == 1
    stacks = state(cli)["stacks"]
    assert sorted(stacks) == ["acme-dev", "globex-dev", "initech-dev"]
    assert stacks["acme-dev"]["config"] == {
        "edgeagent:environment": {"value": "dev", "secret": False},
        "edgeagent:maxInstances": {"value": "2", "secret": False},
        "edgeagent:sleepAfter": {"value": "10m", "secret": False},
        "edgeagent:slackBotToken": {"value": SECRET, "secret": True},
        "edgeagent:tenant": {"value": "acme", "secret": False},
    }
    assert "edgeagent:removed" not in stacks["globex-dev"]["config"]  # stale key removed
    assert stacks["initech-dev"]["config"]["edgeagent:allowedEmails"]["value"] == (
        '["p@initech.example"]'
    )
    assert re.search(r"^\[acme-dev\] done in [0-9.]+ s: create 3, same 1$", out, re.M), out
    assert re.search(r"^\[globex-dev\] done in [0-9.]+ s: create 3, same 1$", out, re.M)
    assert "[initech-dev] FAILED" in out
    assert "up of initech-dev failed: 403 Forbidden" in out
    assert "[initech-dev]     edgeagent:tenant = initech" in out  # streamed CLI output
    assert "1 of 3 stacks failed: initech-dev" in out
    [row] = [line for line in out.splitlines() if line.startswith("initech-dev ")]
    assert row.endswith("error: up of initech-dev failed: 403 Forbidden")
    assert SECRET not in out
    # The secret reached the CLI on stdin, never as an argument another process could read.
    assert not any(SECRET in arg for call in calls(cli) for arg in call)
    [secret_set] = [c for c in calls(cli) if c[:2] == ["config", "set"]]
    assert secret_set == [
        "config", "set", "edgeagent:slackBotToken", "--secret", "--stack", "acme-dev"
    ]  # fmt: skip
    ups = [c for c in calls(cli) if c[0] == "up"]
    assert len(ups) == 3
    for call in ups:
        assert "--yes" in call
        assert call[call.index("--policy-pack") + 1] == str(project / "infra" / "policy")


def test_preview_creates_missing_stacks_and_refresh_does_not(project: Path, cli: Path) -> None:
    code, out = run(project, cli, "preview", "--tenant", "acme")
    assert code == 0, out
    [preview] = [c for c in calls(cli) if c[0] == "preview"]
    assert "--diff" in preview
    assert preview[preview.index("--stack") + 1] == "acme-dev"
    code, out = run(project, cli, "refresh")
    assert code == 1
    assert re.search(r"^\[acme-dev\] done in", out, re.M)
    assert "[globex-dev] FAILED" in out
    assert "no stack named 'globex-dev' found" in out
    assert sorted(state(cli)["stacks"]) == ["acme-dev"]


def test_organization_qualifies_stack_names(project: Path, cli: Path) -> None:
    code, out = run(project, cli, "up", "--org", "acme-org", "--tenant", "globex")
    assert code == 0, out
    assert list(state(cli)["stacks"]) == ["acme-org/edgeagent/globex-dev"]


def test_destroy_removes_nothing_it_was_not_asked_to(project: Path, cli: Path) -> None:
    assert run(project, cli, "up")[0] == 0
    code, out = run(project, cli, "destroy", "--yes", "--tenant", "acme")
    assert code == 0, out
    assert "[acme-dev] done in" in out
    assert "delete 4" in out
    destroys = [c for c in calls(cli) if c[0] == "destroy"]
    assert [d[d.index("--stack") + 1] for d in destroys] == ["acme-dev"]
