"""Offline plan of many tenant stacks through `infra.plan`, and the cross-tenant checks on it.

Two stacks share one Cloudflare account, so every Cloudflare-side name (bucket, Worker, gateway,
token, Access application, hostname) must differ between them, and each tenant's state token may
reach its own bucket only. Both are checked on the plans, before anything is deployed.
"""

from __future__ import annotations

import functools
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.errors import ConfigError
from infra.policy.plan import resources_of, type_name
from infra.policy.tokens import r2_bucket_keys, state_tokens
from infra.tenants.errors import StackConfigError
from infra.tenants.manifest import Manifest
from infra.tenants.runner import format_table
from infra.tenants.stacks import StackTarget, plan_config, read_base_config, stack_config

Planner = Callable[[str, Mapping[str, object]], dict[str, Any]]

# Inputs that hold a name Cloudflare keeps unique per account (or globally, for hostnames).
NAME_INPUTS = ("name", "hostname", "domain", "aiGatewayId", "scriptName", "bucketName")
# Resource types whose `name` is only a label (Cloudflare allows duplicates): not collisions.
LABEL_ONLY_TYPES = frozenset({"R2BucketLifecycle", "WorkersCronTrigger", "WorkerVersion"})


@dataclass(frozen=True)
class TenantPlan:
    """The plan of one stack, or why it could not be made."""

    target: StackTarget
    seconds: float
    plan: dict[str, Any] | None = None
    error: str = ""


def plan_targets(
    manifest: Manifest, targets: Sequence[StackTarget], root: Path, planner: Planner
) -> list[TenantPlan]:
    """Plan every target; a bad config fails that stack only."""
    plans = []
    read_base = functools.cache(read_base_config)  # each environment's base file, read once
    for target in targets:
        started = time.monotonic()
        try:
            config = plan_config(stack_config(manifest, target, root, read_base=read_base))
            plan = planner(target.name, config)
        except (ConfigError, StackConfigError) as error:
            plans.append(TenantPlan(target, time.monotonic() - started, error=str(error)))
            continue
        plans.append(TenantPlan(target, time.monotonic() - started, plan=plan))
    return plans


def cloudflare_names(plan: Mapping[str, Any]) -> set[tuple[str, str, str]]:
    """(resource type, input, value) of every account-unique name the plan declares."""
    names = set()
    for resource in resources_of(plan):
        kind = type_name(resource.type)
        if kind in LABEL_ONLY_TYPES:
            continue
        for key in NAME_INPUTS:
            value = resource.inputs.get(key)
            if isinstance(value, str) and value:
                names.add((kind, key, value))
    return names


def collisions(plans: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Every Cloudflare-side name declared by more than one of the plans (by label)."""
    owners: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for label, plan in plans.items():
        for name in cloudflare_names(plan):
            owners[name].append(label)
    return [
        f"{kind}.{key} {value!r} is declared by {', '.join(sorted(stacks))}"
        for (kind, key, value), stacks in sorted(owners.items())
        if len(stacks) > 1
    ]


def base_plans(
    manifest: Manifest, environments: Iterable[str], root: Path, planner: Planner
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Plans of the environments' own stacks (`dev` from `Pulumi.dev.yaml`, ...), deployed to the
    same account by the deploy workflow, so tenant names must not collide with them either.

    A base file that does not plan on its own (it may leave keys to the tenants) is skipped,
    with a note saying why."""
    plans: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    for env in sorted(set(environments)):
        base = manifest.environments[env].base
        label = f"{env} ({Path(base).name})"
        try:
            plans[label] = planner(env, read_base_config(root / base))
        except (ConfigError, StackConfigError) as error:
            first = str(error).splitlines()[0]
            notes.append(f"base stack {label} not compared: {first}")
    return plans, notes


def state_token_problems(plan: Mapping[str, Any]) -> list[str]:
    """What keeps this stack's state token from reaching exactly its own bucket(s).

    The `tokens-scoped` policy already refuses grants on other buckets; this also requires
    that a state token exists and that it reaches every bucket of the stack.
    """
    resources = resources_of(plan)
    own = {key for r in resources for key in r2_bucket_keys(r)}
    tokens = state_tokens(resources)
    if own and not tokens:
        return ["no token grants access to this stack's bucket"]
    problems = []
    for token in tokens:
        if set(token.scopes) != own:
            problems.append(
                f"{token.resource.name} grants {sorted(token.scopes)}, this stack's buckets are "
                f"{sorted(own)}"
            )
    return problems


def _describe(plan: Mapping[str, Any]) -> tuple[str, str, str]:
    resources = resources_of(plan)

    def first(kind: str, key: str) -> str:
        for resource in resources:
            if type_name(resource.type) == kind and isinstance(resource.inputs.get(key), str):
                return str(resource.inputs[key])
        return "-"

    outputs = plan.get("outputs", {})
    url = outputs.get("url") if isinstance(outputs, Mapping) else None
    return first("R2Bucket", "name"), first("Worker", "name"), str(url or "-")


def summary_table(plans: Sequence[TenantPlan]) -> str:
    """One row per stack: resource count, bucket, Worker, URL, time, result."""
    rows = [("stack", "result", "resources", "bucket", "worker", "url", "seconds")]
    for tenant_plan in plans:
        if tenant_plan.plan is None:
            first_line = tenant_plan.error.splitlines()[0] if tenant_plan.error else "failed"
            rows.append((tenant_plan.target.name, "FAILED", "-", first_line, "", "", ""))
            continue
        bucket, worker, url = _describe(tenant_plan.plan)
        count = str(len(resources_of(tenant_plan.plan)))
        seconds = f"{tenant_plan.seconds:.2f}"
        rows.append((tenant_plan.target.name, "ok", count, bucket, worker, url, seconds))
    return format_table(rows)
