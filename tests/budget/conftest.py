"""Fixtures for the budget tests: the fake AI Gateway and settings that call it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pydantic_ai.models
import pytest
from budget_support import gateway_settings
from fake_ai_gateway import FakeAiGateway, fake_ai_gateway

from agent.runtime.settings import RuntimeSettings


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAiGateway]:
    # Real model clients, but only ever against this loopback fake.
    monkeypatch.setattr(pydantic_ai.models, "ALLOW_MODEL_REQUESTS", True)
    with fake_ai_gateway() as running:
        yield running


@pytest.fixture
def settings(tmp_path: Path, gateway: FakeAiGateway) -> RuntimeSettings:
    return gateway_settings(tmp_path / "state", gateway)
