"""Components one at a time under the recording mocks, and the pieces they are built from."""

from __future__ import annotations

import asyncio
from typing import Any

import pulumi
import pytest
from infra_support import ACCOUNT, EDGE_DIST, one

from infra import permissions
from infra.components.worker import EdgeWorker, WorkerArgs, binding_name, bindings
from infra.edge_bundle import load_bundle
from infra.errors import BuildError
from infra.plan import run_with_mocks


def worker_args(**overrides: Any) -> WorkerArgs:
    fields: dict[str, Any] = {
        "account_id": ACCOUNT,
        "script_name": "edgeagent-t-dev",
        "bundle": load_bundle(EDGE_DIST),
        "plain_vars": {"TENANT": "t"},
        "secrets": {"AGENT_EDGE_TOKEN": "token-value"},
        "cron": "*/5 * * * *",
    }
    fields.update(overrides)
    return WorkerArgs(**fields)


def plan_worker(args: WorkerArgs) -> dict[str, Any]:
    return run_with_mocks("t-dev", lambda: EdgeWorker("w", args) and None)


def test_worker_alone_declares_its_resources_under_itself() -> None:
    document = plan_worker(worker_args())
    assert sorted(
        (r["type"].rsplit(":", 1)[-1], r["name"], r["parent"]) for r in document["resources"]
    ) == [
        ("EdgeWorker", "w", None),
        ("Worker", "w-worker", "w"),
        ("WorkerVersion", "w-version", "w"),
        ("WorkersCronTrigger", "w-cron", "w"),
        ("WorkersDeployment", "w-deployment", "w"),
        # A first deploy (no live Worker): the classes are provisioned before the version.
        ("WorkersScript", "w-provision", "w"),
    ]
    version = one(document, "WorkerVersion", "w-version")["inputs"]
    assert version["bindings"][-1] == {
        "name": "AGENT_EDGE_TOKEN",
        "type": "secret_text",
        "text": "[secret]",
    }
    assert "containers" not in version


def test_container_attachment_marks_the_sandbox_class() -> None:
    document = plan_worker(worker_args(containers=("Sandbox",)))
    version = one(document, "WorkerVersion", "w-version")["inputs"]
    assert version["containers"] == [{"className": "Sandbox"}]


@pytest.mark.parametrize("name", ["AGENT_ORIGIN", "DEV_IDENTITY"])
def test_local_only_bindings_are_refused(name: str) -> None:
    with pytest.raises(
        ValueError, match=f"refusing to deploy local-development bindings \\['{name}'\\]"
    ):
        bindings(worker_args(plain_vars={name: "x"}))
    with pytest.raises(ValueError, match="refusing to deploy local-development bindings"):
        bindings(worker_args(secrets={name: "x"}))


def test_a_binding_cannot_be_both_plain_and_secret() -> None:
    with pytest.raises(ValueError, match=r"bindings \['X'\] are declared both plain and secret"):
        bindings(worker_args(plain_vars={"X": "a"}, secrets={"X": "b"}))


def test_more_environment_variables_than_cloudflare_allows_are_refused() -> None:
    plain = {f"P{n}": "x" for n in range(100)}

    async def at_the_limit() -> int:  # secret Outputs need a running loop
        secrets = {f"S{n}": "y" for n in range(28)}
        return len(bindings(worker_args(plain_vars=plain, secrets=secrets)))

    assert asyncio.run(at_the_limit()) >= 128
    with pytest.raises(ValueError, match=r"would have 129 environment variables .* allows 128"):
        bindings(worker_args(plain_vars=plain, secrets={f"S{n}": "y" for n in range(29)}))


def test_a_bundle_without_the_sandbox_class_is_refused() -> None:
    with pytest.raises(BuildError, match="not 'Sandbox2'"):
        run_with_mocks(
            "t-dev", lambda: EdgeWorker("w", worker_args(sandbox_class="Sandbox2")) and None
        )


@pytest.mark.parametrize(
    ("class_name", "binding"),
    [("Sandbox", "SANDBOX"), ("Directory", "DIRECTORY"), ("UserSandbox", "USER_SANDBOX")],
)
def test_durable_object_binding_names(class_name: str, binding: str) -> None:
    assert binding_name(class_name) == binding


