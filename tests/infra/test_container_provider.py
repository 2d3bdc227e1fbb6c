"""The container-application dynamic provider against a fake Containers API on loopback."""

from __future__ import annotations

import base64
import json
from typing import Any

import cloudflare
import dill
import pytest
from fake_containers_api import ACCOUNT_ID, TOKEN, FakeContainersApi
from infra_support import (
    CREDENTIALS,
    IMAGE_V1,
    IMAGE_V2,
    MANIFEST_V1,
    MANIFEST_V2,
    REPOSITORY,
    SCRIPT,
    configured,
    mutations,
    props,
)
from pulumi.dynamic import Config, ConfigureRequest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.output import Unknown

from infra.permissions import deploy_hint
from infra.providers import container_application
from infra.providers.cloudflare_api import CloudflareApiError, make_client
from infra.providers.container_application import ContainerApplicationProvider
from infra.providers.containers_api import rollout_steps


@pytest.fixture
def fake() -> FakeContainersApi:
    api = FakeContainersApi()
    api.add_namespace("some-other-worker", "Sandbox")
    api.add_namespace(SCRIPT, "Sandbox")
    api.registry.push(REPOSITORY, MANIFEST_V1)
    api.registry.push(REPOSITORY, MANIFEST_V2)
    return api


def namespace_of(fake: FakeContainersApi, script: str) -> str:
    return next(n["id"] for n in fake.namespaces if n["script"] == script)


# --- create -----------------------------------------------------------------------------------


def test_create_follows_wranglers_order_and_body(
    provider: ContainerApplicationProvider, fake: FakeContainersApi
) -> None:
    result = provider.create(props())

    apps = f"/accounts/{ACCOUNT_ID}/containers/applications"
    assert [(m, p) for m, p, _ in fake.requests] == [
        ("POST", CREDENTIALS),  # pull credentials to read the pushed manifest back
        ("GET", f"/accounts/{ACCOUNT_ID}/workers/durable_objects/namespaces"),
        ("GET", apps),
        ("POST", apps),
    ]
    assert fake.requests[-1][2] == {
        "name": "edgeagent-acme-dev-sandbox",
        "scheduling_policy": "default",
        "configuration": {
            "image": IMAGE_V1,
            "instance_type": "standard-1",
            "observability": {"logs": {"enabled": True}},
        },
        "instances": 0,
        "max_instances": 1,
        "durable_objects": {"namespace_id": namespace_of(fake, SCRIPT)},
        "rollout_active_grace_period": 0,
        "constraints": {"tiers": [1, 2]},
    }
    assert fake.shape_errors == []
    assert result.id in fake.applications
    assert result.outs is not None
    assert result.outs["application_id"] == result.id
    assert result.outs["namespace_id"] == namespace_of(fake, SCRIPT)
    assert result.outs["max_instances"] == 1


def test_create_adopts_existing_application_of_same_name_and_namespace(
    provider: ContainerApplicationProvider, fake: FakeContainersApi
) -> None:
    app_id = fake.seed_application(
        "edgeagent-acme-dev-sandbox", namespace_of(fake, SCRIPT), image=IMAGE_V2
    )

    result = provider.create(props())

    assert result.id == app_id
    assert len(fake.applications) == 1
    assert mutations(fake) == [
        ("POST", f"/accounts/{ACCOUNT_ID}/containers/applications/{app_id}/rollouts")
    ]
    assert fake.applications[app_id]["configuration"]["image"] == IMAGE_V1
    assert fake.shape_errors == []


def test_create_adopts_identical_application_without_any_write(
    provider: ContainerApplicationProvider, fake: FakeContainersApi
) -> None:
    app_id = fake.seed_application(
        "edgeagent-acme-dev-sandbox",
        namespace_of(fake, SCRIPT),
        image=IMAGE_V1,
        instance_type="standard-1",
    )

    assert provider.create(props()).id == app_id
    assert mutations(fake) == []


def test_create_refuses_an_application_bound_to_another_namespace(
    provider: ContainerApplicationProvider, fake: FakeContainersApi
) -> None:
    other = namespace_of(fake, "some-other-worker")
    fake.seed_application("edgeagent-acme-dev-sandbox", other)

    with pytest.raises(CloudflareApiError) as caught:
        provider.create(props())

    message = str(caught.value)
    assert other in message
    assert namespace_of(fake, SCRIPT) in message
    assert "choose another name" in message
    assert mutations(fake) == []


