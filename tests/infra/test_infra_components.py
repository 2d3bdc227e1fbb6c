"""Components one at a time under the recording mocks, and the pieces they are built from."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
from infra_fixtures import ACCOUNT, EDGE_DIST, one

from infra import permissions
from infra.components.worker import EdgeWorker, WorkerArgs, binding_name, bindings
from infra.edge_bundle import load_bundle
from infra.errors import BuildError
from infra.plan import run_with_mocks


def worker_args(**overrides: Any) -> WorkerArgs:
    fields: dict[str, Any] = {
        "account_id": ACCOUNT,
        "script_name": "edgeagent-t-dev",
        "bundle": load_bundle(EDGE_DIST),
        "plain_vars": {"TENANT": "t"},
        "secrets": {"AGENT_EDGE_TOKEN": "token-value"},
        "cron": "*/5 * * * *",
    }
    fields.update(overrides)
    return WorkerArgs(**fields)


def plan_worker(args: WorkerArgs) -> dict[str, Any]:
    return run_with_mocks("t-dev", lambda: EdgeWorker("w", args) and None)


def test_worker_alone_declares_its_resources_under_itself() -> None:
    document = plan_worker(worker_args())
    assert sorted(
        (r["type"].rsplit(":", 1)[-1], r["name"], r["parent"]) for r in document["resources"]
    ) == [
        ("EdgeWorker", "w", None),
        ("Worker", "w-worker", "w"),
        ("WorkerVersion", "w-version", "w"),
        ("WorkersCronTrigger", "w-cron", "w"),
        ("WorkersDeployment", "w-deployment", "w"),
    ]
    version = one(document, "WorkerVersion", "w-version")["inputs"]
    assert version["bindings"][-1] == {
        "name": "AGENT_EDGE_TOKEN",
        "type": "secret_text",
        "text": "[secret]",
    }
    assert "containers" not in version


def test_container_attachment_marks_the_sandbox_class() -> None:
    document = plan_worker(worker_args(containers=("Sandbox",)))
    version = one(document, "WorkerVersion", "w-version")["inputs"]
    assert version["containers"] == [{"className": "Sandbox"}]


@pytest.mark.parametrize("name", ["AGENT_ORIGIN", "DEV_IDENTITY"])
def test_local_only_bindings_are_refused(name: str) -> None:
    with pytest.raises(
        ValueError, match=f"refusing to deploy local-development bindings \\['{name}'\\]"
    ):
        bindings(worker_args(plain_vars={name: "x"}))
    with pytest.raises(ValueError, match="refusing to deploy local-development bindings"):
        bindings(worker_args(secrets={name: "x"}))


def test_a_binding_cannot_be_both_plain_and_secret() -> None:
    with pytest.raises(ValueError, match=r"bindings \['X'\] are declared both plain and secret"):
        bindings(worker_args(plain_vars={"X": "a"}, secrets={"X": "b"}))


def test_a_bundle_without_the_sandbox_class_is_refused() -> None:
    with pytest.raises(BuildError, match="not 'Sandbox2'"):
        run_with_mocks(
            "t-dev", lambda: EdgeWorker("w", worker_args(sandbox_class="Sandbox2")) and None
        )


@pytest.mark.parametrize(
    ("class_name", "binding"),
    [("Sandbox", "SANDBOX"), ("Directory", "DIRECTORY"), ("UserSandbox", "USER_SANDBOX")],
)
def test_durable_object_binding_names(class_name: str, binding: str) -> None:
    assert binding_name(class_name) == binding


def test_permission_groups_resolve_by_name_and_alias() -> None:
    groups = [
        {"name": "Workers R2 Storage Bucket Item Read", "id": "r"},
        {"name": "Workers R2 Storage Bucket Item Write", "id": "w"},
        {"name": "AI Gateway Run", "id": "g"},
        {"name": "Browser Run Edit", "id": "b"},
        {"name": "Zone Read", "id": "z"},
    ]
    assert permissions.resolve(groups) == {
        permissions.R2_ITEM_READ: "r",
        permissions.R2_ITEM_WRITE: "w",
        permissions.AI_GATEWAY_RUN: "g",
        permissions.BROWSER_RENDERING_EDIT: "b",
    }


def test_missing_permission_groups_are_all_named() -> None:
    with pytest.raises(ValueError, match="'AI Gateway Run', 'Browser Rendering Edit'"):
        permissions.resolve(
            [
                {"name": "Workers R2 Storage Bucket Item Read", "id": "r"},
                {"name": "Workers R2 Storage Bucket Item Write", "id": "w"},
            ]
        )


def test_permission_lookup_is_one_invoke_for_the_account() -> None:
    from infra.mocks import PERMISSION_GROUPS_INVOKE, RecordingMocks

    calls: list[pulumi.runtime.MockCallArgs] = []
    original = RecordingMocks.call

    def spy(self: RecordingMocks, args: pulumi.runtime.MockCallArgs) -> Any:
        calls.append(args)
        return original(self, args)

    RecordingMocks.call = spy  # type: ignore[method-assign]
    try:
        from infra_fixtures import minimal_config, plan

        plan("dev", minimal_config())
    finally:
        RecordingMocks.call = original  # type: ignore[method-assign]
    assert [(c.token, c.args.get("accountId")) for c in calls] == [
        (PERMISSION_GROUPS_INVOKE, ACCOUNT)
    ]
