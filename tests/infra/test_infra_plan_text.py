"""The text plan people read: grouped by component, long values folded, placeholders marked."""

from __future__ import annotations

from typing import Any

import pytest
from infra_support import full_config, plan

from infra.placeholders import SECRET
from infra.plan_text import WIDTH, render_text


@pytest.fixture(scope="module")
def full_plan() -> dict[str, Any]:
    return plan("acme-prod", full_config())


def _section(text: str, title: str) -> list[str]:
    return text.split(f"\n{title}\n", 1)[1].split("\n\n", 1)[0].splitlines()


def test_every_resource_is_listed_once_under_its_component(full_plan: dict[str, Any]) -> None:
    text = render_text(full_plan)
    for resource in full_plan["resources"]:
        if resource["type"].startswith("edgeagent:"):
            continue
        component = next(r for r in full_plan["resources"] if r["name"] == resource["parent"])
        title = f"{component['name']}  ({component['type'].rsplit(':', 1)[-1]})"
        listed = [line for line in _section(text, title) if line.startswith("  + ")]
        assert sum(line.endswith(f"  {resource['name']}") for line in listed) == 1, resource


def test_no_line_is_wider_than_the_fold(full_plan: dict[str, Any]) -> None:
    assert max(len(line) for line in render_text(full_plan).splitlines()[2:]) <= WIDTH


def test_folded_lists_keep_every_item(full_plan: dict[str, Any]) -> None:
    version = next(r for r in full_plan["resources"] if r["name"] == "edgeagent-edge-version")
    count = len(version["inputs"]["bindings"])
    lines = _section(render_text(full_plan), "edgeagent-edge  (EdgeWorker)")
    start = lines.index(f"      bindings: {count} items")
    items = [line for line in lines[start + 1 :] if line.startswith("        - ")]
    assert len(items) >= count


def test_placeholders_and_secrets_are_marked_and_real_values_are_not(
    full_plan: dict[str, Any],
) -> None:
    text = render_text(full_plan)
    deployment = _section(text, "edgeagent-edge  (EdgeWorker)")
    assert any("<mock edgeagent-edge-version-id>" in line for line in deployment)
    assert "accessAud = <mock aud-edgeagent-access-app>" in text
    assert f"serviceTokenClientSecret = {SECRET}" in text
    assert '"edgeagent-acme-prod"' in text  # a real, known-before-deploy name stays plain
    assert "<mock edgeagent-acme-prod>" not in text