def test_create_without_the_workers_namespace_says_deploy_the_worker_first(
    provider: ContainerApplicationProvider, fake: FakeContainersApi
) -> None:
    with pytest.raises(CloudflareApiError, match=r"class 'Sandbox' of Worker 'missing-worker'"):
        provider.create(props(script_name="missing-worker"))
    assert mutations(fake) == []


def test_create_reports_a_namespace_that_already_has_an_application(
    provider: ContainerApplicationProvider, fake: FakeContainersApi
) -> None:
    fake.seed_application("someone-elses-app", namespace_of(fake, SCRIPT))

    with pytest.raises(CloudflareApiError, match="DURABLE_OBJECT_ALREADY_HAS_APPLICATION"):
        provider.create(props())
    assert len(fake.applications) == 1


# --- diff -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "changes", "replaces"),
    [
        ({}, False, []),
        ({"image": IMAGE_V2}, True, []),
        ({"instance_type": "standard-2"}, True, []),
        ({"max_instances": 3.0}, True, []),
        ({"logs_enabled": False}, True, []),
        ({"rollout_step_percentage": 50.0}, False, []),
        ({"image": Unknown()}, True, []),
        ({"name": "edgeagent-acme-dev-other"}, True, ["name"]),
        ({"script_name": "edgeagent-acme-prod"}, True, ["script_name"]),
        ({"account_id": "f" * 32}, True, ["account_id"]),
    ],
)
def test_diff_updates_in_place_or_replaces(
    change: dict[str, Any], changes: bool, replaces: list[str]
) -> None:
    olds = {**props(), "application_id": "app-1", "namespace_id": "ns-1"}
    result = ContainerApplicationProvider().diff("app-1", olds, props(**change))
    assert result.changes is changes
    assert result.replaces == replaces
    assert result.delete_before_replace is True


# --- update -----------------------------------------------------------------------------------


def _created(
    provider: ContainerApplicationProvider, **overrides: Any
) -> tuple[str, dict[str, Any]]:
    result = provider.create(props(**overrides))
    assert result.outs is not None
    return result.id, result.outs


def test_update_patches_scaling_then_rolls_out_in_steps(
    provider: ContainerApplicationProvider, fake: FakeContainersApi
) -> None:
    app_id, olds = _created(provider)
    fake.requests.clear()

    result = provider.update(app_id, olds, props(image=IMAGE_V2, max_instances=3.0))

    app_path = f"/accounts/{ACCOUNT_ID}/containers/applications/{app_id}"
    assert mutations(fake) == [("PATCH", app_path), ("POST", f"{app_path}/rollouts")]
    patch_body = next(body for method, _, body in fake.requests if method == "PATCH")
    assert patch_body == {"max_instances": 3, "rollout_active_grace_period": 0}
    rollout = fake.rollouts[-1]
    assert rollout["strategy"] == "rolling"
    assert rollout["kind"] == "full_auto"
    assert "step_percentage" not in rollout
    assert [s["step_size"]["percentage"] for s in rollout["steps"]] == [10, 100]
    assert rollout["target_configuration"]["image"] == IMAGE_V2
    assert fake.shape_errors == []
    assert result.outs is not None
    assert result.outs["image"] == IMAGE_V2
    assert fake.applications[app_id]["max_instances"] == 3


def test_update_of_image_alone_rolls_out_without_patch(
    provider: ContainerApplicationProvider, fake: FakeContainersApi
) -> None:
    app_id, olds = _created(provider)
    fake.requests.clear()

    provider.update(app_id, olds, props(image=IMAGE_V2))

    assert [m for m, _ in mutations(fake)] == ["POST"]
    assert fake.rollouts[-1]["step_percentage"] == 100


def test_update_of_scaling_alone_patches_without_rollout(
    provider: ContainerApplicationProvider, fake: FakeContainersApi
) -> None:
    app_id, olds = _created(provider)
    fake.requests.clear()

    provider.update(app_id, olds, props(max_instances=2.0, rollout_active_grace_period=30.0))

    assert [m for m, _ in mutations(fake)] == ["PATCH"]
    assert fake.rollouts == []
    assert fake.applications[app_id]["rollout_active_grace_period"] == 30


@pytest.mark.parametrize(
    ("max_instances", "configured_step", "expected"),
    [(1, None, 100), (2, None, [10, 100]), (20, None, [10, 100]), (5, 25, 25), (1, 50, 50)],
)
def test_rollout_step_rule_matches_wrangler(
    max_instances: int, configured_step: Any, expected: int | list[int]
) -> None:
    steps = rollout_steps(max_instances, configured_step)
    if isinstance(steps, int):
        assert steps == expected
    else:
        assert [s["step_size"]["percentage"] for s in steps] == expected
        assert steps[0]["description"] == "Step 1 of 2 - rollout at 10% of instances"


