"""What a first deploy, a code-only deploy and a class-adding deploy declare; plans across clones.

Durable Object classes: a version that creates a class cannot be uploaded (10211), nor one
binding a class not yet provisioned (100406); the program provisions new classes with a
non-versioned deploy (`<worker>-provision`, a WorkersScript) that the version waits for. Which
classes exist comes from the live scripts list (the mocks' `live_scripts`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from infra_support import EDGE_DIST, full_config, minimal_config, one, resources_of
from test_infra_components import worker_args

from infra.components.worker import EdgeWorker
from infra.errors import BuildError
from infra.paths import PROGRAM_DIR, REPO_ROOT, check_program_dir, program_relative
from infra.plan import plan_stack, run_with_mocks

BOTH = ["Sandbox", "Directory"]


def planned(live_classes: list[str] | None) -> dict[str, Any]:
    return plan_stack("dev", minimal_config(), edge_dist=EDGE_DIST, live_classes=live_classes)


def names(document: dict[str, Any]) -> set[str]:
    return {r["name"] for r in document["resources"]}


def test_first_deploy_provisions_every_class_before_the_version() -> None:
    document = planned(None)
    [provision] = resources_of(document, "WorkersScript")
    version = one(document, "WorkerVersion", "edgeagent-edge-version")
    inputs = provision["inputs"]
    assert provision["name"] == "edgeagent-edge-provision"
    assert inputs["scriptName"] == "edgeagent-default-dev"
    assert inputs["mainModule"] == "index.js"
    assert inputs["contentFile"] == "../tests/infra/fixtures/edge-dist/index.js"
    assert inputs["contentSha256"] == version["inputs"]["modules"][0]["contentSha256"]
    assert inputs["exports"] == version["inputs"]["exports"]
    assert set(inputs["exports"]) == set(BOTH)
    # Provisioned and bound in one request, as `wrangler deploy` does; the same bindings as
    # the version, so the Worker it deploys works until the version replaces it.
    assert inputs["bindings"] == version["inputs"]["bindings"]
    assert {"name": "SANDBOX", "type": "durable_object_namespace", "className": "Sandbox"} in (
        inputs["bindings"]
    )
    assert inputs["observability"]["enabled"] is True
    assert "edgeagent-edge-provision" in version["dependsOn"]
    deployment = one(document, "WorkersDeployment", "edgeagent-edge-deployment")
    assert deployment["inputs"]["versions"] == [
        {"percentage": 100, "versionId": "edgeagent-edge-version-id"}
    ]


def test_code_only_deploy_keeps_version_then_deployment() -> None:
    first, later = planned(None), planned(BOTH)
    assert names(first) - names(later) == {"edgeagent-edge-provision"}
    assert names(later) - names(first) == set()
    version = one(later, "WorkerVersion", "edgeagent-edge-version")
    assert "edgeagent-edge-provision" not in version["dependsOn"]
    # The declarative lifecycle and the bindings stay on every version (no lifecycle change).
    assert version["inputs"] == one(first, "WorkerVersion", "edgeagent-edge-version")["inputs"]


def test_a_deploy_that_adds_a_class_provisions_only_then() -> None:
    document = planned(["Sandbox"])
    [provision] = resources_of(document, "WorkersScript")
    assert set(provision["inputs"]["exports"]) == set(BOTH)
    assert (
        "edgeagent-edge-provision"
        in one(document, "WorkerVersion", "edgeagent-edge-version")["dependsOn"]
    )


@pytest.mark.parametrize(
    ("live_scripts", "new"),
    [
        ({}, BOTH),
        ({"edgeagent-t-dev": ["Sandbox", "Directory"]}, []),
        ({"edgeagent-t-dev": ["Sandbox"]}, ["Directory"]),
        # Another Worker's classes are not this Worker's.
        ({"someone-else": ["Sandbox", "Directory"]}, BOTH),
    ],
)
def test_new_classes_are_those_the_live_worker_lacks(
    live_scripts: dict[str, list[str]], new: list[str]
) -> None:
    found: list[list[str]] = []

    def program() -> None:
        found.append(EdgeWorker("w", worker_args()).new_classes)

    document = run_with_mocks("t-dev", program, live_scripts=live_scripts)
    assert found == [sorted(new)]
    assert bool(resources_of(document, "WorkersScript")) == bool(new)


def test_the_provision_step_is_never_deleted_with_the_program() -> None:
    """Dropped from the program on the next deploy, it must leave the Worker alone."""
    import pulumi

    retained: list[bool] = []
    original = pulumi.CustomResource.__init__

    def spy(self: pulumi.CustomResource, t: str, name: str, *args: Any, **kwargs: Any) -> None:
        if name == "w-provision":
            opts = kwargs.get("opts") or (args[1] if len(args) > 1 else None)
            retained.append(bool(opts and opts.retain_on_delete))
        original(self, t, name, *args, **kwargs)

    pulumi.CustomResource.__init__ = spy  # type: ignore[method-assign]
    try:
        run_with_mocks("t-dev", lambda: EdgeWorker("w", worker_args()) and None)
    finally:
        pulumi.CustomResource.__init__ = original  # type: ignore[method-assign]
    assert retained == [True]


def test_pulumi_runs_the_program_in_the_directory_paths_are_relative_to() -> None:
    project = (REPO_ROOT / "Pulumi.yaml").read_text()
    [main] = [line.split(":", 1)[1].strip() for line in project.splitlines() if line[:5] == "main:"]
    assert (REPO_ROOT / main).resolve() == PROGRAM_DIR
    assert program_relative(REPO_ROOT / "agent" / "Dockerfile") == "../agent/Dockerfile"
    assert program_relative(Path("/opt/dist/index.js")) == "/opt/dist/index.js"


def test_a_program_run_elsewhere_stops_before_declaring_anything() -> None:
    check_program_dir(PROGRAM_DIR)
    with pytest.raises(BuildError, match=r"keep `main: infra/` in Pulumi\.yaml"):
        check_program_dir(REPO_ROOT)


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return [value] if isinstance(value, str) else []


@pytest.mark.slow  # over half a second of CPU (make test-cost)
def test_no_input_holds_the_checkout_path_whatever_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plans = []
    for cwd in (tmp_path / "a", tmp_path / "b" / "deeper"):
        cwd.mkdir(parents=True)
        monkeypatch.chdir(cwd)
        plans.append(json.dumps(plan_stack("acme-prod", full_config(), edge_dist=EDGE_DIST)))
    assert plans[0] == plans[1]
    leaked = [s for s in _strings(json.loads(plans[0])) if str(REPO_ROOT) in s]
    assert leaked == []


def _clone(destination: Path) -> Path:
    """The checkout's files (tracked and new, not ignored) copied to `destination`."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for raw in filter(None, listed):
        source = REPO_ROOT / raw.decode()
        if source.is_file():
            target = destination / raw.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


@pytest.mark.slow
def test_plans_from_two_clones_are_byte_identical(tmp_path: Path) -> None:
    outputs = []
    for clone in (_clone(tmp_path / "one"), _clone(tmp_path / "two" / "nested")):
        # Each clone plans with its own fixture bundle, from its own directory.
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "infra.plan",
                "--stack",
                "prod",
                "--format",
                "json",
                "--edge-dist",
                str(clone / "tests" / "infra" / "fixtures" / "edge-dist"),
            ],
            cwd=clone,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert str(clone) not in result.stdout
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1]
    assert str(REPO_ROOT) not in outputs[0]
