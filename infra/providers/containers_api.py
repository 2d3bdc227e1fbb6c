"""The Containers API calls `wrangler deploy` makes, in its order, through the official SDK.

Order (cloudflare/workers-sdk packages/wrangler/src/containers/deploy.ts): find the Durable
Object namespace of the Worker's class, list applications by name, then either create one
bound to that namespace, or PATCH the existing one and start a rollout of the new
configuration. An application bound to another namespace is an error, never silently rebound.
"""

from __future__ import annotations

from typing import Any, Literal

import cloudflare
from cloudflare.types.containers.applications.rollout_create_params import Step
from pydantic import BaseModel, ConfigDict

from infra.providers.cloudflare_api import CloudflareApiError, describe_api_error

InstanceType = Literal["lite", "basic", "standard-1", "standard-2", "standard-3", "standard-4"]
StepPercentage = Literal[5, 10, 20, 25, 50, 100]
STEP_PERCENTAGES: tuple[StepPercentage, ...] = (5, 10, 20, 25, 50, 100)
# wrangler's default when nothing is configured: everything at once for a single instance,
# otherwise 10% first and then the rest (config.ts, rolloutStepPercentageFallback).
DEFAULT_STEPS: tuple[StepPercentage, ...] = (10, 100)
# wrangler's default placement tiers; not in the SDK's types, sent as an extra body key.
DEFAULT_CONSTRAINTS: dict[str, Any] = {"tiers": [1, 2]}
# Placement jurisdictions a stack can ask for: the R2 jurisdictions other than `default`.
Jurisdiction = Literal["eu", "fedramp"]


def constraints(jurisdiction: Jurisdiction | None) -> dict[str, Any]:
    """Placement constraints as wrangler sends them: its tiers, plus the jurisdiction if any.

    `constraints.jurisdiction` keeps every instance inside that compliance boundary (eu: EEUR,
    WEUR; fedramp: ENAM, WNAM); wrangler sends it on create and on modify (containers/config.ts).
    https://developers.cloudflare.com/containers/platform-details/placement/
    """
    if jurisdiction is None:
        return dict(DEFAULT_CONSTRAINTS)
    return {**DEFAULT_CONSTRAINTS, "jurisdiction": jurisdiction}


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Logs(_Lenient):
    enabled: bool | None = None


class _Observability(_Lenient):
    logs: _Logs | None = None


class LiveConfiguration(_Lenient):
    image: str | None = None
    instance_type: str | None = None
    observability: _Observability | None = None

    @property
    def logs_enabled(self) -> bool:
        return bool(
            self.observability and self.observability.logs and self.observability.logs.enabled
        )


class _Constraints(_Lenient):
    jurisdiction: str | None = None


class _DurableObjects(_Lenient):
    namespace_id: str


class LiveApplication(_Lenient):
    """The fields of an application that this project manages, as the API reports them."""

    id: str
    name: str
    scheduling_policy: str
    configuration: LiveConfiguration | None = None
    max_instances: int | None = None
    durable_objects: _DurableObjects | None = None
    rollout_active_grace_period: int | None = None
    constraints: _Constraints | None = None

    @property
    def jurisdiction(self) -> str | None:
        return self.constraints.jurisdiction if self.constraints else None

    @property
    def namespace_id(self) -> str | None:
        return self.durable_objects.namespace_id if self.durable_objects else None

    @classmethod
    def from_sdk(cls, response: BaseModel) -> LiveApplication:
        return cls.model_validate(response.model_dump())


class DesiredApplication(_Lenient):
    """What the stack declares; built by the provider from validated inputs."""

    name: str
    image: str
    instance_type: InstanceType
    max_instances: int
    rollout_active_grace_period: int
    logs_enabled: bool
    rollout_step_percentage: StepPercentage | None = None
    jurisdiction: Jurisdiction | None = None

    def placement_differs(self, live: LiveApplication) -> bool:
        return live.jurisdiction != self.jurisdiction

    def configuration_differs(self, live: LiveApplication) -> bool:
        config = live.configuration or LiveConfiguration()
        return (
            config.image != self.image
            or config.instance_type != self.instance_type
            or config.logs_enabled != self.logs_enabled
        )

    def scaling_differs(self, live: LiveApplication) -> bool:
        return (
            live.max_instances != self.max_instances
            or (live.rollout_active_grace_period or 0) != self.rollout_active_grace_period
        )


def find_namespace_id(
    client: cloudflare.Cloudflare, account_id: str, *, script_name: str, class_name: str
) -> str:
    """Id of the Durable Object namespace of `class_name` in Worker `script_name`."""
    try:
        for namespace in client.durable_objects.namespaces.list(account_id=account_id):
            if namespace.script == script_name and namespace.class_ == class_name and namespace.id:
                return namespace.id
    except cloudflare.APIError as error:
        raise describe_api_error("listing Durable Object namespaces", error) from None
    raise CloudflareApiError(
        f"Durable Object class {class_name!r} of Worker {script_name!r} has no namespace on "
        f"account {account_id}: the Worker upload that provisions the class (its `exports`, "
        "docs/deploy-rules.md) must be deployed before the container application"
    )


