"""The provider reads the pushed manifest back and refuses an index, against a loopback registry."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pulumi_docker_build
import pytest
from fake_containers_api import ACCOUNT_ID, FakeContainersApi
from fake_registry import DOCKER_MANIFEST, attested_index, plain_manifest
from pydantic import SecretStr

from infra.errors import BuildError
from infra.providers.container_application import ContainerApplicationProvider
from infra.providers.manifest import check_pushed_manifest
from infra.providers.registry import RegistryLogin

SCRIPT = "edgeagent-acme-dev"
REPOSITORY = f"{ACCOUNT_ID}/edgeagent-sandbox"
APPS = f"/accounts/{ACCOUNT_ID}/containers/applications"


def image_of(body: bytes) -> str:
    return f"registry.cloudflare.com/{REPOSITORY}@sha256:{hashlib.sha256(body).hexdigest()}"


def props(image: str) -> dict[str, Any]:
    return {
        "account_id": ACCOUNT_ID,
        "name": "edgeagent-acme-dev-sandbox",
        "script_name": SCRIPT,
        "class_name": "Sandbox",
        "image": image,
        "instance_type": "standard-1",
        "max_instances": 1.0,
        "rollout_step_percentage": None,
        "rollout_active_grace_period": 0.0,
        "logs_enabled": True,
    }


@pytest.fixture
def fake() -> FakeContainersApi:
    api = FakeContainersApi()
    api.add_namespace(SCRIPT, "Sandbox")
    # Not "v1": the pull must use whatever username the credentials API returns.
    api.registry_username = "v2-acct-4f1e"
    return api


@pytest.mark.parametrize(
    ("media_type", "scheme"),
    [("application/vnd.oci.image.manifest.v1+json", "bearer"), (DOCKER_MANIFEST, "basic")],
)
def test_a_plain_image_manifest_is_accepted_with_the_apis_username(
    provider: ContainerApplicationProvider, fake: FakeContainersApi, media_type: str, scheme: Any
) -> None:
    fake.registry.scheme = scheme
    body = plain_manifest("app", media_type)
    fake.registry.push(REPOSITORY, body)

    result = provider.create(props(image_of(body)))

    assert result.id in fake.applications
    credentials = [b for m, p, b in fake.requests if p.endswith("/credentials")]
    assert credentials == [{"expiration_minutes": 15, "permissions": ["pull"]}]
    reads = [kind for kind, _ in fake.registry.requests]
    # Basic credentials first, as wrangler sends them; the token flow only when challenged.
    assert reads == (["manifest", "token", "manifest"] if scheme == "bearer" else ["manifest"])
    assert fake.registry.requests[-1] == ("manifest", image_of(body).split("/", 1)[1])


def test_an_index_with_an_attestation_stops_before_anything_is_created(
    provider: ContainerApplicationProvider, fake: FakeContainersApi
) -> None:
    index = attested_index(plain_manifest("app"))
    fake.registry.push(REPOSITORY, index)

    with pytest.raises(BuildError) as caught:
        provider.create(props(image_of(index)))

    message = str(caught.value)
    assert "is an image index (application/vnd.oci.image.index.v1+json)" in message
    assert "2 manifests (linux/amd64, attestation)" in message
    assert "--provenance=false" in message
    assert "linux/amd64" in message
    assert fake.applications == {}
    assert not [p for m, p, _ in fake.requests if m == "POST" and p == APPS]


def test_an_update_to_an_index_starts_no_rollout(
    provider: ContainerApplicationProvider, fake: FakeContainersApi
) -> None:
    good = plain_manifest("v1")
    index = attested_index(plain_manifest("v2"))
    fake.registry.push(REPOSITORY, good)
    fake.registry.push(REPOSITORY, index)
    created = provider.create(props(image_of(good)))
    assert created.outs is not None

    with pytest.raises(BuildError, match="image index"):
        provider.update(created.id, created.outs, props(image_of(index)))
    assert fake.rollouts == []
    assert fake.applications[created.id]["configuration"]["image"] == image_of(good)


def test_an_update_that_keeps_the_image_reads_no_manifest(
    provider: ContainerApplicationProvider, fake: FakeContainersApi
) -> None:
    body = plain_manifest("v1")
    fake.registry.push(REPOSITORY, body)
    created = provider.create(props(image_of(body)))
    assert created.outs is not None
    fake.registry.requests.clear()

    provider.update(created.id, created.outs, {**props(image_of(body)), "max_instances": 2.0})
    assert fake.registry.requests == []


def test_a_digest_the_registry_does_not_hold_says_the_push_did_not_complete(
    provider: ContainerApplicationProvider,
) -> None:
    with pytest.raises(BuildError, match=r"not in the registry \(HTTP 404\): the push did not"):
        provider.create(props(image_of(b"never pushed")))


def test_wrong_credentials_fail_with_the_status_and_no_secret(
    base_url: str, fake: FakeContainersApi
) -> None:
    body = plain_manifest("app")
    fake.registry.push(REPOSITORY, body)
    login = RegistryLogin(username="v1", password=SecretStr("expired-password-123"))
    with pytest.raises(BuildError) as caught:
        check_pushed_manifest(image_of(body), login, registry_url=base_url)
    assert "HTTP 401" in str(caught.value)
    assert "expired-password-123" not in str(caught.value)


def test_a_token_realm_that_is_not_https_gets_no_password(base_url: str) -> None:
    from fake_containers_api import serve as serve_app
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    class Elsewhere:
        def app(self) -> Starlette:
            async def manifest(_request: Any) -> Response:
                challenge = 'Bearer realm="http://attacker.example/token",service="x"'
                return Response(status_code=401, headers={"WWW-Authenticate": challenge})

            return Starlette(routes=[Route("/v2/{n:path}/manifests/{d}", manifest)])

    login = RegistryLogin(username="v1", password=SecretStr("secret-pw"))
    with (
        serve_app(Elsewhere()) as url,  # type: ignore[arg-type]
        pytest.raises(BuildError, match="token service that is not https"),
    ):
        check_pushed_manifest(image_of(b"x"), login, registry_url=url)


def test_the_image_is_declared_as_wrangler_builds_it(tmp_path: Path) -> None:
    """One platform, one registry export from `push`, no extra exports, no CLI (`exec`) mode."""
    from tests.infra.test_container_component import build_context, declare, run_under_mocks

    context, dockerfile = build_context.__wrapped__(tmp_path)  # type: ignore[attr-defined]
    mocks, _, _ = run_under_mocks(lambda: declare(context, dockerfile))
    image = mocks.resources["sandbox-image"][1]
    assert image["platforms"] == ["linux/amd64"]
    assert image["push"] is True
    assert "exports" not in image
    assert "exec" not in image
    assert "load" not in image


def test_refresh_keeps_an_image_whose_credential_expired() -> None:
    """`pulumi refresh` runs the docker-build plugin of this version; before 0.0.21 its Image.Read
    treated a 401 from the expired registry password as "tag gone" and dropped the image from
    state (pulumi/pulumi-docker-build#929, fixed by #930)."""
    plugin = Path(pulumi_docker_build.__file__).with_name("pulumi-plugin.json")
    version = json.loads(plugin.read_text())["version"]
    assert tuple(int(part) for part in version.split(".")) >= (0, 0, 21), version
