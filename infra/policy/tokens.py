"""Token scope: every API/account token names the exact resources it reaches.

A policy's `resources` is JSON text in pulumi_cloudflare (`{"<resource key>": "*"}`, possibly
nested under an account key). Named means: no `*` in any key, and an R2 grant only on a bucket
this stack declares (`com.cloudflare.edge.r2.bucket.<account>_<jurisdiction>_<name>`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from infra.policy.plan import SECRET, UNKNOWN, PlanResource, Violation, of_type, type_name

R2_BUCKET_PREFIX = "com.cloudflare.edge.r2.bucket."
TOKEN_TYPES = frozenset({"ApiToken", "AccountToken"})


def _policy_resource_keys(resources_json: object) -> list[str]:
    """Flattened resource keys of one token policy (`resources` is JSON text in the provider)."""
    if isinstance(resources_json, str):
        if resources_json in (UNKNOWN, SECRET):
            return [resources_json]
        try:
            resources_json = json.loads(resources_json)
        except json.JSONDecodeError:
            return [str(resources_json)]
    keys: list[str] = []
    if isinstance(resources_json, Mapping):
        for key, value in resources_json.items():
            keys.append(str(key))
            if isinstance(value, Mapping):
                keys.extend(_policy_resource_keys(value))
    return keys


@dataclass(frozen=True)
class TokenScope:
    """An API/account token and the R2 bucket resource keys its policies grant."""

    resource: PlanResource
    scopes: list[str]


def r2_bucket_keys(resource: PlanResource) -> list[str]:
    """Token-policy key of an R2 bucket: `...r2.bucket.<account>_<jurisdiction>_<name>`."""
    if type_name(resource.type) != "R2Bucket":
        return []
    account, name = resource.inputs.get("accountId"), resource.inputs.get("name")
    jurisdiction = resource.inputs.get("jurisdiction") or "default"
    return [f"{R2_BUCKET_PREFIX}{account}_{jurisdiction}_{name}"]


def _token_keys(token: PlanResource) -> list[str]:
    keys = []
    policies = token.inputs.get("policies")
    if isinstance(policies, Sequence) and not isinstance(policies, str):
        for policy in policies:
            if isinstance(policy, Mapping):
                keys.extend(_policy_resource_keys(policy.get("resources")))
    return keys


def state_tokens(resources: Sequence[PlanResource]) -> list[TokenScope]:
    """Tokens that grant anything on R2 buckets, with the bucket keys they name."""
    out = []
    for token in of_type(resources, *TOKEN_TYPES):
        keys = _token_keys(token)
        buckets = [k for k in keys if k.startswith(R2_BUCKET_PREFIX)]
        if buckets:
            out.append(TokenScope(token, buckets))
    return out


def tokens_scoped_to_named_resources(resources: Sequence[PlanResource]) -> list[Violation]:
    """Every token names the exact resources it reaches: no wildcard, and buckets of this stack."""
    found = []
    own_buckets = {key for r in resources for key in r2_bucket_keys(r)}
    for token in of_type(resources, *TOKEN_TYPES):
        keys = _token_keys(token)
        if not keys:
            found.append(
                Violation("tokens-scoped", token.name, "has no policy naming any resource")
            )
        for key in keys:
            if "*" in key or key in (UNKNOWN, SECRET):
                found.append(
                    Violation(
                        "tokens-scoped",
                        token.name,
                        f"grants {key!r}, which names no single resource; name it, e.g. "
                        f"{R2_BUCKET_PREFIX}<account>_default_<bucket>",
                    )
                )
            elif key.startswith(R2_BUCKET_PREFIX) and key not in own_buckets:
                found.append(
                    Violation(
                        "tokens-scoped",
                        token.name,
                        f"grants {key!r}, a bucket this stack does not declare; "
                        f"its buckets: {', '.join(sorted(own_buckets)) or 'none'}",
                    )
                )
    return found
