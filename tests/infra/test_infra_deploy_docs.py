"""docs/deploy-rules.md shows the permission table made from the list in infra/permissions.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from infra.permissions import DEPLOY_PERMISSIONS, DeployPermission, deploy_hint, render_table
from infra.providers.cloudflare_api import CloudflareApiError, resolve_api_token

PAGE = Path(__file__).resolve().parents[2] / "docs" / "deploy-rules.md"


def documented_table() -> str:
    match = re.search(
        r"<!-- permissions:begin -->\n(.*?)<!-- permissions:end -->", PAGE.read_text(), re.S
    )
    assert match is not None, f"{PAGE} has no permissions block"
    return match.group(1)


def test_the_page_shows_the_generated_table() -> None:
    assert documented_table() == render_table(), (
        "docs/deploy-rules.md is stale: paste `uv run python -m infra.permissions` between the "
        "permissions markers"
    )


def test_the_table_and_the_hint_name_every_permission() -> None:
    table, hint = documented_table(), deploy_hint()
    for permission in DEPLOY_PERMISSIONS:
        assert f"| {permission.name} | {permission.scope} |" in table
        assert permission.name in hint


def test_a_permission_added_to_the_list_changes_both() -> None:
    extra = (*DEPLOY_PERMISSIONS, DeployPermission("Queues: Edit", "account", "a queue"))
    assert "| Queues: Edit | account | a queue |" in render_table(extra)
    assert render_table(extra) != documented_table()
    assert "Queues: Edit" in deploy_hint(extra)


def test_a_missing_token_names_the_permissions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    with pytest.raises(CloudflareApiError) as caught:
        resolve_api_token({})
    assert deploy_hint() in str(caught.value)
