"""Fixtures of the infra tests: the offline plans of two representative stacks, and the fake
Containers API served on loopback with a provider configured against it (a test module that uses
them defines its own `fake`: the namespaces and images its tests start from)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fake_containers_api import FakeContainersApi, serve
from infra_support import configured, full_config, minimal_config, plan

from infra.providers.container_application import ContainerApplicationProvider


@pytest.fixture(autouse=True)
def _no_ambient_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own Cloudflare credentials never reach a test."""
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    monkeypatch.delenv("CLOUDFLARE_BASE_URL", raising=False)


@pytest.fixture
def base_url(fake: FakeContainersApi) -> Iterator[str]:
    """The module's `fake` Containers API (and registry) on a loopback port."""
    with serve(fake) as url:
        yield url


@pytest.fixture
def provider(base_url: str) -> ContainerApplicationProvider:
    """The container-application provider, configured with the fake's token and URL."""
    return configured(base_url)


@pytest.fixture(scope="session")
def dev_plan() -> dict[str, Any]:
    return plan("dev", minimal_config())


@pytest.fixture(scope="session")
def full_plan() -> dict[str, Any]:
    return plan("acme-prod", full_config())