def test_permission_groups_resolve_by_name_and_alias() -> None:
    groups = [
        {"name": "Workers R2 Storage Bucket Item Read", "id": "r"},
        {"name": "Workers R2 Storage Bucket Item Write", "id": "w"},
        {"name": "AI Gateway Run", "id": "g"},
        {"name": "AI Gateway Read", "id": "gr"},
        {"name": "Browser Run Edit", "id": "b"},
        {"name": "Zone Read", "id": "z"},
    ]
    assert permissions.resolve(groups) == {
        permissions.R2_ITEM_READ: "r",
        permissions.R2_ITEM_WRITE: "w",
        permissions.AI_GATEWAY_RUN: "g",
        permissions.AI_GATEWAY_READ: "gr",
        permissions.BROWSER_RENDERING_EDIT: "b",
    }


def test_missing_permission_groups_are_all_named() -> None:
    with pytest.raises(
        ValueError, match="'AI Gateway Run', 'AI Gateway Read', 'Browser Rendering Edit'"
    ):
        permissions.resolve(
            [
                {"name": "Workers R2 Storage Bucket Item Read", "id": "r"},
                {"name": "Workers R2 Storage Bucket Item Write", "id": "w"},
            ]
        )


def test_permission_lookup_is_one_invoke_for_the_account() -> None:
    from infra.mocks import PERMISSION_GROUPS_INVOKE, RecordingMocks

    calls: list[pulumi.runtime.MockCallArgs] = []
    original = RecordingMocks.call

    def spy(self: RecordingMocks, args: pulumi.runtime.MockCallArgs) -> Any:
        calls.append(args)
        return original(self, args)

    RecordingMocks.call = spy  # type: ignore[method-assign]
    try:
        from infra_support import minimal_config, plan

        plan("dev", minimal_config())
    finally:
        RecordingMocks.call = original  # type: ignore[method-assign]
    assert [
        (c.token, c.args.get("accountId")) for c in calls if c.token == PERMISSION_GROUPS_INVOKE
    ] == [(PERMISSION_GROUPS_INVOKE, ACCOUNT)]


PERMISSION_IDS = {
    permissions.R2_ITEM_READ: "pg-r",
    permissions.R2_ITEM_WRITE: "pg-w",
    permissions.AI_GATEWAY_RUN: "pg-g",
    permissions.AI_GATEWAY_READ: "pg-gr",
    permissions.BROWSER_RENDERING_EDIT: "pg-b",
}


