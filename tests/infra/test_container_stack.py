"""The whole program under the plan's recording mocks: Worker, image and application wired."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from infra_support import ACCOUNT, EDGE_DIST, minimal_config, one, plan

from infra.plan import main

REPO = f"registry.cloudflare.com/{ACCOUNT}/edgeagent-default-dev-sandbox"


def test_the_worker_version_makes_the_sandbox_container_enabled(dev_plan: dict[str, Any]) -> None:
    version = one(dev_plan, "WorkerVersion", "edgeagent-edge-version")
    assert version["inputs"]["containers"] == [{"className": "Sandbox"}]
    assert "Sandbox" in version["inputs"]["exports"]


def test_the_image_is_built_from_the_runtime_dockerfile_for_amd64(dev_plan: dict[str, Any]) -> None:
    image = one(dev_plan, "Image", "edgeagent-container-image")
    inputs = image["inputs"]
    assert image["parent"] == "edgeagent-container"
    # Relative to infra/, where Pulumi runs the program and its providers (infra/paths.py).
    assert inputs["context"] == {"location": ".."}
    assert inputs["dockerfile"] == {"location": "../agent/Dockerfile"}
    assert inputs["target"] == "native"
    assert inputs["platforms"] == ["linux/amd64"]
    assert inputs["push"] is True
    assert inputs["buildOnPreview"] is False
    assert inputs["registries"] == [
        {"address": "registry.cloudflare.com", "username": "v1", "password": "[secret]"}
    ]
    [tag] = inputs["tags"]
    assert tag.startswith(f"{REPO}:")


def test_the_application_runs_the_pinned_image_on_the_sandbox_class(
    dev_plan: dict[str, Any],
) -> None:
    app = one(dev_plan, "ContainerApplication", "edgeagent-container-application")
    inputs = app["inputs"]
    assert app["parent"] == "edgeagent-container"
    assert inputs["image"] == f"{REPO}@sha256:" + "0" * 64
    assert inputs["name"] == "edgeagent-default-dev-sandbox"
    assert inputs["script_name"] == "edgeagent-default-dev"
    assert inputs["class_name"] == "Sandbox"
    assert inputs["account_id"] == ACCOUNT
    assert inputs["__provider"] == "[secret]"


def test_instance_type_and_scale_come_from_config() -> None:
    document = plan(
        "dev",
        {**minimal_config(), "edgeagent:instanceType": "standard-2", "edgeagent:maxInstances": 3},
    )
    inputs = one(document, "ContainerApplication", "edgeagent-container-application")["inputs"]
    assert (inputs["instance_type"], inputs["max_instances"]) == ("standard-2", 3)


def test_the_text_plan_ends_with_the_cost_estimate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = {
        **minimal_config(),
        "edgeagent:instanceType": "standard-1",
        "edgeagent:maxInstances": 1,
    }
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text(yaml.safe_dump({"config": config}))

    args = ["--stack", "dev", "--config-file", str(stack_file), "--edge-dist", str(EDGE_DIST)]
    assert main(args) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[-3] == "container cost estimate (standard-1 x 1, awake 2.17 h/day): $7.20/month"
    assert lines[-1].endswith("pricing: https://developers.cloudflare.com/containers/pricing/")
