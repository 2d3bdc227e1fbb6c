"""Fixtures for the channel tests: fake platform APIs on loopback and channel-enabled settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from channels_support import FakePlatforms, channel_settings, serve_fakes
from suite_support import moto_server

from agent.runtime.settings import RuntimeSettings


@pytest.fixture
def fakes() -> Iterator[FakePlatforms]:
    with serve_fakes() as running:
        yield running


@pytest.fixture
def settings(tmp_path: Path, fakes: FakePlatforms) -> RuntimeSettings:
    return channel_settings(tmp_path / "state", fakes)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 server on loopback (conditional writes enforced), standing in for R2."""
    with moto_server() as endpoint:
        yield endpoint
