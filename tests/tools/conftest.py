"""Fixtures for the tool tests: settings over a local state directory, a store, an HTTP client."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from suite_support import moto_server, s3
from tools_support import EDGE_TOKEN

from agent.runtime.settings import RuntimeSettings
from agent.runtime.store.local import LocalDirStore
from agent.runtime.tools.local_chromium import LocalChromium


@pytest.fixture
def settings(tmp_path: Path) -> RuntimeSettings:
    return RuntimeSettings(
        agent_tenant="acme",
        agent_edge_token=EDGE_TOKEN,
        state_backend="local",
        state_dir=tmp_path / "state",
        agent_timezone="Europe/Paris",
    )


@pytest.fixture
def store(settings: RuntimeSettings) -> LocalDirStore:
    return LocalDirStore(settings.state_dir)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture(scope="session")
def cdp_url() -> Iterator[str]:
    """A headless Debian Chromium on loopback. No skip: without it the test fails saying how to
    install it (scripts/ensure-chromium, or apt-get install -y chromium)."""
    with LocalChromium() as url:
        yield url


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 server on loopback: real HTTP, conditional writes enforced like R2."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def r2_bucket(moto_endpoint: str) -> str:
    name = f"tools-{uuid.uuid4().hex[:12]}"
    s3(moto_endpoint).create_bucket(Bucket=name)
    return name
