"""The Container component under Pulumi mocks, and the registry helpers it relies on."""

from __future__ import annotations

import asyncio
import contextvars
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pulumi
import pulumi_cloudflare as cloudflare
import pytest
from fake_containers_api import ACCOUNT_ID, TOKEN, FakeContainersApi

from infra.components.container import Container, ContainerArgs
from infra.errors import BuildError
from infra.providers.cloudflare_api import CloudflareApiError
from infra.providers.registry import (
    content_tag,
    copied_sources,
    generate_credentials,
    pushes_for_real,
    registry_login,
)
from infra.pulumi_internals import (
    MockMonitor,
    finish_offline,
    is_secret_value,
    run_offline,
    sync_await,
    unwrap_secret,
)

DIGEST = "sha256:" + "c" * 64
APP_TYPE = "pulumi-python:dynamic/edgeagent:ContainerApplication"


class Recorder(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: dict[str, tuple[str, dict[str, Any]]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources[args.name] = (args.typ, dict(args.inputs))
        state = dict(args.inputs)
        if args.typ == "docker-build:index:Image":
            state["digest"] = DIGEST
        if args.typ == APP_TYPE:
            state.update(application_id="app-1", namespace_id="ns-1")
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None


class DependencyMonitor(MockMonitor):
    """Also records each resource's parent and explicit dependencies (by resource name)."""

    def __init__(self, mocks: Recorder) -> None:
        super().__init__(mocks)
        self.parents: dict[str, str] = {}
        self.dependencies: dict[str, set[str]] = {}

    def RegisterResource(self, request: Any) -> Any:
        self.parents[request.name] = request.parent.rpartition("::")[2]
        self.dependencies[request.name] = {urn.rpartition("::")[2] for urn in request.dependencies}
        return super().RegisterResource(request)  # type: ignore[no-untyped-call]


@pytest.fixture
def build_context(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "agent" / "runtime").mkdir(parents=True)
    (tmp_path / "agent" / "runtime" / "app.py").write_text("print('v1')\n")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / "uv.lock").write_text("lock\n")
    (tmp_path / "README.md").write_text("not copied\n")
    dockerfile = tmp_path / "agent" / "Dockerfile"
    dockerfile.write_text(
        "FROM python:3.11-slim AS base\n"
        "COPY --chown=app:app pyproject.toml uv.lock /app/\n"
        'COPY ["agent/runtime", "/app/agent/runtime"]\n'
        "COPY --from=base /usr/bin/env /usr/bin/env\n"
        "COPY <<EOF /app/banner.txt\n"
        "ADD https://example.com/ca.pem /etc/ca.pem\n"
        "RUN pip install uv \\\n  && uv sync\n"
    )
    return tmp_path, dockerfile


def run_under_mocks(
    build: Any, *, preview: bool = False, config: dict[str, str] | None = None
) -> tuple[Recorder, DependencyMonitor, dict[str, Any]]:
    """Run `build()` in a fresh Pulumi mock runtime; returns what was registered and outputs."""
    mocks = Recorder()
    monitor = DependencyMonitor(mocks)

    def run() -> dict[str, Any]:
        declared: list[dict[str, pulumi.Output[Any]]] = []

        def start() -> None:
            pulumi.runtime.set_all_config(config or {}, sorted(config or {}))
            pulumi.runtime.set_mocks(mocks, "edgeagent", "dev", preview=preview, monitor=monitor)

        # Like the offline plan: the run waits for every registration before it returns, so no
        # task is left pending on a loop this function closes.
        run_offline(lambda: declared.append(build()), start)
        outputs = sync_await(_resolved(declared[0]))
        finish_offline()
        return outputs

    # Pulumi registers resources on the loop's default executor, and its sync_await gives a
    # worker thread without an event loop a new one that nobody closes (collected later, in
    # another test). Give each worker thread a loop we own, and close them all afterwards.
    thread_loops: list[asyncio.AbstractEventLoop] = []

    def own_thread_loop() -> None:
        thread_loop = asyncio.new_event_loop()
        asyncio.set_event_loop(thread_loop)
        thread_loops.append(thread_loop)

    executor = ThreadPoolExecutor(max_workers=4, initializer=own_thread_loop)
    loop = asyncio.new_event_loop()
    loop.set_default_executor(executor)
    asyncio.set_event_loop(loop)
    try:
        outputs = contextvars.Context().run(run)
    finally:
        executor.shutdown(wait=True)
        for thread_loop in thread_loops:
            thread_loop.close()
        asyncio.set_event_loop(None)
        loop.close()
    return mocks, monitor, outputs


async def _resolved(outputs: dict[str, pulumi.Output[Any]]) -> dict[str, Any]:
    """Each output's value, plus `<key>.secret` telling whether it is marked secret."""
    resolved: dict[str, Any] = {}
    for key, value in outputs.items():
        resolved[key] = await value.future()
        resolved[f"{key}.secret"] = await value.is_secret()
    return resolved


def declare(context: Path, dockerfile: Path, **overrides: Any) -> dict[str, pulumi.Output[Any]]:
    worker = cloudflare.WorkersDeployment(
        "edge-deployment",
        account_id=ACCOUNT_ID,
        script_name="edgeagent-acme-dev",
        strategy="percentage",
        versions=[{"percentage": 100, "version_id": "v-1"}],
    )
    settings: dict[str, Any] = {
        "account_id": ACCOUNT_ID,
        "app_name": "edgeagent-acme-dev-sandbox",
        "script_name": "edgeagent-acme-dev",
        "worker": worker,
        "instance_type": "standard-1",
        "max_instances": 1,
        "context": context,
        "dockerfile": dockerfile,
        **overrides,
    }
    container = Container("sandbox", ContainerArgs(**settings))
    return {
        "image_ref": container.image_ref,
        "application_id": container.application_id,
        "password": pulumi.Output.from_input(pushes_for_real()),
    }


def test_image_and_application_are_wired_to_the_worker(build_context: tuple[Path, Path]) -> None:
    context, dockerfile = build_context
    mocks, monitor, outputs = run_under_mocks(lambda: declare(context, dockerfile))

    assert sorted((typ, name) for name, (typ, _) in mocks.resources.items()) == [
        ("cloudflare:index/workersDeployment:WorkersDeployment", "edge-deployment"),
        ("docker-build:index:Image", "sandbox-image"),
        ("edgeagent:index:Container", "sandbox"),
        (APP_TYPE, "sandbox-application"),
    ]
    repo = f"registry.cloudflare.com/{ACCOUNT_ID}/edgeagent-acme-dev-sandbox"
    image = mocks.resources["sandbox-image"][1]
    assert image["platforms"] == ["linux/amd64"]
    assert image["push"] is True
    assert image["buildOnPreview"] is False
    assert image["context"] == {"location": str(context)}
    assert image["dockerfile"] == {"location": str(dockerfile)}
    assert len(image["tags"]) == 1
    assert re.fullmatch(re.escape(repo) + r":[0-9a-f]{16}", image["tags"][0])
    # The password makes the registry list a secret in state.
    assert is_secret_value(image["registries"])
    assert unwrap_secret(image["registries"]) == [
        {"address": "registry.cloudflare.com", "username": "v1", "password": ""}
    ]

    application = mocks.resources["sandbox-application"][1]
    assert application["image"] == f"{repo}@{DIGEST}"
    assert application["name"] == "edgeagent-acme-dev-sandbox"
    assert application["script_name"] == "edgeagent-acme-dev"
    assert application["class_name"] == "Sandbox"
    assert application["instance_type"] == "standard-1"
    assert application["max_instances"] == 1
    assert "__provider" in application

    assert monitor.parents["sandbox-image"] == "sandbox"
    assert monitor.parents["sandbox-application"] == "sandbox"
    assert monitor.dependencies["sandbox-application"] >= {"edge-deployment", "sandbox-image"}
    assert outputs["image_ref"] == f"{repo}@{DIGEST}"
    assert outputs["password"] is False  # mocks never fetch real credentials


def test_previews_request_no_credentials(build_context: tuple[Path, Path]) -> None:
    context, dockerfile = build_context
    mocks, _, _ = run_under_mocks(lambda: declare(context, dockerfile), preview=True)
    registries = unwrap_secret(mocks.resources["sandbox-image"][1]["registries"])
    assert registries[0]["password"] == ""


# --- content tag ------------------------------------------------------------------------------


def test_copied_sources_follow_copy_and_add_but_not_other_stages(
    build_context: tuple[Path, Path],
) -> None:
    _, dockerfile = build_context
    assert copied_sources(dockerfile) == ["pyproject.toml", "uv.lock", "agent/runtime"]


def test_content_tag_changes_only_with_what_the_image_copies(
    build_context: tuple[Path, Path],
) -> None:
    context, dockerfile = build_context
    first = content_tag(context, dockerfile)

    (context / "README.md").write_text("edited, but not in the image\n")
    (context / "agent" / "runtime" / "__pycache__").mkdir()
    (context / "agent" / "runtime" / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\0")
    assert content_tag(context, dockerfile) == first

    (context / "agent" / "runtime" / "app.py").write_text("print('v2')\n")
    second = content_tag(context, dockerfile)
    assert second != first

    dockerfile.write_text(dockerfile.read_text() + "ENV X=1\n")
    assert content_tag(context, dockerfile) not in (first, second)


def test_a_missing_dockerfile_or_copied_path_is_a_build_error(
    build_context: tuple[Path, Path],
) -> None:
    context, dockerfile = build_context
    with pytest.raises(BuildError, match=r"Dockerfile\.missing not found: the sandbox image"):
        content_tag(context, context / "agent" / "Dockerfile.missing")
    dockerfile.write_text(dockerfile.read_text() + "COPY skills/ /app/skills/\n")
    with pytest.raises(BuildError, match="copies 'skills/', which is not in the build context"):
        content_tag(context, dockerfile)


# --- push credentials -------------------------------------------------------------------------


@pytest.fixture
def fake() -> FakeContainersApi:
    return FakeContainersApi()


def test_push_credentials_come_from_the_containers_api(
    base_url: str, fake: FakeContainersApi
) -> None:
    from pydantic import SecretStr

    fake.registry_username = "v2-acct-4f1e"
    login = generate_credentials(ACCOUNT_ID, SecretStr(TOKEN), base_url=base_url)

    assert login.username == "v2-acct-4f1e"
    assert login.password.get_secret_value() == fake.issued_passwords[-1]
    assert fake.issued_passwords[-1] not in repr(login)
    method, path, body = fake.requests[-1]
    assert (method, path) == (
        "POST",
        f"/accounts/{ACCOUNT_ID}/containers/registries/registry.cloudflare.com/credentials",
    )
    assert body == {"expiration_minutes": 15, "permissions": ["push", "pull"]}
    assert fake.shape_errors == []


def test_push_credential_errors_do_not_leak_the_token(
    base_url: str, fake: FakeContainersApi
) -> None:
    from pydantic import SecretStr

    fake.fail("POST", "credentials", 403)
    with pytest.raises(CloudflareApiError, match="HTTP 403") as caught:
        generate_credentials(ACCOUNT_ID, SecretStr(TOKEN), base_url=base_url, max_retries=0)
    assert TOKEN not in str(caught.value)


def test_registry_login_outside_a_real_up_is_a_placeholder() -> None:
    def build() -> dict[str, pulumi.Output[Any]]:
        username, password = registry_login(ACCOUNT_ID, pulumi.Output.secret(TOKEN))
        return {"username": pulumi.Output.from_input(username), "password": password}

    _, _, outputs = run_under_mocks(build)
    assert (outputs["username"], outputs["password"], outputs["password.secret"]) == (
        "v1",
        "",
        True,
    )


@pytest.mark.parametrize("source", ["argument", "provider config", "environment"])
def test_a_real_up_logs_in_with_the_username_and_secret_password_the_api_returns(
    base_url: str, fake: FakeContainersApi, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    from infra.providers import registry

    fake.registry_username = "v2-acct-4f1e"
    monkeypatch.setattr(registry, "pushes_for_real", lambda: True)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", base_url)
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    config: dict[str, str] = {}
    if source == "provider config":
        config["cloudflare:apiToken"] = TOKEN
    if source == "environment":
        monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)

    def build() -> dict[str, pulumi.Output[Any]]:
        token = pulumi.Output.secret(TOKEN) if source == "argument" else None
        username, password = registry.registry_login(ACCOUNT_ID, token)
        return {
            "username": pulumi.Output.from_input(username),
            "password": password,
        }

    _, _, outputs = run_under_mocks(build, config=config)
    assert outputs["username"] == "v2-acct-4f1e"
    assert outputs["username.secret"] is False
    assert len(fake.issued_passwords) == 1  # one call yields both
    assert outputs["password"] == fake.issued_passwords[-1]
    assert outputs["password.secret"] is True
    assert fake.bad_auth_attempts == 0


def test_the_openclaw_engine_builds_its_own_target_and_tags_the_variant(
    build_context: tuple[Path, Path],
) -> None:
    context, dockerfile = build_context
    mocks, _, _ = run_under_mocks(
        lambda: declare(context, dockerfile, engine="openclaw", openclaw_version="2026.9.6")
    )
    image = mocks.resources["sandbox-image"][1]
    native, _, _ = run_under_mocks(lambda: declare(context, dockerfile))
    native_tag = native.resources["sandbox-image"][1]["tags"][0]

    assert image["target"] == "openclaw"
    assert image["buildArgs"] == {"OPENCLAW_VERSION": "2026.9.6"}
    assert image["tags"] == [f"{native_tag}-openclaw-2026.9.6"]
    assert native.resources["sandbox-image"][1]["target"] == "native"
