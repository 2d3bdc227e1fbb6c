"""Adapts the plain validators of `infra.policy.validators` to CrossGuard policies.

Kept apart from `__main__.py` because constructing a `PolicyPack` starts its gRPC server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from infra.policy.plan import UNKNOWN, PlanResource
from infra.policy.validators import POLICIES, PolicySpec, Scope, Validator

PACK_NAME = "edgeagent"
# Values CrossGuard gives for what preview cannot know yet (pulumi_policy.proxy sentinels).
_UNKNOWN_SENTINELS = frozenset(
    {
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
        "030794c1-ac77-496b-92df-f27374a8bd58",
        "e48ece36-62e2-4504-bad9-02848725956a",
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
    }
)


def plain(value: Any) -> Any:
    """A CrossGuard property value (proxies raising on unknowns) as plain data, unknowns marked."""
    if isinstance(value, Mapping):
        raw = _target(value)
        return {str(key): plain(raw[key]) for key in raw}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [plain(item) for item in _target(value)]
    if isinstance(value, str) and value in _UNKNOWN_SENTINELS:
        return UNKNOWN
    return value


def _target(value: Any) -> Any:
    # pulumi_policy's proxies hand out their unchecked contents under the key "__target".
    try:
        return value["__target"]
    except (KeyError, TypeError, IndexError):
        return value


def _report(
    violations: list[Any], report_violation: ReportViolation, urns: Mapping[str, str]
) -> None:
    for violation in violations:
        report_violation(f"{violation.resource}: {violation.message}", urns.get(violation.resource))


def _resource_policy(spec: PolicySpec, check: Validator) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        resource = PlanResource(args.resource_type, args.name, None, plain(args.props))
        _report(check([resource]), report_violation, {args.name: args.urn})

    return ResourceValidationPolicy(
        spec.name, spec.description, validate, enforcement_level=_level(spec)
    )


def _from_stack(resource: PolicyResource) -> PlanResource:
    parent = resource.parent.name if resource.parent is not None else None
    dependencies = {
        prop: [dependency.name for dependency in deps]
        for prop, deps in resource.property_dependencies.items()
    }
    return PlanResource(
        resource.resource_type, resource.name, parent, plain(resource.props), dependencies
    )


def _stack_policy(spec: PolicySpec, check: Validator) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [_from_stack(r) for r in args.resources]
        urns = {r.name: r.urn for r in args.resources}
        _report(check(resources), report_violation, urns)

    return StackValidationPolicy(
        spec.name, spec.description, validate, enforcement_level=_level(spec)
    )


def _level(spec: PolicySpec) -> EnforcementLevel | None:
    # None = the pack's level (ENFORCEMENT); advisory policies report without failing.
    return EnforcementLevel.ADVISORY if spec.advisory else None


def build_policies(specs: Sequence[PolicySpec] = POLICIES) -> list[Policy]:
    """One CrossGuard policy per validator, resource- or stack-scoped as the validator needs."""
    policies: list[Policy] = []
    for spec in specs:
        if spec.scope is Scope.RESOURCE:
            policies.append(_resource_policy(spec, spec.check))
        else:
            policies.append(_stack_policy(spec, spec.check))
    return policies


ENFORCEMENT = EnforcementLevel.MANDATORY
