"""Fixtures for the runtime tests: settings, a moto S3 server, runtime processes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from runtime_support import EDGE_TOKEN, RuntimeProcess, s3
from suite_support import moto_server

from agent.runtime.settings import RuntimeSettings


@pytest.fixture
def settings(tmp_path: Path) -> RuntimeSettings:
    return RuntimeSettings(
        agent_tenant="acme",
        agent_edge_token=EDGE_TOKEN,
        state_backend="local",
        state_dir=tmp_path / "state",
    )


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's threaded S3 server on loopback (real HTTP, conditional writes enforced)."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def bucket(moto_endpoint: str) -> str:
    name = f"state-{uuid.uuid4().hex[:12]}"
    s3(moto_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture
def runtimes(tmp_path: Path) -> Iterator[list[RuntimeProcess]]:
    """Collects spawned runtimes and kills any still running at the end."""
    started: list[RuntimeProcess] = []
    yield started
    for runtime in started:
        runtime.kill()
