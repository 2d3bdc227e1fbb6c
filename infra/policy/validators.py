"""What edgeagent promises about every deployed stack, as plain functions over its resources.

Each validator takes the stack's resources (from the offline plan JSON, or adapted from CrossGuard
by `infra/policy/__main__.py`) and returns its violations. They know Cloudflare resource shapes as
pulumi_cloudflare 6.x declares them (camelCase inputs), nothing about how the program builds them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from infra.policy.plan import SECRET, UNKNOWN, PlanResource, resources_of, type_name


@dataclass(frozen=True)
class Violation:
    """One broken promise: which policy, which resource (logical name), what is wrong."""

    policy: str
    resource: str
    message: str


class Scope(StrEnum):
    """Whether a validator judges resources one by one or needs the whole stack."""

    RESOURCE = "resource"
    STACK = "stack"


Validator = Callable[[Sequence[PlanResource]], list[Violation]]

# Worker bindings the edge reads as secrets (docs/contract.md); never as plain_text.
CONTRACT_SECRETS = frozenset(
    {
        "AGENT_EDGE_TOKEN",
        "AI_GATEWAY_TOKEN",
        "STATE_ACCESS_KEY_ID",
        "STATE_SECRET_ACCESS_KEY",
        "BROWSER_API_TOKEN",
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_WEBHOOK_SECRET",
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "DISCORD_BOT_TOKEN",
    }
)
# Names that read like secrets but are public by design.
PUBLIC_BY_DESIGN = frozenset({"DISCORD_PUBLIC_KEY", "DISCORD_APPLICATION_ID"})
_SECRET_LIKE = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|PRIVATE|API_KEY|ACCESS_KEY|CREDENTIAL)")
# The local-dev seams (docs/contract.md): proxy to a local origin, fixed identity. Never deployed.
LOCAL_DEV_NAMES = frozenset({"AGENT_ORIGIN", "DEV_IDENTITY"})
PLAIN_BINDING_TYPES = frozenset({"plain_text", "json"})
R2_BUCKET_PREFIX = "com.cloudflare.edge.r2.bucket."
TOKEN_TYPES = frozenset({"ApiToken", "AccountToken"})


def _of_type(resources: Sequence[PlanResource], *kinds: str) -> Iterator[PlanResource]:
    return (r for r in resources if type_name(r.type) in kinds)


def _enabled(value: object) -> bool:
    # Unknown counts as enabled: a policy that cannot tell fails closed.
    return value is not False


def no_public_r2(resources: Sequence[PlanResource]) -> list[Violation]:
    """No bucket is reachable without credentials: no r2.dev URL, no public custom domain."""
    found = []
    for r in _of_type(resources, "R2ManagedDomain"):
        if _enabled(r.inputs.get("enabled")):
            found.append(
                Violation(
                    "no-public-r2",
                    r.name,
                    f"exposes bucket {r.inputs.get('bucketName')!r} on a public r2.dev URL; "
                    "state buckets are private (set enabled: false or remove the resource)",
                )
            )
    for r in _of_type(resources, "R2CustomDomain"):
        if _enabled(r.inputs.get("enabled")):
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
    for token in _of_type(resources, *TOKEN_TYPES):
        keys = _token_keys(token)
        buckets = [k for k in keys if k.startswith(R2_BUCKET_PREFIX)]
        if buckets:
            out.append(TokenScope(token, buckets))
    return out


def tokens_scoped_to_named_resources(resources: Sequence[PlanResource]) -> list[Violation]:
    """Every token names the exact resources it reaches: no wildcard, and buckets of this stack."""
    found = []
    own_buckets = {key for r in resources for key in r2_bucket_keys(r)}
    for token in _of_type(resources, *TOKEN_TYPES):
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


def _host(value: str) -> tuple[str, str]:
    """(host, path) of an Access domain / route pattern / URL, lowercase, no scheme or port."""
    parts = urlsplit(value if "://" in value else f"https://{value}")
    return (parts.hostname or "").lower(), parts.path


def _served_hosts(resources: Sequence[PlanResource]) -> list[tuple[PlanResource, str]]:
    hosts: list[tuple[PlanResource, str]] = []
    # WorkerDomain / WorkerRoute are the provider's deprecated aliases of the Workers* types.
    for r in _of_type(resources, "WorkersCustomDomain", "WorkerDomain"):
        hosts.append((r, str(r.inputs.get("hostname", ""))))
    for r in _of_type(resources, "WorkersRoute", "WorkerRoute"):
        hosts.append((r, _host(str(r.inputs.get("pattern", "")))[0]))
    for r in _of_type(resources, "Worker"):
        subdomain = r.inputs.get("subdomain")
        if isinstance(subdomain, Mapping) and subdomain.get("enabled") is True:
            # `<script>.<account subdomain>.workers.dev`; the account part is not in the plan.
            hosts.append((r, f"{r.inputs.get('name')}.*.workers.dev"))
    for r in _of_type(resources, "WorkersScriptSubdomain"):
        if _enabled(r.inputs.get("enabled")):
            hosts.append((r, f"{r.inputs.get('scriptName')}.*.workers.dev"))
    return hosts


def _app_domains(app: PlanResource) -> list[str]:
    domains = [app.inputs.get("domain")]
    self_hosted = app.inputs.get("selfHostedDomains")
    if isinstance(self_hosted, Sequence) and not isinstance(self_hosted, str):
        domains.extend(self_hosted)
    destinations = app.inputs.get("destinations")
    if isinstance(destinations, Sequence) and not isinstance(destinations, str):
        domains.extend(d.get("uri") for d in destinations if isinstance(d, Mapping))
    return [d for d in domains if isinstance(d, str) and d]


def _label_pattern(host: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(host).replace(r"\*", "[a-z0-9-]+") + "$")


def _covers(domain: str, host: str) -> bool:
    """An Access domain with no path (or `/*`) protects the whole host."""
    app_host, path = _host(domain)
    if path not in ("", "/", "/*"):
        return False
    host = host.lower()
    # Either side may hold `*` for one label: an Access wildcard, or the workers.dev account part.
    return bool(_label_pattern(app_host).match(host) or _label_pattern(host).match(app_host))


def hostnames_behind_access(resources: Sequence[PlanResource]) -> list[Violation]:
    """Every hostname serving the agent is covered, all paths, by an Access app with a policy."""
    apps = [
        app
        for app in _of_type(resources, "ZeroTrustAccessApplication")
        if app.inputs.get("type", "self_hosted") == "self_hosted" and app.inputs.get("policies")
    ]
    found = []
    for resource, host in _served_hosts(resources):
        if not any(_covers(domain, host) for app in apps for domain in _app_domains(app)):
            found.append(
                Violation(
                    "hostnames-behind-access",
                    resource.name,
                    f"serves {host!r}, which no self-hosted Access application with a policy "
                    "covers on all paths (a path-limited app such as /webhooks/* is not enough)",
                )
            )
    for r in _of_type(resources, "Worker", "WorkersScriptSubdomain"):
        subdomain = r.inputs.get("subdomain") if type_name(r.type) == "Worker" else r.inputs
        if isinstance(subdomain, Mapping) and subdomain.get("previewsEnabled") is True:
            found.append(
                Violation(
                    "hostnames-behind-access",
                    r.name,
                    "enables workers.dev preview URLs, one hostname per version that no Access "
                    "application covers; set previewsEnabled: false",
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
        "no-local-dev-origin",
        "The local-dev origin and identity (AGENT_ORIGIN, DEV_IDENTITY) are never deployed.",
        Scope.RESOURCE,
        no_local_dev_origin,
    ),
)


def validate_resources(resources: Sequence[PlanResource]) -> list[Violation]:
    """Every violation of every policy."""
    return [v for spec in POLICIES for v in spec.check(resources)]


def validate_plan(plan: Mapping[str, Any]) -> list[Violation]:
    """Every violation of every policy in a plan document."""
    return validate_resources(resources_of(plan))
