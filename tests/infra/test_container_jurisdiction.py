"""Data residency: the container application is placed in the stack's storage jurisdiction.

Provider calls against the fake Containers API on loopback; the stack wiring under mocks; the
policy that refuses a bucket and a container application in different jurisdictions.
"""

from __future__ import annotations

from typing import Any

import pytest
from fake_containers_api import ACCOUNT_ID, FakeContainersApi
from infra_support import (
    MANIFEST_V1,
    MANIFEST_V2,
    REPOSITORY,
    SCRIPT,
    mutations,
    one,
    props,
)

from infra.policy.plan import resources_of
from infra.policy.residency import storage_and_sandboxes_share_a_jurisdiction
from infra.providers.container_application import ContainerApplicationProvider


@pytest.fixture
def fake() -> FakeContainersApi:
    api = FakeContainersApi()
    api.add_namespace(SCRIPT, "Sandbox")
    api.registry.push(REPOSITORY, MANIFEST_V1)  # the images `props()` names, as a push leaves them
    api.registry.push(REPOSITORY, MANIFEST_V2)
    return api


def test_create_constrains_placement_to_the_jurisdiction(
    provider: ContainerApplicationProvider, fake: FakeContainersApi
) -> None:
    result = provider.create(props(jurisdiction="eu"))

    body = fake.requests[-1][2]
    assert body["constraints"] == {"tiers": [1, 2], "jurisdiction": "eu"}
    assert fake.shape_errors == []
    assert result.outs is not None
    assert result.outs["jurisdiction"] == "eu"
    assert provider.read(result.id, result.outs).outs["jurisdiction"] == "eu"


def test_no_jurisdiction_keeps_wranglers_default_constraints(
    provider: ContainerApplicationProvider, fake: FakeContainersApi
) -> None:
    provider.create(props())
    assert fake.requests[-1][2]["constraints"] == {"tiers": [1, 2]}


def test_changing_the_jurisdiction_patches_the_whole_constraints_in_place(
    provider: ContainerApplicationProvider, fake: FakeContainersApi
) -> None:
    created = provider.create(props())
    assert created.outs is not None
    olds = created.outs
    news = props(jurisdiction="fedramp")
    diff = provider.diff(created.id, olds, news)
    assert diff.changes is True
    assert diff.replaces == []
    fake.requests.clear()

    provider.update(created.id, olds, news)

    app_path = f"/accounts/{ACCOUNT_ID}/containers/applications/{created.id}"
    assert mutations(fake) == [("PATCH", app_path)]
    patch = fake.requests[-1][2]
    assert patch["constraints"] == {"tiers": [1, 2], "jurisdiction": "fedramp"}
    assert fake.shape_errors == []
    assert fake.applications[created.id]["constraints"]["jurisdiction"] == "fedramp"


def test_an_unknown_jurisdiction_is_refused_with_an_example(
    provider: ContainerApplicationProvider,
) -> None:
    result = provider.check({}, props(jurisdiction="mars"))
    [failure] = result.failures
    assert failure.property == "jurisdiction"
    assert "example: eu" in failure.reason


def test_the_stack_places_sandboxes_with_the_bucket(
    dev_plan: dict[str, Any], full_plan: dict[str, Any]
) -> None:
    eu = one(full_plan, "ContainerApplication", "edgeagent-container-application")["inputs"]
    assert one(full_plan, "R2Bucket", "edgeagent-storage-bucket")["inputs"]["jurisdiction"] == "eu"
    assert eu["jurisdiction"] == "eu"
    anywhere = one(dev_plan, "ContainerApplication", "edgeagent-container-application")["inputs"]
    assert "jurisdiction" not in anywhere
    for document in (dev_plan, full_plan):
        assert storage_and_sandboxes_share_a_jurisdiction(resources_of(document)) == []


@pytest.mark.parametrize(
    ("bucket", "placed", "message"),
    [
        ("eu", None, "runs anywhere but bucket 'edgeagent-storage-bucket' is in jurisdiction 'eu'"),
        (None, "eu", "runs in jurisdiction 'eu' but bucket 'edgeagent-storage-bucket' is in "),
        ("fedramp", "eu", "runs in jurisdiction 'eu' but bucket"),
    ],
)
def test_the_policy_refuses_differing_jurisdictions(
    dev_plan: dict[str, Any], bucket: str | None, placed: str | None, message: str
) -> None:
    resources = []
    for r in resources_of(dev_plan):
        inputs = dict(r.inputs)
        if r.name == "edgeagent-storage-bucket":
            inputs["jurisdiction"] = bucket
        if r.name == "edgeagent-container-application":
            inputs["jurisdiction"] = placed
        resources.append(type(r)(r.type, r.name, r.parent, inputs))
    [violation] = storage_and_sandboxes_share_a_jurisdiction(resources)
    assert violation.policy == "same-jurisdiction"
    assert violation.resource == "edgeagent-container-application"
    assert message in violation.message
