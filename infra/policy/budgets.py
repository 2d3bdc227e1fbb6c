"""Budgets: a `prod` stack caps what its models may spend; elsewhere a missing cap is advised.

A stack-wide limit is a spend-limit rule of the `AiGateway` without a metadata, model or provider
dimension (one shared budget for every call), enabled, on a gateway whose spend limits are
enabled. Per-user rules alone do not count: a new identity starts with a fresh budget. The
environment is read from the gateway id, `edgeagent-<tenant>-<environment>` (infra/naming.py;
an environment never contains a hyphen); a gateway whose id is unknown is judged as `prod`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from infra.policy.plan import UNKNOWN, PlanResource, Violation, enabled, of_type

REQUIRED = "spend-limit-in-prod"
ADVISED = "spend-limit-advised"
PROD = "prod"
_FIX = (
    "set edgeagent:spendLimitDailyUsd or edgeagent:spendLimitMonthlyUsd "
    "(for example `pulumi config set edgeagent:spendLimitDailyUsd 5.00`; docs/costs.md)"
)


def environment_of(gateway: PlanResource) -> str:
    """The environment part of the gateway id; `prod` when unknown (fail closed)."""
    gateway_id = gateway.inputs.get("aiGatewayId")
    if not isinstance(gateway_id, str) or gateway_id == UNKNOWN or "-" not in gateway_id:
        return PROD
    return gateway_id.rsplit("-", 1)[1]


def _is_stack_wide(rule: object) -> bool:
    if not isinstance(rule, Mapping):
        return False
    if rule.get("enabled") is False:
        return False
    scoped = any(rule.get(key) for key in ("metadata", "model", "aiGatewayProvider"))
    limit = rule.get("limit")
    return not scoped and isinstance(limit, int | float) and limit > 0


def has_stack_wide_limit(gateway: PlanResource) -> bool:
    """Whether the gateway's enabled spend limits include one shared budget for every call."""
    limits = gateway.inputs.get("spendLimits")
    if not isinstance(limits, Mapping) or not enabled(limits.get("enabled", True)):
        return False
    rules = limits.get("rules")
    if not isinstance(rules, Sequence) or isinstance(rules, str):
        return False
    return any(_is_stack_wide(rule) for rule in rules)


def _missing(resources: Sequence[PlanResource], prod: bool) -> list[Violation]:
    found = []
    for gateway in of_type(resources, "AiGateway"):
        if not gateway.type.startswith("cloudflare:"):
            continue  # the edgeagent component of the same name
        if (environment_of(gateway) == PROD) != prod or has_stack_wide_limit(gateway):
            continue
        if prod:
            message = f"has no stack-wide spend limit, which a `prod` stack must have: {_FIX}"
        else:
            message = f"has no stack-wide spend limit (advised before going to prod): {_FIX}"
        found.append(Violation(REQUIRED if prod else ADVISED, gateway.name, message))
    return found


def prod_has_a_stack_wide_spend_limit(resources: Sequence[PlanResource]) -> list[Violation]:
    """Mandatory: the gateway of a `prod` stack has a stack-wide spend limit."""
    return _missing(resources, prod=True)


def spend_limit_advised(resources: Sequence[PlanResource]) -> list[Violation]:
    """Advisory: the gateway of any other stack has one too."""
    return _missing(resources, prod=False)
