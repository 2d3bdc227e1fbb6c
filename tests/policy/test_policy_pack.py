"""The CrossGuard adapter: the same validators, called the way the policy analyzer calls them."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from policy_support import REPO, add, edited, in_place
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from infra.policy.pack import build_policies, plain
from infra.policy.plan import UNKNOWN
from infra.policy.validators import POLICIES, Scope


def options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def urn(name: str, kind: str) -> str:
    return f"urn:pulumi:dev::edgeagent::{kind}::{name}"


def stack_resources(
    plan: dict[str, Any], dependencies: dict[str, dict[str, list[str]]] | None = None
) -> list[PolicyResource]:
    """Resources as CrossGuard hands them over; `dependencies`: name -> input -> names."""
    resources = {
        r["name"]: PolicyResource(
            r["type"],
            unknown_checking_proxy(r["inputs"]),
            urn(r["name"], r["type"]),
            r["name"],
            options(),
            None,
            None,
            [],
            {},
        )
        for r in plan["resources"]
    }
    for name, inputs in (dependencies or {}).items():
        for prop, names in inputs.items():
            resources[name].property_dependencies[prop] = [resources[n] for n in names]
    return list(resources.values())


Reports = list[tuple[str, str | None]]


def run_stack_policies(
    plan: dict[str, Any], dependencies: dict[str, dict[str, list[str]]] | None = None
) -> dict[str, Reports]:
    reports: dict[str, Reports] = {}
    for policy in build_policies():
        found: Reports = reports.setdefault(policy.name, [])
        if isinstance(policy, StackValidationPolicy):
            args = StackValidationArgs(stack_resources(plan, dependencies))
            policy.validate(args, lambda message, u, found=found: found.append((message, u)))
        else:
            assert isinstance(policy, ResourceValidationPolicy)
            for r in plan["resources"]:
                args = ResourceValidationArgs(
                    r["type"],
                    unknown_checking_proxy(r["inputs"]),
                    urn(r["name"], r["type"]),
                    r["name"],
                    options(),
                    None,
                )
                policy.validate(args, lambda message, u, found=found: found.append((message, u)))
    return reports


def test_one_policy_per_validator_with_its_scope() -> None:
    policies = build_policies()
    assert [p.name for p in policies] == [spec.name for spec in POLICIES]
    for policy, spec in zip(policies, POLICIES, strict=True):
        expected = (
            ResourceValidationPolicy if spec.scope is Scope.RESOURCE else StackValidationPolicy
        )
        assert isinstance(policy, expected)


@pytest.mark.parametrize("stack", ["dev_plan", "prod_plan"])
def test_pack_passes_the_shipped_stacks(stack: str, request: pytest.FixtureRequest) -> None:
    plan = request.getfixturevalue(stack)
    reports = run_stack_policies(plan)
    advised = reports.pop("spend-limit-advised")
    assert all(found == [] for found in reports.values()), reports
    # dev has no spend limit: advised (the pack's advisory level), never refused; prod has one.
    gateway = in_place(plan, "AiGateway", "ai-gateway")
    expected = [urn(gateway["name"], gateway["type"])] if stack == "dev_plan" else []
    assert [u for _, u in advised] == expected


def test_pack_reports_each_violation_against_its_resource(dev_plan: dict[str, Any]) -> None:
    def break_everything(p: dict[str, Any]) -> None:
        add(p, "R2ManagedDomain", "public-url", {"bucketName": "b", "enabled": True})
        version = in_place(p, "WorkerVersion")
        for binding in version["inputs"]["bindings"]:
            if binding["name"] == "AI_GATEWAY_TOKEN":
                binding["type"] = "plain_text"
        version["inputs"]["bindings"].append(
            {"type": "plain_text", "name": "DEV_IDENTITY", "text": "me@example.com"}
        )
        token = in_place(p, "AccountToken", "storage-token")
        token["inputs"]["policies"][0]["resources"] = json.dumps({"com.cloudflare.*": "*"})
        p["resources"] = [r for r in p["resources"] if not r["name"].endswith("access-app")]
        in_place(p, "ContainerApplication")["inputs"]["jurisdiction"] = "eu"

    broken = edited(dev_plan, break_everything)
    reports = run_stack_policies(broken)
    version = in_place(broken, "WorkerVersion")
    token = in_place(broken, "AccountToken", "storage-token")
    worker = in_place(broken, "Worker")
    app = in_place(broken, "ContainerApplication")
    gateway = in_place(broken, "AiGateway", "ai-gateway")
    assert {name: [u for _, u in found] for name, found in reports.items()} == {
        "no-public-r2": [urn("public-url", "cloudflare:index/x:R2ManagedDomain")],
        "hostnames-behind-access": [urn(worker["name"], worker["type"])],
        "no-secret-in-plain-binding": [urn(version["name"], version["type"])],
        "tokens-scoped": [urn(token["name"], token["type"])],
        "no-local-dev-origin": [urn(version["name"], version["type"])],
        "same-jurisdiction": [urn(app["name"], app["type"])],
        "spend-limit-in-prod": [],
        "spend-limit-advised": [urn(gateway["name"], gateway["type"])],
    }
    [(message, _)] = reports["no-secret-in-plain-binding"]
    assert message.startswith(f"{version['name']}: binding 'AI_GATEWAY_TOKEN' is a secret by name")


def test_unknown_values_become_markers_and_fail_closed(dev_plan: dict[str, Any]) -> None:
    proxied = unknown_checking_proxy(
        {"policies": [{"resources": UNKNOWN_STRING_VALUE, "effect": "allow"}], "name": "t"}
    )
    assert plain(proxied) == {"policies": [{"resources": UNKNOWN, "effect": "allow"}], "name": "t"}

    def unknown_scope(p: dict[str, Any]) -> None:
        token = in_place(p, "AccountToken", "storage-token")
        token["inputs"]["policies"][0]["resources"] = UNKNOWN_STRING_VALUE

    reports = run_stack_policies(edited(dev_plan, unknown_scope))
    [(message, _)] = reports["tokens-scoped"]
    assert "grants '[unknown]', which names no single resource" in message


def test_pack_entry_point_starts_its_analyzer_on_loopback() -> None:
    # What `pulumi preview --policy-pack infra/policy` runs: the pack prints its gRPC port.
    process = subprocess.Popen(
        [sys.executable, str(REPO / "infra" / "policy")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    try:
        assert process.stdout is not None
        port = process.stdout.readline().decode().strip()
        assert port.isdigit(), process.stderr.read().decode() if process.stderr else port
        assert 0 < int(port) < 65536
    finally:
        process.kill()
        process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_access_policies_are_found_through_property_dependencies(
    prod_plan: dict[str, Any],
) -> None:
    # During a real preview the policies' ids are unknown; CrossGuard still says which
    # resources fed the application's `policies` input.
    def unknown_ids(p: dict[str, Any]) -> None:
        for app in p["resources"]:
            if app["type"].endswith("ZeroTrustAccessApplication"):
                for ref in app["inputs"]["policies"]:
                    ref["id"] = UNKNOWN_STRING_VALUE

    def open_policy(p: dict[str, Any]) -> None:
        add(
            p,
            "ZeroTrustAccessPolicy",
            "open",
            {"decision": "bypass", "includes": [{"everyone": {}}]},
        )

    plan = edited(edited(prod_plan, unknown_ids), open_policy)
    app = in_place(plan, "ZeroTrustAccessApplication", "access-app")
    allow = in_place(plan, "ZeroTrustAccessPolicy", "allow-policy")
    bypass = in_place(plan, "ZeroTrustAccessPolicy", "open")

    protected = run_stack_policies(plan, {app["name"]: {"policies": [allow["name"]]}})
    assert protected["hostnames-behind-access"] == []
    exposed = run_stack_policies(plan, {app["name"]: {"policies": [bypass["name"]]}})
    assert len(exposed["hostnames-behind-access"]) == 1
    unresolved = run_stack_policies(plan)
    assert len(unresolved["hostnames-behind-access"]) == 1
