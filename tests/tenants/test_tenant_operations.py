"""preview/up/destroy/refresh over many tenant stacks, through a fake Automation API workspace."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from tenants_support import Behaviour, FakeWorkspace

from infra.tenants.cli import main
from infra.tenants.engine import Operation

TOKEN = "123456:very-secret-bot-token"
WEBHOOK = "webhook-secret-value"


def write_project(root: Path, tenants: dict[str, Any]) -> Path:
    (root / "Pulumi.dev.yaml").write_text(
        yaml.safe_dump(
            {
                "config": {
                    "edgeagent:accountId": "0123456789abcdef0123456789abcdef",
                    "edgeagent:sleepAfter": "10m",
                    "edgeagent:allowedEmails": ["me@example.com"],
                    "edgeagent:tenant": "default",
                }
            }
        )
    )
    (root / "Pulumi.prod.yaml").write_text(
        yaml.safe_dump({"config": {"edgeagent:sleepAfter": "2h", "edgeagent:maxInstances": 10}})
    )
    manifest = root / "tenants.yaml"
    manifest.write_text(
        yaml.safe_dump(
            {
                "environments": {
                    "dev": {"base": "Pulumi.dev.yaml"},
                    "prod": {"base": "Pulumi.prod.yaml"},
                },
                "defaults": {"config": {"agentEngine": "native"}},
                "tenants": tenants,
            }
        )
    )
    return manifest


def run(
    manifest: Path, workspace: FakeWorkspace, *argv: str, environ: dict[str, str] | None = None
) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["--manifest", str(manifest), *argv],
        workspace_factory=lambda args, root: workspace,
        environ=environ if environ is not None else {"UNUSED": "1"},
        out=out,
        err=err,
    )
    return code, out.getvalue(), err.getvalue()


def many_tenants(count: int) -> dict[str, Any]:
    return {f"t{i:02d}": {"environments": ["dev"]} for i in range(count)}


def test_up_writes_each_stack_config_from_the_manifest(
    tmp_path: Path, workspace: FakeWorkspace
) -> None:
    manifest = write_project(
        tmp_path,
        {
            "acme": {
                "config": {"allowedEmails": ["a@acme.example"]},
                "environments": {
                    "dev": {},
                    "prod": {
                        "config": {
                            "sleepAfter": "never",
                            "telegramBotToken": {"secretEnv": "ACME_TG"},
                            "isolation": "per-user",
                        }
                    },
                },
            }
        },
    )
    code, out, _ = run(manifest, workspace, "up", environ={"ACME_TG": TOKEN})
    assert code == 0, out
    assert sorted(workspace.created) == ["acme-dev", "acme-prod"]
    prod = {
        k: (v.value.get_secret_value(), v.secret)
        for k, v in workspace.stacks["acme-prod"].config.items()
    }
    assert prod == {
        "edgeagent:agentEngine": ("native", False),
        "edgeagent:allowedEmails": ('["a@acme.example"]', False),
        "edgeagent:environment": ("prod", False),
        "edgeagent:isolation": ("per-user", False),
        "edgeagent:maxInstances": ("10", False),
        "edgeagent:sleepAfter": ("never", False),
        "edgeagent:telegramBotToken": (TOKEN, True),
        "edgeagent:tenant": ("acme", False),
    }
    dev = workspace.stacks["acme-dev"].config
    assert dev["edgeagent:tenant"].value.get_secret_value() == "acme"  # never the base's `default`
    assert dev["edgeagent:sleepAfter"].value.get_secret_value() == "10m"
    assert dev["edgeagent:accountId"].value.get_secret_value() == "0123456789abcdef0123456789abcdef"
    assert all(s.operations == [Operation.UP] for s in workspace.stacks.values())
    assert TOKEN not in out


def test_selection_by_tenant_and_environment(tmp_path: Path, workspace: FakeWorkspace) -> None:
    manifest = write_project(
        tmp_path,
        {"acme": {"environments": ["dev", "prod"]}, "globex": {"environments": ["dev", "prod"]}},
    )
    code, _, _ = run(manifest, workspace, "preview", "--tenant", "globex", "--env", "prod")
    assert code == 0
    assert workspace.created == ["globex-prod"]
    code, _, err = run(manifest, workspace, "preview", "--tenant", "nobody")
    assert code == 2
    assert "'nobody' is not in the manifest; known: acme, globex" in err


def test_refresh_and_destroy_never_create_stacks(tmp_path: Path) -> None:
    manifest = write_project(tmp_path, {"acme": {"environments": ["dev", "prod"]}})
    workspace = FakeWorkspace(existing=("acme-dev",))
    code, out, _ = run(manifest, workspace, "refresh")
    assert code == 1
    assert workspace.created == []
    assert workspace.stacks["acme-dev"].operations == [Operation.REFRESH]
    assert "[acme-prod] FAILED" in out
    assert "no stack named 'acme-prod' found" in out
    code, out, _ = run(manifest, workspace, "destroy", "--yes", "--env", "dev")
    assert code == 0
    assert workspace.stacks["acme-dev"].operations == [Operation.REFRESH, Operation.DESTROY]


def test_destroy_needs_yes(tmp_path: Path, workspace: FakeWorkspace) -> None:
    manifest = write_project(tmp_path, {"acme": {"environments": ["dev"]}})
    code, _, err = run(manifest, workspace, "destroy")
    assert code == 2
    assert "refusing to destroy without --yes" in err
    assert workspace.stacks == {}


@pytest.mark.slow  # waits seconds of real time
def test_parallelism_is_bounded_by_jobs(tmp_path: Path, workspace: FakeWorkspace) -> None:
    manifest = write_project(tmp_path, many_tenants(9))
    for i in range(9):
        workspace.behaviour[f"t{i:02d}-dev"] = Behaviour(seconds=0.15)
    code, _, _ = run(manifest, workspace, "preview", "--jobs", "3")
    assert code == 0
    assert workspace.max_running == 3
    serial = FakeWorkspace()
    serial.behaviour = dict(workspace.behaviour)
    code, _, _ = run(manifest, serial, "preview", "--jobs", "1")
    assert code == 0
    assert serial.max_running == 1


def test_one_failure_does_not_stop_the_others(tmp_path: Path, workspace: FakeWorkspace) -> None:
    manifest = write_project(tmp_path, many_tenants(5))
    workspace.behaviour["t02-dev"] = Behaviour(fail_with="provider error: 403 Forbidden")
    code, out, _ = run(manifest, workspace, "up", "--jobs", "2")
    assert code == 1
    assert sorted(workspace.stacks) == [f"t{i:02d}-dev" for i in range(5)]
    assert all(s.operations == [Operation.UP] for s in workspace.stacks.values())
    assert "[t02-dev] FAILED after" in out
    assert "RuntimeError: provider error: 403 Forbidden" in out
    for ok in ("t00-dev", "t01-dev", "t03-dev", "t04-dev"):
        assert re.search(rf"^\[{ok}\] done in [0-9.]+ s: create 2, same 5$", out, re.M), out
    assert re.search(r"^t02-dev\s+FAILED\s+[0-9.]+\s+RuntimeError: provider error", out, re.M)
    assert "1 of 5 stacks failed: t02-dev" in out


def test_long_errors_stay_in_the_log_and_out_of_the_table(
    tmp_path: Path, workspace: FakeWorkspace
) -> None:
    manifest = write_project(tmp_path, many_tenants(1))
    details = "\n".join(f"  diagnostic line {i}" for i in range(20))
    workspace.behaviour["t00-dev"] = Behaviour(fail_with=f"update failed\n{details}")
    code, out, _ = run(manifest, workspace, "up")
    assert code == 1
    assert "[t00-dev]   diagnostic line 19" in out
    [row] = [line for line in out.splitlines() if line.startswith("t00-dev ")]
    assert row.endswith("RuntimeError: update failed")


def test_progress_lines_name_their_stack_and_hide_secrets(
    tmp_path: Path, workspace: FakeWorkspace
) -> None:
    manifest = write_project(
        tmp_path,
        {
            "acme": {
                "environments": ["dev"],
                "config": {
                    "telegramBotToken": {"secretEnv": "ACME_TG"},
                    "telegramWebhookSecret": {"secretEnv": "ACME_WH"},
                },
            }
        },
    )
    workspace.behaviour["acme-dev"] = Behaviour(
        lines=(f"+ binding TELEGRAM_BOT_TOKEN = {TOKEN}", "multi\nline"),
        fail_with=f"bad webhook secret {WEBHOOK}",
    )
    code, out, _ = run(manifest, workspace, "up", environ={"ACME_TG": TOKEN, "ACME_WH": WEBHOOK})
    assert code == 1
    assert TOKEN not in out
    assert WEBHOOK not in out
    assert "[acme-dev] + binding TELEGRAM_BOT_TOKEN = [secret]" in out
    assert "[acme-dev] multi\n[acme-dev] line\n" in out
    assert "bad webhook secret [secret]" in out
    body = [line for line in out.splitlines() if line.startswith("[")]
    assert body
    assert all(line.startswith("[acme-dev] ") for line in body)


def test_missing_secret_env_fails_that_stack_only(tmp_path: Path, workspace: FakeWorkspace) -> None:
    manifest = write_project(
        tmp_path,
        {
            "acme": {
                "environments": ["dev"],
                "config": {"slackBotToken": {"secretEnv": "ACME_SLACK"}},
            },
            "globex": {"environments": ["dev"]},
        },
    )
    code, out, _ = run(manifest, workspace, "up", environ={})
    assert code == 1
    assert list(workspace.stacks) == ["globex-dev"]
    assert (
        "stack acme-dev: edgeagent:slackBotToken: environment variable ACME_SLACK is not set "
        "(or empty); export it before running, e.g. ACME_SLACK=<the secret>"
    ) in out


def test_inherited_ciphertext_is_refused_for_deployment(
    tmp_path: Path, workspace: FakeWorkspace
) -> None:
    manifest = write_project(tmp_path, {"acme": {"environments": ["prod"]}})
    prod = tmp_path / "Pulumi.prod.yaml"
    prod.write_text(yaml.safe_dump({"config": {"edgeagent:slackBotToken": {"secure": "v1:x"}}}))
    code, out, _ = run(manifest, workspace, "up")
    assert code == 1
    assert (
        "edgeagent:slackBotToken: inherited as ciphertext from Pulumi.prod.yaml, which only that "
        "stack can decrypt; give it to this tenant in tenants.yaml as {secretEnv: ENV_VAR_NAME}"
    ) in out


@pytest.mark.parametrize("jobs", ["0", "-2"])
def test_jobs_must_be_positive(tmp_path: Path, workspace: FakeWorkspace, jobs: str) -> None:
    manifest = write_project(tmp_path, {"acme": {"environments": ["dev"]}})
    code, _, err = run(manifest, workspace, "up", "--jobs", jobs)
    assert code == 2
    assert f"must be at least 1, got {jobs}; example: --jobs 4" in err


def test_list_shows_every_stack(tmp_path: Path, workspace: FakeWorkspace) -> None:
    manifest = write_project(
        tmp_path,
        {
            "acme": {
                "environments": ["dev", "prod"],
                "config": {"slackBotToken": {"secretEnv": "S"}},
            },
            "globex": {"environments": ["prod"]},
        },
    )
    code, out, _ = run(manifest, workspace, "list")
    assert code == 0
    stacks = [line.split()[0] for line in out.splitlines()[2:]]
    assert stacks == ["acme-dev", "acme-prod", "globex-prod"]
    assert workspace.stacks == {}


def test_bad_manifest_exits_2_with_every_problem(tmp_path: Path, workspace: FakeWorkspace) -> None:
    manifest = write_project(tmp_path, {"Acme": {"environments": ["qa"]}})
    code, _, err = run(manifest, workspace, "up")
    assert code == 2
    assert "is invalid:" in err
    assert "tenants.Acme: tenant ids are" in err