def test_failed_rollout_after_patch_converges_on_the_next_update(
    provider: ContainerApplicationProvider, fake: FakeContainersApi
) -> None:
    app_id, olds = _created(provider)
    fake.fail("POST", "rollouts", 500)

    with pytest.raises(CloudflareApiError, match="HTTP 500"):
        provider.update(app_id, olds, props(image=IMAGE_V2, max_instances=3.0))

    # The engine keeps the old state, so the next `pulumi up` retries the same update.
    fake.requests.clear()
    provider.update(app_id, olds, props(image=IMAGE_V2, max_instances=3.0))
    assert [m for m, _ in mutations(fake)] == ["POST"]
    assert fake.applications[app_id]["configuration"]["image"] == IMAGE_V2


# --- read / delete ----------------------------------------------------------------------------


def test_read_reports_drift_made_outside_pulumi(
    provider: ContainerApplicationProvider, fake: FakeContainersApi
) -> None:
    app_id, olds = _created(provider)
    fake.applications[app_id]["max_instances"] = 7
    fake.applications[app_id]["configuration"]["instance_type"] = "basic"

    result = provider.read(app_id, olds)

    assert result.id == app_id
    assert result.outs is not None
    assert result.outs["max_instances"] == 7
    assert result.outs["instance_type"] == "basic"
    drift = ContainerApplicationProvider().diff(app_id, result.outs, props())
    assert drift.changes is True
    assert drift.replaces == []


def test_read_of_a_deleted_application_reports_it_gone(
    provider: ContainerApplicationProvider, fake: FakeContainersApi
) -> None:
    app_id, olds = _created(provider)
    del fake.applications[app_id]

    assert provider.read(app_id, olds).id == ""


def test_delete_removes_the_application_and_tolerates_it_being_gone(
    provider: ContainerApplicationProvider, fake: FakeContainersApi
) -> None:
    app_id, olds = _created(provider)

    provider.delete(app_id, olds)
    assert fake.applications == {}
    provider.delete(app_id, olds)
    assert [m for m, _ in mutations(fake)].count("DELETE") == 2


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "route", "status", "hint"),
    [
        ("POST", "apps", 500, "nothing was recorded"),
        ("POST", "apps", 400, "fix the input"),
        ("GET", "ns", 503, "nothing was recorded"),
        ("GET", "apps", 429, "Rate limited"),
    ],
)
def test_api_errors_on_create_are_clear_and_create_nothing(
    provider: ContainerApplicationProvider,
    fake: FakeContainersApi,
    method: str,
    route: str,
    status: int,
    hint: str,
) -> None:
    fake.fail(method, route, status)

    with pytest.raises(CloudflareApiError) as caught:
        provider.create(props())

    message = str(caught.value)
    assert f"HTTP {status}" in message
    assert f"injected failure {status}" in message
    assert hint in message
    assert TOKEN not in message
    assert fake.applications == {}


def test_server_errors_are_retried_by_the_sdk(base_url: str, fake: FakeContainersApi) -> None:
    fake.fail("POST", "apps", 503)
    result = configured(base_url, retries=1).create(props())
    assert result.id in fake.applications


def test_delete_failure_is_an_error_so_the_engine_keeps_the_resource(
    provider: ContainerApplicationProvider, fake: FakeContainersApi
) -> None:
    app_id, olds = _created(provider)
    fake.fail("DELETE", "app", 500)

    with pytest.raises(CloudflareApiError, match="deleting container application"):
        provider.delete(app_id, olds)
    assert app_id in fake.applications


# --- credentials ------------------------------------------------------------------------------


def test_a_rejected_token_names_the_permissions_needed(
    base_url: str, fake: FakeContainersApi
) -> None:
    with pytest.raises(CloudflareApiError) as caught:
        configured(base_url, token="wrong-token").create(props())
    assert "HTTP 403" in str(caught.value)
    assert deploy_hint() in str(caught.value)  # the one list of docs/deploy-rules.md
    assert "wrong-token" not in str(caught.value)
    assert fake.bad_auth_attempts == 1


def test_without_any_token_the_error_names_both_sources(base_url: str) -> None:
    with pytest.raises(CloudflareApiError) as caught:
        configured(base_url, token=None).create(props())
    assert "cloudflare:apiToken" in str(caught.value)
    assert "CLOUDFLARE_API_TOKEN" in str(caught.value)


