"""The provider behind Pulumi's own dynamic-provider gRPC servicer, as `pulumi up` runs it.

The engine starts `python -m pulumi.dynamic`, sends the stack's whole configuration to
`Configure`, then `Check`/`Diff`/`Create`/... with the serialized provider in `__provider`.
Running that host as a real subprocess and talking gRPC to it on loopback checks the boundary
the unit tests cannot: the token arrives
from `cloudflare:apiToken` config, numbers arrive as floats, unknowns during preview, and
nothing the servicer returns (which the engine writes to state) carries the token.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from fake_containers_api import ACCOUNT_ID, TOKEN, FakeContainersApi, serve
from fake_registry import plain_manifest
from google.protobuf import json_format, struct_pb2
from pulumi.dynamic.dynamic import PROVIDER_KEY, serialize_provider
from pulumi.runtime import proto, rpc
from pulumi.runtime.proto import provider_pb2_grpc

from infra.providers.container_application import ContainerApplicationProvider

pytestmark = pytest.mark.slow  # the container provider as a process

SCRIPT = "edgeagent-acme-dev"
REPOSITORY = f"{ACCOUNT_ID}/edgeagent-sandbox"
MANIFESTS = (plain_manifest("d"), plain_manifest("e"))
IMAGE, IMAGE_2 = (
    f"registry.cloudflare.com/{REPOSITORY}@sha256:{hashlib.sha256(m).hexdigest()}"
    for m in MANIFESTS
)
URN = "urn:pulumi:dev::edgeagent::pulumi-python:dynamic/edgeagent:ContainerApplication::app"


def to_struct(values: dict[str, Any]) -> struct_pb2.Struct:
    async def serialize() -> struct_pb2.Struct:
        return await rpc.serialize_properties(values, {})

    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(serialize())
    finally:
        loop.close()


def from_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    return dict(rpc.deserialize_properties(struct))


REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake() -> FakeContainersApi:
    api = FakeContainersApi()
    api.add_namespace(SCRIPT, "Sandbox")
    for manifest in MANIFESTS:
        api.registry.push(REPOSITORY, manifest)
    return api


@pytest.fixture
def host(fake: FakeContainersApi) -> Iterator[tuple[Any, dict[str, Any]]]:
    """`python -m pulumi.dynamic` as the engine starts it, configured with the stack config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDFLARE_")}
    with serve(fake) as url:
        process = subprocess.Popen(
            [sys.executable, "-m", "pulumi.dynamic"],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert process.stdout is not None
            port = int(process.stdout.readline())
            channel = grpc.insecure_channel(f"127.0.0.1:{port}")
            stub = provider_pb2_grpc.ResourceProviderStub(channel)
            config = struct_pb2.Struct()
            config.update({"cloudflare:apiToken": TOKEN, "edgeagent:accountId": ACCOUNT_ID})
            stub.Configure(proto.ConfigureRequest(args=config), timeout=30)
            provider = ContainerApplicationProvider(base_url=url, max_retries=0, registry_url=url)
            inputs = {
                PROVIDER_KEY: serialize_provider(provider),
                "account_id": ACCOUNT_ID,
                "name": "edgeagent-acme-dev-sandbox",
                "script_name": SCRIPT,
                "class_name": "Sandbox",
                "image": IMAGE,
                "instance_type": "standard-1",
                "max_instances": 1,
                "rollout_step_percentage": None,
                "rollout_active_grace_period": 0,
                "logs_enabled": True,
            }
            yield stub, inputs
            channel.close()
        finally:
            process.terminate()
            process.wait(timeout=10)
            if process.stdout is not None:
                process.stdout.close()


def test_a_full_lifecycle_through_the_engine_protocol(
    host: tuple[Any, dict[str, Any]], fake: FakeContainersApi
) -> None:
    stub, inputs = host

    checked = stub.Check(
        proto.CheckRequest(urn=URN, olds=to_struct({}), news=to_struct(inputs)), timeout=30
    )
    assert list(checked.failures) == []

    created = stub.Create(proto.CreateRequest(urn=URN, properties=checked.inputs), timeout=30)
    state = from_struct(created.properties)
    assert created.id in fake.applications
    assert state["max_instances"] == 1
    assert state["namespace_id"] == fake.namespaces[0]["id"]

    changed = {**inputs, "image": IMAGE_2}
    diff = stub.Diff(
        proto.DiffRequest(id=created.id, urn=URN, olds=created.properties, news=to_struct(changed)),
        timeout=30,
    )
    assert diff.changes == proto.DiffResponse.DIFF_SOME
    assert list(diff.replaces) == []

    updated = stub.Update(
        proto.UpdateRequest(
            id=created.id, urn=URN, olds=created.properties, news=to_struct(changed)
        ),
        timeout=30,
    )
    assert from_struct(updated.properties)["image"] == changed["image"]
    assert fake.rollouts[-1]["target_configuration"]["image"] == changed["image"]

    stub.Delete(
        proto.DeleteRequest(id=created.id, urn=URN, properties=updated.properties), timeout=30
    )
    assert fake.applications == {}
    assert fake.shape_errors == []

    for message in (checked, created, diff, updated):
        assert TOKEN not in json.dumps(json_format.MessageToDict(message))


def test_previews_with_unknown_image_are_checked_and_diffed_without_api_calls(
    host: tuple[Any, dict[str, Any]], fake: FakeContainersApi
) -> None:
    stub, inputs = host
    olds = to_struct({**inputs, "application_id": "app-9", "namespace_id": "ns-9"})
    news = to_struct({**inputs, "image": rpc.UNKNOWN})

    checked = stub.Check(proto.CheckRequest(urn=URN, olds=olds, news=news), timeout=30)
    diff = stub.Diff(proto.DiffRequest(id="app-9", urn=URN, olds=olds, news=news), timeout=30)

    assert list(checked.failures) == []
    assert diff.changes == proto.DiffResponse.DIFF_SOME
    assert fake.requests == []


def test_api_failures_reach_the_engine_as_a_readable_error(
    host: tuple[Any, dict[str, Any]], fake: FakeContainersApi
) -> None:
    stub, inputs = host
    fake.fail("POST", "apps", 500)

    with pytest.raises(grpc.RpcError) as caught:
        stub.Create(proto.CreateRequest(urn=URN, properties=to_struct(inputs)), timeout=30)

    details = caught.value.details()  # type: ignore[attr-defined]
    expected = "creating container application 'edgeagent-acme-dev-sandbox' failed with HTTP 500"
    assert expected in details
    assert TOKEN not in details
    assert fake.applications == {}