def declared(document: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return sorted(
        (r["type"].rsplit(":", 1)[-1], r["name"], r["parent"]) for r in document["resources"]
    )


def test_storage_alone() -> None:
    from infra.components.storage import Storage, StorageArgs

    def program() -> None:
        storage = Storage(
            "s",
            StorageArgs(
                account_id=ACCOUNT,
                bucket_name="edgeagent-t-dev",
                jurisdiction="fedramp",
                location=None,
                backup_retention_days=3,
                token_name="edgeagent t/dev state",
                permission_ids=pulumi.Output.from_input(PERMISSION_IDS),
            ),
        )
        pulumi.export("endpoint", storage.endpoint)
        pulumi.export("key", storage.access_key_id)
        pulumi.export("secret", storage.secret_access_key)

    document = run_with_mocks("t-dev", program)
    assert declared(document) == [
        ("AccountToken", "s-token", "s"),
        ("R2Bucket", "s-bucket", "s"),
        ("R2BucketLifecycle", "s-lifecycle", "s"),
        ("Storage", "s", None),
    ]
    assert "location" not in one(document, "R2Bucket", "s-bucket")["inputs"]
    [policy] = one(document, "AccountToken", "s-token")["inputs"]["policies"]
    assert policy["permissionGroups"] == [{"id": "pg-r"}, {"id": "pg-w"}]
    assert policy["resources"] == (
        '{"com.cloudflare.edge.r2.bucket.' + ACCOUNT + '_fedramp_edgeagent-t-dev": "*"}'
    )
    assert document["outputs"] == {
        "endpoint": f"https://{ACCOUNT}.fedramp.r2.cloudflarestorage.com",
        "key": "[secret]",
        "secret": "[secret]",
    }


def test_s3_secret_is_the_sha256_of_the_token_value() -> None:
    import hashlib

    from infra.components.storage import Storage, StorageArgs

    seen: dict[str, str] = {}

    def program() -> None:
        storage = Storage(
            "s",
            StorageArgs(
                account_id=ACCOUNT,
                bucket_name="b",
                jurisdiction="default",
                location="weur",
                backup_retention_days=1,
                token_name="t",
                permission_ids=pulumi.Output.from_input(PERMISSION_IDS),
            ),
        )
        storage.secret_access_key.apply(lambda v: seen.setdefault("secret", v))
        storage.access_key_id.apply(lambda v: seen.setdefault("key", v))

    run_with_mocks("t-dev", program)
    assert seen == {
        "key": "s-token-id",
        "secret": hashlib.sha256(b"mock-token-value-s-token").hexdigest(),
    }


def test_access_alone_without_webhooks_or_rules_but_emails() -> None:
    from infra.components.access import Access, AccessArgs

    def program() -> None:
        Access(
            "a",
            AccessArgs(
                account_id=ACCOUNT,
                hostname="agent.example.com",
                team_domain="https://t.cloudflareaccess.com",
                app_name="app",
                webhooks_app_name="hooks",
                allow_policy_name="allow",
                service_policy_name="svc",
                bypass_policy_name="bypass",
                service_token_name="token",
                allowed_emails=["a@example.com"],
            ),
        )

    document = run_with_mocks("t-dev", program)
    assert declared(document) == [
        ("Access", "a", None),
        ("ZeroTrustAccessApplication", "a-app", "a"),
        ("ZeroTrustAccessPolicy", "a-allow-policy", "a"),
        ("ZeroTrustAccessPolicy", "a-service-policy", "a"),
        ("ZeroTrustAccessServiceToken", "a-service-token", "a"),
    ]
    app = one(document, "ZeroTrustAccessApplication", "a-app")["inputs"]
    assert "allowedIdps" not in app
    assert app["autoRedirectToIdentity"] is False


@pytest.mark.parametrize("component", ["ai", "browser"])
def test_gateway_and_browser_alone(component: str) -> None:
    from infra.components.ai_gateway import AiGateway, AiGatewayArgs
    from infra.components.browser import Browser, BrowserArgs

    def program() -> None:
        ids = pulumi.Output.from_input(PERMISSION_IDS)  # Outputs belong to the run's own loop
        if component == "ai":
            gateway = AiGateway(
                "g",
                AiGatewayArgs(
                    account_id=ACCOUNT, gateway_id="gw", rate_limit=5, rate_limit_interval=10,
                    rate_limit_technique="fixed", cache_ttl=0, collect_logs=False,
                    token_name="t", logs_token_name="l", permission_ids=ids,
                ),
            )  # fmt: skip
            pulumi.export("token", gateway.token)
            pulumi.export("base", gateway.base_url)
        else:
            browser = Browser(
                "b", BrowserArgs(account_id=ACCOUNT, token_name="t", permission_ids=ids)
            )
            pulumi.export("token", browser.token)
            pulumi.export("cdp", browser.cdp_url)

    document = run_with_mocks("t-dev", program)
    assert document["outputs"]["token"] == "[secret]"
    if component == "ai":
        assert declared(document) == [
            ("AccountToken", "g-logs-token", "g"),
            ("AccountToken", "g-token", "g"),
            ("AiGateway", "g", None),
            ("AiGateway", "g-gateway", "g"),
        ]
        gateway = one(document, "AiGateway", "g-gateway")["inputs"]
        assert (gateway["collectLogs"], gateway["rateLimitingTechnique"]) == (False, "fixed")
        assert "spendLimits" not in gateway  # none configured
        assert document["outputs"]["base"] == f"https://gateway.ai.cloudflare.com/v1/{ACCOUNT}/gw"
    else:
        assert declared(document) == [("AccountToken", "b-token", "b"), ("Browser", "b", None)]
        assert document["outputs"]["cdp"] == (
            f"wss://api.cloudflare.com/client/v4/accounts/{ACCOUNT}/browser-rendering/devtools/browser"
        )
