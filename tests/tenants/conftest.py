"""Fixtures of the tenant tool tests."""

from __future__ import annotations

import pytest
from tenants_support import FakeWorkspace


@pytest.fixture
def workspace() -> FakeWorkspace:
    return FakeWorkspace()
