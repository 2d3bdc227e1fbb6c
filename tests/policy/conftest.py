"""Fixtures of the policy tests: the shipped stacks planned offline."""

from __future__ import annotations

from typing import Any

import pytest
from policy_support import planned


@pytest.fixture(scope="session")
def dev_plan() -> dict[str, Any]:
    return planned("dev")


@pytest.fixture(scope="session")
def prod_plan() -> dict[str, Any]:
    return planned("prod")