def test_the_environment_token_is_used_when_config_has_none(
    base_url: str, fake: FakeContainersApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    result = configured(base_url, token=None).create(props())
    assert result.id in fake.applications


def test_the_token_never_reaches_state_or_the_serialized_provider(
    provider: ContainerApplicationProvider, fake: FakeContainersApi
) -> None:
    app_id, olds = _created(provider)
    updated = provider.update(app_id, olds, props(image=IMAGE_V2))
    read = provider.read(app_id, olds)

    serialized = serialize_provider(provider)
    for state in (olds, updated.outs, read.outs):
        assert TOKEN not in json.dumps(state)
    assert TOKEN.encode() not in base64.b64decode(serialized)
    # What the engine stores is enough to rebuild a working provider in another process.
    revived = dill.loads(base64.b64decode(serialized))  # noqa: S301 - our own bytes
    assert isinstance(revived, ContainerApplicationProvider)
    revived.configure(ConfigureRequest(Config({"cloudflare:apiToken": TOKEN}, "edgeagent")))
    revived.delete(app_id, olds)
    assert fake.applications == {}


# --- check ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "key", "fragment"),
    [
        ({"instance_type": "huge"}, "instance_type", "example: standard-1"),
        ({"image": "registry.cloudflare.com/x/y:latest"}, "image", "pinned by digest"),
        ({"max_instances": 0.0}, "max_instances", "greater than or equal to 1"),
        ({"rollout_step_percentage": 30.0}, "rollout_step_percentage", "example: 100"),
        ({"name": "Bad_Name"}, "name", "example: edgeagent-acme-dev-sandbox"),
        ({"account_id": "not-an-id"}, "account_id", "example: 0123456789abcdef"),
    ],
)
def test_check_names_the_key_what_is_wrong_and_an_example(
    change: dict[str, Any], key: str, fragment: str
) -> None:
    result = ContainerApplicationProvider().check({}, props(**change))
    assert [f.property for f in result.failures] == [key]
    assert result.failures[0].reason.startswith(f"{key}: ")
    assert fragment in result.failures[0].reason


def test_check_accepts_valid_inputs_and_defers_unknowns_to_apply() -> None:
    provider = ContainerApplicationProvider()
    assert provider.check({}, props()).failures == []
    assert provider.check({}, props(image=Unknown(), instance_type="huge")).failures == []


def test_the_fake_rejects_bodies_the_sdk_types_do_not_allow() -> None:
    from cloudflare.types.containers.application_create_params import (
        CcContainersCreateScheduledApplicationRequest as Create,
    )
    from fake_containers_api import shape_problems

    good = {
        "name": "a",
        "scheduling_policy": "default",
        "configuration": {"image": IMAGE_V1, "instance_type": "lite"},
        "instances": 0,
        "max_instances": 1,
        "durable_objects": {"namespace_id": "ns"},
        "constraints": {"tiers": [1, 2]},
    }
    assert shape_problems(Create, good) == []
    assert shape_problems(Create, {**good, "image": IMAGE_V1}) == ["unknown key image"]
    nested = {**good, "configuration": {"image": IMAGE_V1, "vcpus": 2}}
    assert shape_problems(Create, nested) == ["unknown key configuration.vcpus"]
    wrong = {**good, "configuration": {"image": IMAGE_V1, "instance_type": "huge"}}
    assert any("instance_type" in p for p in shape_problems(Create, wrong))
    missing = {k: v for k, v in good.items() if k != "max_instances"}
    assert any(p.startswith("max_instances") for p in shape_problems(Create, missing))


def test_every_provider_call_closes_its_client(
    provider: ContainerApplicationProvider,
    fake: FakeContainersApi,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A client left to the garbage collector keeps its pooled keep-alive socket open until then.
    opened: list[cloudflare.Cloudflare] = []

    def tracked(*args: Any, **kwargs: Any) -> cloudflare.Cloudflare:
        client = make_client(*args, **kwargs)
        opened.append(client)
        return client

    monkeypatch.setattr(container_application, "make_client", tracked)
    app_id, olds = _created(provider)
    provider.read(app_id, olds)
    provider.update(app_id, olds, props(image=IMAGE_V2, max_instances=3.0))
    provider.delete(app_id, olds)
    assert len(opened) >= 4
    assert [client.is_closed() for client in opened] == [True] * len(opened)
