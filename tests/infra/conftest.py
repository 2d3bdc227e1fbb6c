"""Fixtures of the infra tests: the offline plans of two representative stacks."""

from __future__ import annotations

from typing import Any

import pytest
from infra_support import full_config, minimal_config, plan


@pytest.fixture(scope="session")
def dev_plan() -> dict[str, Any]:
    return plan("dev", minimal_config())


@pytest.fixture(scope="session")
def full_plan() -> dict[str, Any]:
    return plan("acme-prod", full_config())
