"""The Automation API implementation of the workspace seam, against the installed pulumi.automation
classes with the CLI calls replaced (no pulumi CLI exists here)."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from pulumi import automation as auto
from pydantic import SecretStr

from infra.tenants import automation
from infra.tenants.automation import AutomationStack, AutomationWorkspace
from infra.tenants.stacks import ConfigEntry


def summary(changes: dict[auto.OpType, int]) -> auto.UpdateSummary:
    now = datetime.now(UTC)
    return auto.UpdateSummary(
        kind="update",
        start_time=now,
        message="",
        environment={},
        config={},
        result="succeeded",
        end_time=now,
        resource_changes=changes,
    )


class RecordingStack:
    """Stands in for auto.Stack: records every call the adapter makes, returns real result types."""

    def __init__(self, config: dict[str, auto.ConfigValue]) -> None:
        self.config = dict(config)
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def record(self, method: str, kwargs: dict[str, Any]) -> None:
        # The adapter's keywords must exist on the installed auto.Stack method.
        inspect.signature(getattr(auto.Stack, method)).bind(self, **kwargs)
        self.calls.append((method, kwargs))

    def get_all_config(self) -> dict[str, auto.ConfigValue]:
        return dict(self.config)

    def remove_all_config(self, keys: list[str]) -> None:
        self.calls.append(("remove_all_config", {"keys": keys}))
        for key in keys:
            del self.config[key]

    def set_all_config(self, config: dict[str, auto.ConfigValue]) -> None:
        self.calls.append(("set_all_config", {"config": config}))
        self.config.update(config)

    def preview(self, **kwargs: Any) -> auto.PreviewResult:
        self.record("preview", kwargs)
        kwargs["on_output"]("Previewing update (acme-dev)")
        return auto.PreviewResult("out", "", {auto.OpType.CREATE: 3, auto.OpType.SAME: 1})

    def up(self, **kwargs: Any) -> auto.UpResult:
        self.record("up", kwargs)
        return auto.UpResult("out", "", summary({auto.OpType.UPDATE: 2}), {})

    def destroy(self, **kwargs: Any) -> auto.DestroyResult:
        self.record("destroy", kwargs)
        return auto.DestroyResult("out", "", summary({auto.OpType.DELETE: 7}))

    def refresh(self, **kwargs: Any) -> auto.RefreshResult:
        self.record("refresh", kwargs)
        return auto.RefreshResult("out", "", summary({}))


def adapter(recording: RecordingStack) -> AutomationStack:
    return AutomationStack(cast(auto.Stack, recording), "acme-dev", ["/repo/infra/policy"])


def test_set_config_replaces_the_whole_config() -> None:
    # Secrets take another path (stdin of the CLI): see test_tenant_cli_fake.py.
    recording = RecordingStack(
        {"edgeagent:old": auto.ConfigValue("x"), "edgeagent:tenant": auto.ConfigValue("acme")}
    )
    adapter(recording).set_config(
        {
            "edgeagent:tenant": ConfigEntry(SecretStr("acme"), secret=False),
            "edgeagent:sleepAfter": ConfigEntry(SecretStr("1h"), secret=False),
        }
    )
    assert recording.calls[0] == ("remove_all_config", {"keys": ["edgeagent:old"]})
    written = recording.calls[1][1]["config"]
    assert {k: (v.value, v.secret) for k, v in written.items()} == {
        "edgeagent:tenant": ("acme", False),
        "edgeagent:sleepAfter": ("1h", False),
    }


def test_operations_stream_output_and_summarize_changes() -> None:
    recording = RecordingStack({})
    stack = adapter(recording)
    lines: list[str] = []
    assert stack.preview(lines.append) == {"create": 3, "same": 1}
    assert lines == ["Previewing update (acme-dev)"]
    assert stack.up(lines.append) == {"update": 2}
    assert stack.destroy(lines.append) == {"delete": 7}
    assert stack.refresh(lines.append) == {}
    by_name = dict(recording.calls)
    assert by_name["preview"]["diff"] is True
    assert by_name["preview"]["policy_packs"] == ["/repo/infra/policy"]
    assert by_name["up"]["policy_packs"] == ["/repo/infra/policy"]
    assert by_name["up"]["show_secrets"] is False
    assert by_name["destroy"]["show_secrets"] is False
    assert all(kwargs["on_output"] == lines.append for kwargs in by_name.values())


@pytest.mark.parametrize(
    ("organization", "create", "expected_call", "expected_name"),
    [
        (None, True, "create_or_select_stack", "acme-dev"),
        ("acme-org", True, "create_or_select_stack", "acme-org/edgeagent/acme-dev"),
        (None, False, "select_stack", "acme-dev"),
    ],
)
def test_workspace_selects_or_creates_local_program_stacks(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    organization: str | None,
    create: bool,
    expected_call: str,
    expected_name: str,
) -> None:
    calls: list[tuple[str, str, str | None, auto.LocalWorkspaceOptions | None]] = []

    def recorder(kind: str) -> Any:
        real = inspect.signature(getattr(auto, kind))

        def call(*args: Any, **kwargs: Any) -> RecordingStack:
            bound = real.bind(*args, **kwargs)  # the call must fit the installed signature
            params = bound.arguments
            calls.append((kind, params["stack_name"], params.get("work_dir"), params.get("opts")))
            return RecordingStack({})

        return call

    monkeypatch.setattr(
        automation.auto, "create_or_select_stack", recorder("create_or_select_stack")
    )
    monkeypatch.setattr(automation.auto, "select_stack", recorder("select_stack"))
    workspace = AutomationWorkspace(
        tmp_path, organization=organization, secrets_provider="passphrase"
    )
    stack = workspace.stack("acme-dev", create=create)
    assert stack.name == "acme-dev"
    [(kind, name, work_dir, opts)] = calls
    assert (kind, name, work_dir) == (expected_call, expected_name, str(tmp_path))
    assert opts is not None
    assert opts.work_dir == str(tmp_path)
    assert opts.secrets_provider == "passphrase"
