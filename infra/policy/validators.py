"""What edgeagent promises about every deployed stack, as plain functions over its resources.

Each validator takes the stack's resources (from the offline plan JSON, or adapted from CrossGuard
by `infra/policy/pack.py`) and returns its violations; Access coverage and token scope have
their own modules. They know Cloudflare resource shapes as
pulumi_cloudflare 6.x declares them (camelCase inputs), nothing about how the program builds them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from agent.contract.settings import local_only, secret_bindings
from infra.policy.access import hostnames_behind_access
from infra.policy.budgets import prod_has_a_stack_wide_spend_limit, spend_limit_advised
from infra.policy.plan import SECRET, PlanResource, Violation, enabled, of_type, resources_of
from infra.policy.residency import storage_and_sandboxes_share_a_jurisdiction
from infra.policy.tokens import tokens_scoped_to_named_resources

__all__ = [
    "POLICIES",
    "PolicySpec",
    "Scope",
    "Violation",
    "hostnames_behind_access",
    "no_local_dev_origin",
    "no_public_r2",
    "no_secret_in_plain_binding",
    "prod_has_a_stack_wide_spend_limit",
    "spend_limit_advised",
    "storage_and_sandboxes_share_a_jurisdiction",
    "tokens_scoped_to_named_resources",
    "validate_plan",
    "validate_resources",
]


class Scope(StrEnum):
    """Whether a validator judges resources one by one or needs the whole stack."""

    RESOURCE = "resource"
    STACK = "stack"


Validator = Callable[[Sequence[PlanResource]], list[Violation]]

# Worker bindings declared secret (agent/contract/settings.py); never as plain_text.
CONTRACT_SECRETS = secret_bindings()
# Names that read like secrets but are public by design.
PUBLIC_BY_DESIGN = frozenset({"DISCORD_PUBLIC_KEY", "DISCORD_APPLICATION_ID"})
_SECRET_LIKE = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|PRIVATE|API_KEY|ACCESS_KEY|CREDENTIAL)")
# The local-dev seams (docs/contract.md): proxy to a local origin, fixed identity. Never deployed.
LOCAL_DEV_NAMES = local_only()
PLAIN_BINDING_TYPES = frozenset({"plain_text", "json"})


def no_public_r2(resources: Sequence[PlanResource]) -> list[Violation]:
    """No bucket is reachable without credentials: no r2.dev URL, no public custom domain."""
    found = []
    for r in of_type(resources, "R2ManagedDomain"):
        if enabled(r.inputs.get("enabled")):
            found.append(
                Violation(
                    "no-public-r2",
                    r.name,
                    f"exposes bucket {r.inputs.get('bucketName')!r} on a public r2.dev URL; "
                    "state buckets are private (set enabled: false or remove the resource)",
                )
            )
    for r in of_type(resources, "R2CustomDomain"):
        if enabled(r.inputs.get("enabled")):
            found.append(
                Violation(
                    "no-public-r2",
                    r.name,
                    f"serves bucket {r.inputs.get('bucketName')!r} publicly on "
                    f"{r.inputs.get('domain')!r}; state buckets are private",
                )
            )
    return found


def _bindings(resource: PlanResource) -> Iterator[Mapping[str, Any]]:
    bindings = resource.inputs.get("bindings")
    if isinstance(bindings, Sequence) and not isinstance(bindings, str):
        yield from (b for b in bindings if isinstance(b, Mapping))


def _looks_secret(name: str) -> bool:
    return name in CONTRACT_SECRETS or (
        name not in PUBLIC_BY_DESIGN and _SECRET_LIKE.search(name) is not None
    )


def no_secret_in_plain_binding(resources: Sequence[PlanResource]) -> list[Violation]:
    """Secrets reach the Worker as `secret_text` only, never as a readable plain binding."""
    found = []
    for r in resources:
        for binding in _bindings(r):
            kind, name = binding.get("type"), str(binding.get("name", ""))
            if kind not in PLAIN_BINDING_TYPES:
                continue
            if _looks_secret(name):
                reason = "is a secret by name"
            elif SECRET in (binding.get("text"), binding.get("json")):
                reason = "carries a secret value"
            else:
                continue
            found.append(
                Violation(
                    "no-secret-in-plain-binding",
                    r.name,
                    f"binding {name!r} {reason} but is {kind}, readable in the dashboard and API; "
                    f"declare it as {{type: secret_text, name: {name}}}",
                )
            )
    return found


def _walk_names(value: object) -> Iterator[str]:
    """Every mapping key and every `name` field anywhere inside an input value."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            if key == "name" and isinstance(item, str):
                yield item
            yield from _walk_names(item)
    elif isinstance(value, Sequence) and not isinstance(value, str):
        for item in value:
            yield from _walk_names(item)


def no_local_dev_origin(resources: Sequence[PlanResource]) -> list[Violation]:
    """`AGENT_ORIGIN` / `DEV_IDENTITY` (local development only) appear in no deployed resource."""
    found = []
    for r in resources:
        for name in sorted(set(_walk_names(r.inputs)) & LOCAL_DEV_NAMES):
            found.append(
                Violation(
                    "no-local-dev-origin",
                    r.name,
                    f"declares {name}, a local-development seam that bypasses the container "
                    "or the identity check; it must never be deployed",
                )
            )
    return found


@dataclass(frozen=True)
class PolicySpec:
    """A validator with the name and description the policy pack shows."""

    name: str
    description: str
    scope: Scope
    check: Validator
    # Advisory policies warn and never fail a preview (nor `validate_plan`).
    advisory: bool = False


POLICIES: tuple[PolicySpec, ...] = (
    PolicySpec("no-public-r2", "R2 buckets are never public.", Scope.RESOURCE, no_public_r2),
    PolicySpec(
        "hostnames-behind-access",
        "Every hostname of the agent is behind a Cloudflare Access application.",
        Scope.STACK,
        hostnames_behind_access,
    ),
    PolicySpec(
        "no-secret-in-plain-binding",
        "Secrets are bound as secret_text, never plain_text.",
        Scope.RESOURCE,
        no_secret_in_plain_binding,
    ),
    PolicySpec(
        "tokens-scoped",
        "API tokens name the exact resources they reach.",
        Scope.STACK,
        tokens_scoped_to_named_resources,
    ),
    PolicySpec(
        "same-jurisdiction",
        "Sandboxes run in the jurisdiction of the bucket whose credentials they hold.",
        Scope.STACK,
        storage_and_sandboxes_share_a_jurisdiction,
    ),
    PolicySpec(
        "no-local-dev-origin",
        "The local-dev origin and identity (AGENT_ORIGIN, DEV_IDENTITY) are never deployed.",
        Scope.RESOURCE,
        no_local_dev_origin,
    ),
    PolicySpec(
        "spend-limit-in-prod",
        "A `prod` stack's AI Gateway has a stack-wide spend limit.",
        Scope.RESOURCE,
        prod_has_a_stack_wide_spend_limit,
    ),
    PolicySpec(
        "spend-limit-advised",
        "Any other stack's AI Gateway has a stack-wide spend limit too (advisory).",
        Scope.RESOURCE,
        spend_limit_advised,
        advisory=True,
    ),
)


def validate_resources(resources: Sequence[PlanResource]) -> list[Violation]:
    """Every violation of every mandatory policy."""
    return [v for spec in POLICIES if not spec.advisory for v in spec.check(resources)]


def validate_plan(plan: Mapping[str, Any]) -> list[Violation]:
    """Every violation of every mandatory policy in a plan document."""
    return validate_resources(resources_of(plan))
