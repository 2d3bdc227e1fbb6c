"""Fixtures of the tenant tool tests."""

from __future__ import annotations

import pytest
from tenant_fakes import FakeWorkspace


@pytest.fixture
def workspace() -> FakeWorkspace:
    return FakeWorkspace()
