"""Pulumi dynamic provider for a Cloudflare Containers application attached to a Durable Object.

pulumi_cloudflare has no such resource; `wrangler deploy` normally makes these calls. Declaring
it here puts the application in previews and makes drift visible on refresh.

Owns: the application (create or adopt, PATCH + rollout, delete). Does not own: the image (the
Container component builds and pushes it and passes the digest-pinned reference) nor the Worker
whose Durable Object class it attaches to (that Worker must exist first: the component orders it).
Before an application is created or moved to another image, the pushed manifest is read back
with fresh pull credentials and must be one image manifest, not an index (`infra.providers.
manifest`). The digest lives in this resource's state, so the application never depends on the
image resource's own refresh (see docs/retention.md, "pulumi refresh and the image").

The provider object is pickled into the state by Pulumi, so it holds no client and no token:
both are made inside each call from the stack config or the environment
(see `infra.providers.cloudflare_api`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cloudflare
import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from infra.providers import containers_api as api
from infra.providers.cloudflare_api import (
    API_TOKEN_CONFIG_KEY,
    CloudflareApiError,
    make_client,
    resolve_api_token,
)
from infra.providers.manifest import check_pushed_manifest
from infra.providers.registry import generate_credentials
from infra.pulumi_internals import is_unknown

REGISTRY_HOST = "registry.cloudflare.com"
# Changing any of these means another application (or another namespace): replace it, deleting
# first because names are unique per account and a namespace takes one application.
REPLACE_KEYS = ("account_id", "name", "script_name", "class_name")
UPDATE_KEYS = (
    "image",
    "jurisdiction",
    "instance_type",
    "max_instances",
    "rollout_active_grace_period",
    "logs_enabled",
)

_EXAMPLES = {
    "account_id": "0123456789abcdef0123456789abcdef",
    "name": "edgeagent-acme-dev-sandbox",
    "script_name": "edgeagent-acme-dev",
    "class_name": "Sandbox",
    "image": f"{REGISTRY_HOST}/<account>/edgeagent-sandbox@sha256:<64 hex digits>",
    "instance_type": "standard-1",
    "max_instances": "1",
    "rollout_step_percentage": "100",
    "rollout_active_grace_period": "0",
    "logs_enabled": "true",
    "jurisdiction": "eu",
}


class ApplicationInputs(BaseModel):
    """The resource's inputs; everything here is stored in state, so nothing secret belongs here."""

    # Lax on purpose: Pulumi hands numbers to dynamic providers as floats (1.0).
    model_config = ConfigDict(extra="forbid", frozen=True)

    account_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    name: str = Field(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
    script_name: str = Field(min_length=1)
    class_name: str = Field(pattern=r"^[A-Za-z_$][A-Za-z0-9_$]*$")
    image: str
    instance_type: api.InstanceType
    max_instances: int = Field(ge=1)
    rollout_step_percentage: api.StepPercentage | None = None
    rollout_active_grace_period: int = Field(default=0, ge=0)
    logs_enabled: bool = True
    # Placement boundary (`constraints.jurisdiction`); None places anywhere.
    jurisdiction: api.Jurisdiction | None = None

    @field_validator("image")
    @classmethod
    def _digest_pinned(cls, image: str) -> str:
        if "@sha256:" not in image:
            raise ValueError("must be pinned by digest so an unchanged build changes nothing")
        return image

    def desired(self) -> api.DesiredApplication:
        return api.DesiredApplication(
            name=self.name,
            image=self.image,
            instance_type=self.instance_type,
            max_instances=self.max_instances,
            rollout_active_grace_period=self.rollout_active_grace_period,
            logs_enabled=self.logs_enabled,
            rollout_step_percentage=self.rollout_step_percentage,
            jurisdiction=self.jurisdiction,
        )


def _inputs_of(props: dict[str, Any]) -> ApplicationInputs:
    return ApplicationInputs.model_validate(
        {k: props[k] for k in ApplicationInputs.model_fields if k in props}
    )


def _has_unknowns(props: dict[str, Any]) -> bool:
    # The dynamic-provider host hands Check/Diff preview unknowns as `Unknown` objects.
    return any(is_unknown(value) for value in props.values())


def check_failures(error: ValidationError) -> list[CheckFailure]:
    """One failure per bad key: what is wrong and a valid example."""
    failures = []
    for issue in error.errors():
        key = str(issue["loc"][0]) if issue["loc"] else "inputs"
        example = _EXAMPLES.get(key)
        hint = f" (example: {example})" if example else ""
        failures.append(CheckFailure(key, f"{key}: {issue['msg']}{hint}"))
    return failures


class ContainerApplicationProvider(ResourceProvider):
    """CRUD for one container application through the `cloudflare` SDK."""

    def __init__(
        self,
        *,
        base_url: str | None = None,
        max_retries: int = 2,
        registry_url: str | None = None,
    ) -> None:
        super().__init__()
        self.base_url = base_url
        self.max_retries = max_retries
        # None: the registry named in the image reference, over https.
        self.registry_url = registry_url
        self._config: dict[str, object] = {}

    # The token may sit in `_config` after `configure`; never let it into a pickle.
    def __getstate__(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "max_retries": self.max_retries,
            "registry_url": self.registry_url,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.base_url = state["base_url"]
        self.max_retries = state["max_retries"]
        self.registry_url = state.get("registry_url")  # absent from providers pickled before
        self._config = {}

    def configure(self, req: ConfigureRequest) -> None:
        self._config = {API_TOKEN_CONFIG_KEY: req.config.get(API_TOKEN_CONFIG_KEY)}

    def _client(self) -> cloudflare.Cloudflare:
        """A client for one provider call: use it in `with`, which closes its connections."""
        token = resolve_api_token(self._config)
        return make_client(token, base_url=self.base_url, max_retries=self.max_retries)

    def _check_image(self, inputs: ApplicationInputs) -> None:
        """Stop before the platform is told to run an index it cannot run (wrangler's rule)."""
        login = generate_credentials(
            inputs.account_id,
            resolve_api_token(self._config),
            permissions=("pull",),
            base_url=self.base_url,
            max_retries=self.max_retries,
        )
        check_pushed_manifest(inputs.image, login, registry_url=self.registry_url)

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        if _has_unknowns(news):
            return CheckResult(news, [])
        try:
            inputs = _inputs_of(news)
        except ValidationError as error:
            return CheckResult(news, check_failures(error))
        return CheckResult({**news, **inputs.model_dump()}, [])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [key for key in REPLACE_KEYS if olds.get(key) != news.get(key)]
        updates = [key for key in UPDATE_KEYS if olds.get(key) != news.get(key)]
        return DiffResult(
            changes=bool(replaces or updates),
            replaces=replaces,
            delete_before_replace=True,
        )

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = _inputs_of(props)
        self._check_image(inputs)
        with self._client() as client:
            namespace_id = api.find_namespace_id(
                client,
                inputs.account_id,
                script_name=inputs.script_name,
                class_name=inputs.class_name,
            )
            existing = api.find_application(client, inputs.account_id, inputs.name)
            if existing is None:
                app = api.create_application(
                    client, inputs.account_id, inputs.desired(), namespace_id
                )
            else:
                # Adopt: a previous run (or wrangler) created it; converge it like an update.
                _require_same_namespace(existing, namespace_id)
                api.modify_application(client, inputs.account_id, existing, inputs.desired())
                app = existing
        return CreateResult(app.id, _outputs(inputs, app.id, namespace_id))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        inputs = _inputs_of(props)
        with self._client() as client:
            live = api.get_application(client, inputs.account_id, id_)
        if live is None:
            return ReadResult("", {})
        config = live.configuration or api.LiveConfiguration()
        outs = {
            **props,
            "name": live.name,
            "image": config.image,
            "instance_type": config.instance_type,
            "max_instances": live.max_instances,
            "rollout_active_grace_period": live.rollout_active_grace_period or 0,
            "logs_enabled": config.logs_enabled,
            "jurisdiction": live.jurisdiction,
            "application_id": live.id,
            "namespace_id": live.namespace_id,
        }
        return ReadResult(live.id, outs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs = _inputs_of(news)
        if olds.get("image") != inputs.image:
            self._check_image(inputs)
        with self._client() as client:
            live = api.get_application(client, inputs.account_id, id_)
            if live is None:
                raise CloudflareApiError(
                    f"container application {inputs.name!r} ({id_}) no longer exists: run "
                    "`pulumi refresh` so the next `pulumi up` creates it again"
                )
            namespace_id = api.find_namespace_id(
                client,
                inputs.account_id,
                script_name=inputs.script_name,
                class_name=inputs.class_name,
            )
            _require_same_namespace(live, namespace_id)
            api.modify_application(client, inputs.account_id, live, inputs.desired())
        return UpdateResult(_outputs(inputs, id_, namespace_id))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        with self._client() as client:
            api.delete_application(client, _inputs_of(props).account_id, id_)


def _require_same_namespace(app: api.LiveApplication, namespace_id: str) -> None:
    if app.scheduling_policy != "default":
        raise CloudflareApiError(
            f"container application {app.name!r} uses scheduling_policy "
            f"{app.scheduling_policy!r}; this stack manages scheduler-backed ('default') "
            "applications: delete it (`wrangler containers delete`) or choose another name"
        )
    if app.namespace_id != namespace_id:
        raise CloudflareApiError(
            f"container application {app.name!r} is bound to Durable Object namespace "
            f"{app.namespace_id}, not {namespace_id} of this stack's Worker: delete that "
            "application (`wrangler containers delete`) or choose another name, then run "
            "`pulumi up` again"
        )


def _outputs(inputs: ApplicationInputs, app_id: str, namespace_id: str) -> dict[str, Any]:
    return {**inputs.model_dump(), "application_id": app_id, "namespace_id": namespace_id}


@dataclass(frozen=True, kw_only=True)
class ContainerApplicationArgs:
    """Inputs of `ContainerApplication`; see `ApplicationInputs` for the rules."""

    account_id: pulumi.Input[str]
    name: pulumi.Input[str]
    script_name: pulumi.Input[str]
    class_name: pulumi.Input[str]
    image: pulumi.Input[str]
    instance_type: pulumi.Input[str]
    max_instances: pulumi.Input[int]
    rollout_step_percentage: pulumi.Input[int] | None = None
    rollout_active_grace_period: pulumi.Input[int] = 0
    logs_enabled: pulumi.Input[bool] = True
    jurisdiction: pulumi.Input[str] | None = None


class ContainerApplication(
    pulumi.dynamic.Resource, module="edgeagent", name="ContainerApplication"
):
    """A Containers application bound to a Worker's Durable Object class."""

    application_id: pulumi.Output[str]
    namespace_id: pulumi.Output[str]
    image: pulumi.Output[str]
    name: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        args: ContainerApplicationArgs,
        opts: pulumi.ResourceOptions | None = None,
        provider: ContainerApplicationProvider | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "account_id": args.account_id,
            "name": args.name,
            "script_name": args.script_name,
            "class_name": args.class_name,
            "image": args.image,
            "instance_type": args.instance_type,
            "max_instances": args.max_instances,
            "rollout_step_percentage": args.rollout_step_percentage,
            "rollout_active_grace_period": args.rollout_active_grace_period,
            "logs_enabled": args.logs_enabled,
            "jurisdiction": args.jurisdiction,
            "application_id": None,
            "namespace_id": None,
        }
        super().__init__(provider or ContainerApplicationProvider(), resource_name, props, opts)
