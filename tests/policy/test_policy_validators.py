"""Each policy validator catches its violation on a plan, and passes on the shipped stacks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from policy_support import add, edited, in_place, resource

from infra.policy.plan import resources_of
from infra.policy.validators import (
    POLICIES,
    Violation,
    hostnames_behind_access,
    no_local_dev_origin,
    no_public_r2,
    no_secret_in_plain_binding,
    tokens_scoped_to_named_resources,
    validate_plan,
)

ACCOUNT = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("stack", ["dev_plan", "prod_plan"])
def test_shipped_stacks_keep_every_promise(stack: str, request: pytest.FixtureRequest) -> None:
    plan = request.getfixturevalue(stack)
    assert validate_plan(plan) == []


def test_prod_is_on_a_custom_domain_and_dev_on_workers_dev(
    dev_plan: dict[str, Any], prod_plan: dict[str, Any]
) -> None:
    # The hostname policy must have something to check on both shipped stacks.
    domain = resource(prod_plan, "WorkersCustomDomain")
    assert domain["inputs"]["hostname"] == "agent.example.com"
    assert resource(dev_plan, "Worker")["inputs"]["subdomain"]["enabled"] is True


def violations(check: Any, plan: dict[str, Any]) -> list[Violation]:
    found: list[Violation] = check(resources_of(plan))
    return found


# --- no public R2 -------------------------------------------------------------------------


def test_r2_dev_url_is_caught(dev_plan: dict[str, Any]) -> None:
    bucket = resource(dev_plan, "R2Bucket")["inputs"]["name"]
    plan = edited(
        dev_plan,
        lambda p: add(p, "R2ManagedDomain", "public-url", {"bucketName": bucket, "enabled": True}),
    )
    assert violations(no_public_r2, plan) == [
        Violation(
            "no-public-r2",
            "public-url",
            f"exposes bucket {bucket!r} on a public r2.dev URL; state buckets are private "
            "(set enabled: false or remove the resource)",
        )
    ]
    disabled = edited(
        dev_plan,
        lambda p: add(p, "R2ManagedDomain", "off", {"bucketName": bucket, "enabled": False}),
    )
    assert violations(no_public_r2, disabled) == []


def test_r2_custom_domain_is_caught(prod_plan: dict[str, Any]) -> None:
    plan = edited(
        prod_plan,
        lambda p: add(
            p,
            "R2CustomDomain",
            "files",
            {
                "bucketName": "edgeagent-default-prod",
                "domain": "files.example.com",
                "enabled": True,
            },
        ),
    )
    [found] = violations(no_public_r2, plan)
    assert found.resource == "files"
    assert "publicly on 'files.example.com'" in found.message


# --- every hostname behind Access -----------------------------------------------------------


def drop_app(plan: dict[str, Any], suffix: str) -> None:
    plan["resources"] = [
        r
        for r in plan["resources"]
        if not (r["type"].endswith("ZeroTrustAccessApplication") and r["name"].endswith(suffix))
    ]


def test_custom_domain_without_access_app_is_caught(prod_plan: dict[str, Any]) -> None:
    plan = edited(prod_plan, lambda p: drop_app(p, "access-app"))
    [found] = violations(hostnames_behind_access, plan)
    assert found.resource == resource(prod_plan, "WorkersCustomDomain")["name"]
    assert found.message == (
        "serves 'agent.example.com', which no self-hosted Access application covers on all "
        "paths with a policy that checks identity (a path-limited app such as /webhooks/*, a "
        "bypass policy or an allow for everyone is not enough)"
    )


def test_workers_dev_without_access_app_is_caught(dev_plan: dict[str, Any]) -> None:
    plan = edited(dev_plan, lambda p: drop_app(p, "access-app"))
    [found] = violations(hostnames_behind_access, plan)
    worker = resource(dev_plan, "Worker")
    assert found.resource == worker["name"]
    assert f"serves '{worker['inputs']['name']}.*.workers.dev'" in found.message


def test_workers_dev_is_covered_by_a_worker_destination_alone(dev_plan: dict[str, Any]) -> None:
    def elsewhere(p: dict[str, Any]) -> None:
        # No hostname of the app matches workers.dev: only the `type: worker` destination.
        in_place(p, "ZeroTrustAccessApplication", "access-app")["inputs"]["domain"] = "x.example"

    plan = edited(dev_plan, elsewhere)
    worker = resource(dev_plan, "Worker")
    app = resource(plan, "ZeroTrustAccessApplication", "access-app")
    assert {"type": "worker", "workerId": f"{worker['name']}-id"} in app["inputs"]["destinations"]
    assert violations(hostnames_behind_access, plan) == []


def test_a_worker_destination_naming_another_worker_does_not_count(
    dev_plan: dict[str, Any],
) -> None:
    def other_worker(p: dict[str, Any]) -> None:
        app = in_place(p, "ZeroTrustAccessApplication", "access-app")["inputs"]
        app["domain"] = "x.example"
        app["destinations"] = [{"type": "worker", "workerId": "someone-elses-worker"}]

    [found] = violations(hostnames_behind_access, edited(dev_plan, other_worker))
    assert found.resource == resource(dev_plan, "Worker")["name"]


def test_app_without_policies_does_not_count(prod_plan: dict[str, Any]) -> None:
    def strip(p: dict[str, Any]) -> None:
        in_place(p, "ZeroTrustAccessApplication", "access-app")["inputs"]["policies"] = []

    assert len(violations(hostnames_behind_access, edited(prod_plan, strip))) == 1


def test_app_with_only_a_bypass_policy_does_not_count(prod_plan: dict[str, Any]) -> None:
    def bypass(p: dict[str, Any]) -> None:
        add(
            p,
            "ZeroTrustAccessPolicy",
            "open",
            {"decision": "bypass", "includes": [{"everyone": {}}]},
        )
        app = in_place(p, "ZeroTrustAccessApplication", "access-app")
        app["inputs"]["policies"] = [{"id": "open-id", "precedence": 1}]

    [found] = violations(hostnames_behind_access, edited(prod_plan, bypass))
    assert "serves 'agent.example.com'" in found.message


def test_allow_for_everyone_does_not_count(prod_plan: dict[str, Any]) -> None:
    def everyone(p: dict[str, Any]) -> None:
        for suffix in ("allow-policy", "service-policy"):
            in_place(p, "ZeroTrustAccessPolicy", suffix)["inputs"]["includes"] = [{"everyone": {}}]

    assert len(violations(hostnames_behind_access, edited(prod_plan, everyone))) == 1


def test_unresolvable_policies_fail_closed(prod_plan: dict[str, Any]) -> None:
    def unknown(p: dict[str, Any]) -> None:
        app = in_place(p, "ZeroTrustAccessApplication", "access-app")
        app["inputs"]["policies"] = [{"id": "[unknown]", "precedence": 1}]

    assert len(violations(hostnames_behind_access, edited(prod_plan, unknown))) == 1


def test_a_second_uncovered_route_is_caught(prod_plan: dict[str, Any]) -> None:
    plan = edited(
        prod_plan,
        lambda p: add(p, "WorkersRoute", "extra", {"pattern": "api.example.com/*", "zoneId": "z"}),
    )
    [found] = violations(hostnames_behind_access, plan)
    assert found.resource == "extra"
    assert "serves 'api.example.com'" in found.message


def test_wildcard_access_app_covers_a_route(prod_plan: dict[str, Any]) -> None:
    def wildcard(p: dict[str, Any]) -> None:
        add(p, "WorkersRoute", "extra", {"pattern": "api.example.com/*", "zoneId": "z"})
        add(
            p,
            "ZeroTrustAccessApplication",
            "wild",
            {"type": "self_hosted", "domain": "*.example.com", "policies": [{"id": "pol-id"}]},
        )
        add(
            p,
            "ZeroTrustAccessPolicy",
            "pol",
            {"decision": "allow", "includes": [{"email": {"email": "me@example.com"}}]},
        )

    assert violations(hostnames_behind_access, edited(prod_plan, wildcard)) == []


def test_preview_urls_are_caught(dev_plan: dict[str, Any]) -> None:
    def previews(p: dict[str, Any]) -> None:
        in_place(p, "Worker")["inputs"]["subdomain"]["previewsEnabled"] = True

    [found] = violations(hostnames_behind_access, edited(dev_plan, previews))
    assert "enables workers.dev preview URLs" in found.message


# --- no secret in a plain-text binding ---------------------------------------------------


def set_binding(plan: dict[str, Any], name: str, **fields: Any) -> None:
    version = in_place(plan, "WorkerVersion")
    bindings = version["inputs"]["bindings"]
    for binding in bindings:
        if binding["name"] == name:
            binding.update(fields)
            return
    bindings.append({"name": name, **fields})


def test_contract_secret_as_plain_text_is_caught(dev_plan: dict[str, Any]) -> None:
    plan = edited(
        dev_plan, lambda p: set_binding(p, "AGENT_EDGE_TOKEN", type="plain_text", text="abc")
    )
    [found] = violations(no_secret_in_plain_binding, plan)
    assert found == Violation(
        "no-secret-in-plain-binding",
        resource(dev_plan, "WorkerVersion")["name"],
        "binding 'AGENT_EDGE_TOKEN' is a secret by name but is plain_text, readable in the "
        "dashboard and API; declare it as {type: secret_text, name: AGENT_EDGE_TOKEN}",
    )


def test_secret_value_in_plain_binding_is_caught(dev_plan: dict[str, Any]) -> None:
    plan = edited(
        dev_plan, lambda p: set_binding(p, "GREETING", type="plain_text", text="[secret]")
    )
    [found] = violations(no_secret_in_plain_binding, plan)
    assert "binding 'GREETING' carries a secret value but is plain_text" in found.message


@pytest.mark.parametrize("name", ["MY_API_KEY", "DB_PASSWORD", "OPENAI_TOKEN"])
def test_secret_looking_names_are_caught(dev_plan: dict[str, Any], name: str) -> None:
    plan = edited(dev_plan, lambda p: set_binding(p, name, type="plain_text", text="x"))
    assert len(violations(no_secret_in_plain_binding, plan)) == 1


def test_public_by_design_values_pass(dev_plan: dict[str, Any]) -> None:
    plan = edited(
        dev_plan, lambda p: set_binding(p, "DISCORD_PUBLIC_KEY", type="plain_text", text="ab")
    )
    assert violations(no_secret_in_plain_binding, plan) == []


# --- tokens scoped to named resources -------------------------------------------------------


def set_scope(plan: dict[str, Any], token_suffix: str, scope: Any) -> None:
    token = in_place(plan, "AccountToken", token_suffix)
    token["inputs"]["policies"][0]["resources"] = json.dumps(scope)


@pytest.mark.parametrize(
    "scope",
    [
        {"com.cloudflare.edge.r2.bucket.*": "*"},
        {f"com.cloudflare.api.account.{ACCOUNT}": {"com.cloudflare.api.account.zone.*": "*"}},
        {"com.cloudflare.api.account.*": "*"},
    ],
)
def test_wildcard_scopes_are_caught(dev_plan: dict[str, Any], scope: dict[str, Any]) -> None:
    plan = edited(dev_plan, lambda p: set_scope(p, "storage-token", scope))
    [found] = violations(tokens_scoped_to_named_resources, plan)
    assert found.policy == "tokens-scoped"
    assert found.resource == resource(dev_plan, "AccountToken", "storage-token")["name"]
    assert "which names no single resource" in found.message


def test_state_token_for_another_bucket_is_caught(dev_plan: dict[str, Any]) -> None:
    other = f"com.cloudflare.edge.r2.bucket.{ACCOUNT}_default_edgeagent-other-dev"
    plan = edited(dev_plan, lambda p: set_scope(p, "storage-token", {other: "*"}))
    [found] = violations(tokens_scoped_to_named_resources, plan)
    assert found.message.startswith(f"grants {other!r}, a bucket this stack does not declare")


def test_token_without_policy_is_caught(dev_plan: dict[str, Any]) -> None:
    def empty(p: dict[str, Any]) -> None:
        in_place(p, "AccountToken", "browser-token")["inputs"]["policies"] = []

    [found] = violations(tokens_scoped_to_named_resources, edited(dev_plan, empty))
    assert found.message == "has no policy naming any resource"


def test_shipped_state_token_names_exactly_its_bucket(dev_plan: dict[str, Any]) -> None:
    bucket = resource(dev_plan, "R2Bucket")["inputs"]
    token = resource(dev_plan, "AccountToken", "storage-token")
    scope = json.loads(token["inputs"]["policies"][0]["resources"])
    jurisdiction = bucket.get("jurisdiction") or "default"
    assert scope == {
        f"com.cloudflare.edge.r2.bucket.{bucket['accountId']}_{jurisdiction}_{bucket['name']}": "*"
    }


# --- the local-dev origin is never deployed ---------------------------------------------------


@pytest.mark.parametrize("name", ["AGENT_ORIGIN", "DEV_IDENTITY"])
def test_local_dev_binding_is_caught(dev_plan: dict[str, Any], name: str) -> None:
    plan = edited(
        dev_plan, lambda p: set_binding(p, name, type="plain_text", text="http://127.0.0.1:8080")
    )
    [found] = violations(no_local_dev_origin, plan)
    assert found == Violation(
        "no-local-dev-origin",
        resource(dev_plan, "WorkerVersion")["name"],
        f"declares {name}, a local-development seam that bypasses the container or the "
        "identity check; it must never be deployed",
    )


def test_local_dev_env_var_anywhere_is_caught(dev_plan: dict[str, Any]) -> None:
    plan = edited(
        dev_plan,
        lambda p: add(p, "ContainerApplication", "app", {"env": {"AGENT_ORIGIN": "http://x"}}),
    )
    assert [v.resource for v in violations(no_local_dev_origin, plan)] == ["app"]


def test_every_policy_is_registered_once() -> None:
    names = [spec.name for spec in POLICIES]
    assert sorted(names) == sorted(set(names))
    assert set(names) == {
        "no-public-r2",
        "hostnames-behind-access",
        "no-secret-in-plain-binding",
        "tokens-scoped",
        "no-local-dev-origin",
        "same-jurisdiction",
        "spend-limit-in-prod",
        "spend-limit-advised",
    }
