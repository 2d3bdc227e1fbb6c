"""Access coverage: every hostname that serves the agent sits behind Cloudflare Access.

Hostnames come from custom domains, routes and the workers.dev subdomain (whose account part is
not in the plan, hence `<script>.*.workers.dev`). A hostname is covered by a self-hosted Access
application whose domain takes the whole host (no path, or `/*`) and which has at least one
policy that really checks identity: not `bypass`, and not an allow rule for `everyone`. A
Worker's workers.dev hostname is also covered by such an application whose destination is that
Worker by id (`type: worker`), the destination the Access API has for Workers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from infra.policy.plan import PlanResource, Violation, enabled, of_type, type_name

POLICY = "hostnames-behind-access"
# The offline plan's mocks give every resource the id `<logical name>-id` (infra/mocks.py).
MOCK_ID_SUFFIX = "-id"


def _host(value: str) -> tuple[str, str]:
    """(host, path) of an Access domain / route pattern / URL, lowercase, no scheme or port."""
    parts = urlsplit(value if "://" in value else f"https://{value}")
    return (parts.hostname or "").lower(), parts.path


def _served_hosts(resources: Sequence[PlanResource]) -> list[tuple[PlanResource, str]]:
    hosts: list[tuple[PlanResource, str]] = []
    # WorkerDomain / WorkerRoute are the provider's deprecated aliases of the Workers* types.
    for r in of_type(resources, "WorkersCustomDomain", "WorkerDomain"):
        hosts.append((r, str(r.inputs.get("hostname", ""))))
    for r in of_type(resources, "WorkersRoute", "WorkerRoute"):
        hosts.append((r, _host(str(r.inputs.get("pattern", "")))[0]))
    for r in of_type(resources, "Worker"):
        subdomain = r.inputs.get("subdomain")
        if isinstance(subdomain, Mapping) and subdomain.get("enabled") is True:
            # `<script>.<account subdomain>.workers.dev`; the account part is not in the plan.
            hosts.append((r, f"{r.inputs.get('name')}.*.workers.dev"))
    for r in of_type(resources, "WorkersScriptSubdomain"):
        if enabled(r.inputs.get("enabled")):
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


def _protects_worker(app: PlanResource, worker: PlanResource) -> bool:
    """The application has a `type: worker` destination naming this Worker's id.

    CrossGuard says which resources fed `destinations`; the offline plan's mocks give the Worker
    the id `<logical name>-id`; an existing resource's props carry its `id`.
    """
    destinations = app.inputs.get("destinations")
    if not isinstance(destinations, Sequence) or isinstance(destinations, str):
        return False
    ids = {
        d.get("workerId")
        for d in destinations
        if isinstance(d, Mapping) and d.get("type") == "worker"
    }
    if not ids:
        return False
    if worker.name in app.dependencies.get("destinations", ()):
        return True
    return bool(ids & {worker.inputs.get("id"), f"{worker.name}{MOCK_ID_SUFFIX}"} - {None})


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


def _policies_of(app: PlanResource, resources: Sequence[PlanResource]) -> list[PlanResource]:
    """The Access policy resources an application uses.

    CrossGuard says which resources fed the app's `policies` input; the offline plan only has
    the ids, which its mocks derive from logical names; an existing resource's props have `id`.
    """
    policies = list(of_type(resources, "ZeroTrustAccessPolicy"))
    named = set(app.dependencies.get("policies", ()))
    if named:
        return [p for p in policies if p.name in named]
    wanted = {
        ref.get("id")
        for ref in app.inputs.get("policies") or ()
        if isinstance(ref, Mapping) and isinstance(ref.get("id"), str)
    }
    return [
        p for p in policies if p.inputs.get("id") in wanted or f"{p.name}{MOCK_ID_SUFFIX}" in wanted
    ]


def _checks_identity(policy: PlanResource) -> bool:
    """An allow (or service-token) policy that does not let everyone in."""
    if policy.inputs.get("decision") not in ("allow", "non_identity"):
        return False
    includes = policy.inputs.get("includes") or policy.inputs.get("include") or ()
    rules = [rule for rule in includes if isinstance(rule, Mapping)]
    return bool(rules) and not any("everyone" in rule for rule in rules)


def _protecting_apps(resources: Sequence[PlanResource]) -> list[PlanResource]:
    """Self-hosted applications with at least one identity-checking policy."""
    apps = []
    for app in of_type(resources, "ZeroTrustAccessApplication"):
        if app.inputs.get("type", "self_hosted") != "self_hosted":
            continue
        if any(_checks_identity(policy) for policy in _policies_of(app, resources)):
            apps.append(app)
    return apps


def hostnames_behind_access(resources: Sequence[PlanResource]) -> list[Violation]:
    """Every hostname serving the agent is covered, on all paths, by an identity-checking app."""
    apps = _protecting_apps(resources)
    found = []
    for resource, host in _served_hosts(resources):
        if type_name(resource.type) == "Worker" and any(
            _protects_worker(app, resource) for app in apps
        ):
            continue
        if not any(_covers(domain, host) for app in apps for domain in _app_domains(app)):
            found.append(
                Violation(
                    POLICY,
                    resource.name,
                    f"serves {host!r}, which no self-hosted Access application covers on all "
                    "paths with a policy that checks identity (a path-limited app such as "
                    "/webhooks/*, a bypass policy or an allow for everyone is not enough)",
                )
            )
    for r in of_type(resources, "Worker", "WorkersScriptSubdomain"):
        subdomain = r.inputs.get("subdomain") if type_name(r.type) == "Worker" else r.inputs
        if isinstance(subdomain, Mapping) and subdomain.get("previewsEnabled") is True:
            found.append(
                Violation(
                    POLICY,
                    r.name,
                    "enables workers.dev preview URLs, one hostname per version that no Access "
                    "application covers; set previewsEnabled: false",
                )
            )
    return found
