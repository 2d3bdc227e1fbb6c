"""Fixtures for the runtime tests: settings, a moto S3 server, runtime processes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pydantic_ai.models
import pytest
from moto.server import ThreadedMotoServer
from rt_support import EDGE_TOKEN, RuntimeProcess, free_port, s3

from agent.runtime.settings import RuntimeSettings

# No test may reach a real model provider.
pydantic_ai.models.ALLOW_MODEL_REQUESTS = False


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


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
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


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