def find_application(
    client: cloudflare.Cloudflare, account_id: str, name: str
) -> LiveApplication | None:
    """The application named `name`, if one exists."""
    try:
        for app in client.containers.applications.list(account_id=account_id, name=name):
            if app.name == name:
                return LiveApplication.from_sdk(app)
    except cloudflare.APIError as error:
        raise describe_api_error(f"listing container applications named {name!r}", error) from None
    return None


def get_application(
    client: cloudflare.Cloudflare, account_id: str, app_id: str
) -> LiveApplication | None:
    """The application with id `app_id`, or None when it no longer exists."""
    try:
        return LiveApplication.from_sdk(
            client.containers.applications.get(app_id, account_id=account_id)
        )
    except cloudflare.NotFoundError:
        return None
    except cloudflare.APIError as error:
        raise describe_api_error(f"reading container application {app_id}", error) from None


def create_application(
    client: cloudflare.Cloudflare, account_id: str, desired: DesiredApplication, namespace_id: str
) -> LiveApplication:
    """POST a scheduler-backed application bound to the Durable Object namespace."""
    try:
        created = client.containers.applications.create(
            account_id=account_id,
            name=desired.name,
            scheduling_policy="default",
            configuration={
                "image": desired.image,
                "instance_type": desired.instance_type,
                "observability": {"logs": {"enabled": desired.logs_enabled}},
            },
            # Deprecated in favour of max_instances; wrangler sends 0.
            instances=0,
            max_instances=desired.max_instances,
            durable_objects={"namespace_id": namespace_id},
            rollout_active_grace_period=desired.rollout_active_grace_period,
            extra_body={"constraints": constraints(desired.jurisdiction)},
        )
    except cloudflare.APIError as error:
        raise describe_api_error(
            f"creating container application {desired.name!r}", error
        ) from None
    return LiveApplication.from_sdk(created)


def modify_application(
    client: cloudflare.Cloudflare,
    account_id: str,
    live: LiveApplication,
    desired: DesiredApplication,
) -> bool:
    """PATCH what can change in place, then roll out a new configuration; False if nothing to do."""
    scaling, configuration = desired.scaling_differs(live), desired.configuration_differs(live)
    placement = desired.placement_differs(live)
    if scaling or placement:
        try:
            client.containers.applications.edit(
                live.id,
                account_id=account_id,
                max_instances=desired.max_instances,
                rollout_active_grace_period=desired.rollout_active_grace_period,
                # The whole object, as wrangler sends it: a PATCH replaces `constraints`.
                extra_body={"constraints": constraints(desired.jurisdiction)}
                if placement
                else None,
            )
        except cloudflare.APIError as error:
            raise describe_api_error(
                f"modifying container application {live.name!r}", error
            ) from None
    if configuration:
        steps = rollout_steps(desired.max_instances, desired.rollout_step_percentage)
        try:
            client.containers.applications.rollouts.create(
                live.id,
                account_id=account_id,
                description="edgeagent: progressive update",
                strategy="rolling",
                kind="full_auto",
                target_configuration={
                    "image": desired.image,
                    "instance_type": desired.instance_type,
                    "observability": {"logs": {"enabled": desired.logs_enabled}},
                },
                step_percentage=steps if isinstance(steps, int) else cloudflare.omit,
                steps=cloudflare.omit if isinstance(steps, int) else steps,
            )
        except cloudflare.APIError as error:
            raise describe_api_error(
                f"rolling out container application {live.name!r}", error
            ) from None
    return scaling or placement or configuration


def rollout_steps(
    max_instances: int, step_percentage: StepPercentage | None
) -> StepPercentage | list[Step]:
    """wrangler's rule: a configured percentage, else 100 below two instances, else 10 then 100."""
    if step_percentage is not None:
        return step_percentage
    if max_instances < 2:
        return 100
    total = len(DEFAULT_STEPS)
    return [
        {
            "description": f"Step {index} of {total} - rollout at {percentage}% of instances",
            "step_size": {"percentage": percentage},
        }
        for index, percentage in enumerate(DEFAULT_STEPS, start=1)
    ]


def delete_application(client: cloudflare.Cloudflare, account_id: str, app_id: str) -> None:
    """DELETE the application; one that is already gone counts as deleted."""
    try:
        client.containers.applications.delete(app_id, account_id=account_id)
    except cloudflare.NotFoundError:
        return
    except cloudflare.APIError as error:
        raise describe_api_error(f"deleting container application {app_id}", error) from None
