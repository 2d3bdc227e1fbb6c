"""The whole program under recording mocks: resource set, parents, critical inputs, secrets."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import pytest
from infra_support import ACCOUNT, EDGE_DIST, full_config, minimal_config, one, plan, resources_of

from infra.errors import ConfigError
from infra.mocks import mock_permission_group_id
from infra.plan import diff_plans, run_with_mocks

CF = "cloudflare:index"
DEV_RESOURCES = sorted(
    [
        ("edgeagent:index:EdgeAgentStack", "edgeagent"),
        ("edgeagent:index:Storage", "edgeagent-storage"),
        ("edgeagent:index:AiGateway", "edgeagent-ai"),
        ("edgeagent:index:Browser", "edgeagent-browser"),
        ("edgeagent:index:Access", "edgeagent-access"),
        ("edgeagent:index:EdgeWorker", "edgeagent-edge"),
        ("random:index/randomPassword:RandomPassword", "edgeagent-edge-token"),
        (f"{CF}/r2Bucket:R2Bucket", "edgeagent-storage-bucket"),
        (f"{CF}/r2BucketLifecycle:R2BucketLifecycle", "edgeagent-storage-lifecycle"),
        (f"{CF}/accountToken:AccountToken", "edgeagent-storage-token"),
        (f"{CF}/aiGateway:AiGateway", "edgeagent-ai-gateway"),
        (f"{CF}/accountToken:AccountToken", "edgeagent-ai-token"),
        (f"{CF}/accountToken:AccountToken", "edgeagent-ai-logs-token"),
        (f"{CF}/accountToken:AccountToken", "edgeagent-browser-token"),
        (f"{CF}/zeroTrustAccessPolicy:ZeroTrustAccessPolicy", "edgeagent-access-allow-policy"),
        (
            f"{CF}/zeroTrustAccessServiceToken:ZeroTrustAccessServiceToken",
            "edgeagent-access-service-token",
        ),
        (f"{CF}/zeroTrustAccessPolicy:ZeroTrustAccessPolicy", "edgeagent-access-service-policy"),
        (f"{CF}/zeroTrustAccessApplication:ZeroTrustAccessApplication", "edgeagent-access-app"),
        (f"{CF}/worker:Worker", "edgeagent-edge-worker"),
        # Plans are first deploys unless told otherwise: the classes are provisioned first.
        (f"{CF}/workersScript:WorkersScript", "edgeagent-edge-provision"),
        (f"{CF}/workerVersion:WorkerVersion", "edgeagent-edge-version"),
        (f"{CF}/workersDeployment:WorkersDeployment", "edgeagent-edge-deployment"),
        (f"{CF}/workersCronTrigger:WorkersCronTrigger", "edgeagent-edge-cron"),
        ("edgeagent:index:Container", "edgeagent-container"),
        ("docker-build:index:Image", "edgeagent-container-image"),
        (
            "pulumi-python:dynamic/edgeagent:ContainerApplication",
            "edgeagent-container-application",
        ),
    ]
)
WEBHOOK_EXTRA = [
    (
        f"{CF}/zeroTrustAccessPolicy:ZeroTrustAccessPolicy",
        "edgeagent-access-webhooks-bypass-policy",
    ),
    (
        f"{CF}/zeroTrustAccessApplication:ZeroTrustAccessApplication",
        "edgeagent-access-webhooks-app",
    ),
]
FULL_EXTRA = sorted(
    [
        (f"{CF}/workersCustomDomain:WorkersCustomDomain", "edgeagent-edge-domain"),
        (
            f"{CF}/zeroTrustAccessPolicy:ZeroTrustAccessPolicy",
            "edgeagent-access-webhooks-bypass-policy",
        ),
        (
            f"{CF}/zeroTrustAccessApplication:ZeroTrustAccessApplication",
            "edgeagent-access-webhooks-app",
        ),
    ]
)


def type_names(document: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((r["type"], r["name"]) for r in document["resources"])


def bindings_of(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    version = one(document, "WorkerVersion", "edgeagent-edge-version")
    return {b["name"]: b for b in version["inputs"]["bindings"]}


def test_dev_declares_exactly_the_expected_resources(dev_plan: dict[str, Any]) -> None:
    assert type_names(dev_plan) == DEV_RESOURCES


def test_custom_domain_with_channels_adds_domain_and_webhook_bypass(
    full_plan: dict[str, Any],
) -> None:
    assert type_names(full_plan) == sorted(DEV_RESOURCES + FULL_EXTRA)


def test_every_resource_has_its_component_as_parent(full_plan: dict[str, Any]) -> None:
    parents = {r["name"]: r["parent"] for r in full_plan["resources"]}
    assert parents["edgeagent"] is None
    for name, parent in parents.items():
        if name == "edgeagent":
            continue
        component = name if name.count("-") == 1 else "-".join(name.split("-")[:2])
        expected = "edgeagent" if name in {component, "edgeagent-edge-token"} else component
        assert parent == expected, name


def test_bucket_is_private_and_located_as_configured(full_plan: dict[str, Any]) -> None:
    bucket = one(full_plan, "R2Bucket", "edgeagent-storage-bucket")["inputs"]
    assert bucket == {
        "accountId": ACCOUNT,
        "name": "edgeagent-acme-prod",
        "jurisdiction": "eu",
        "location": "weur",
        "storageClass": "Standard",
    }
    public = {"R2ManagedDomain", "R2CustomDomain", "R2BucketCors"}
    assert not [r for r in full_plan["resources"] if r["type"].rsplit(":", 1)[-1] in public]
    assert full_plan["outputs"]["stateEndpoint"] == f"https://{ACCOUNT}.eu.r2.cloudflarestorage.com"


def test_lifecycle_aborts_multipart_and_expires_backups_and_delivery_records(
    dev_plan: dict[str, Any],
) -> None:
    rules = one(dev_plan, "R2BucketLifecycle", "edgeagent-storage-lifecycle")["inputs"]["rules"]
    assert rules == [
        {
            "id": "abort-incomplete-multipart-uploads",
            "enabled": True,
            "conditions": {"prefix": ""},
            "abortMultipartUploadsTransition": {"condition": {"type": "Age", "maxAge": 7 * 86400}},
        },
        {
            "id": "expire-old-backups",
            "enabled": True,
            "conditions": {"prefix": "backups/"},
            "deleteObjectsTransition": {"condition": {"type": "Age", "maxAge": 30 * 86400}},
        },
    ]


def test_state_token_is_scoped_to_exactly_this_bucket(full_plan: dict[str, Any]) -> None:
    token = one(full_plan, "AccountToken", "edgeagent-storage-token")["inputs"]
    assert token["name"] == "edgeagent acme/prod state"
    [policy] = token["policies"]
    assert policy["effect"] == "allow"
    assert json.loads(policy["resources"]) == {
        f"com.cloudflare.edge.r2.bucket.{ACCOUNT}_eu_edgeagent-acme-prod": "*"
    }
    assert policy["permissionGroups"] == [
        {"id": mock_permission_group_id("Workers R2 Storage Bucket Item Read")},
        {"id": mock_permission_group_id("Workers R2 Storage Bucket Item Write")},
    ]


@pytest.mark.parametrize(
    ("token", "permission"),
    [
        ("edgeagent-ai-token", "AI Gateway Run"),
        ("edgeagent-ai-logs-token", "AI Gateway Read"),
        ("edgeagent-browser-token", "Browser Rendering Edit"),
    ],
)
def test_service_tokens_carry_only_their_permission(
    dev_plan: dict[str, Any], token: str, permission: str
) -> None:
    [policy] = one(dev_plan, "AccountToken", token)["inputs"]["policies"]
    assert policy["permissionGroups"] == [{"id": mock_permission_group_id(permission)}]
    assert json.loads(policy["resources"]) == {f"com.cloudflare.api.account.{ACCOUNT}": "*"}


def test_ai_gateway_is_authenticated_rate_limited_and_cached(full_plan: dict[str, Any]) -> None:
    gateway = one(full_plan, "AiGateway", "edgeagent-ai-gateway")["inputs"]
    assert gateway["aiGatewayId"] == "edgeagent-acme-prod"
    assert gateway["authentication"] is True
    assert gateway["collectLogs"] is True
    assert (gateway["rateLimitingLimit"], gateway["rateLimitingInterval"]) == (120, 60)
    assert gateway["rateLimitingTechnique"] == "sliding"
    assert gateway["cacheTtl"] == 300
    base = f"https://gateway.ai.cloudflare.com/v1/{ACCOUNT}/edgeagent-acme-prod"
    assert full_plan["outputs"]["aiGatewayBaseUrl"] == base
    assert full_plan["outputs"]["aiGatewayUrls"] == {
        "compat": f"{base}/compat",
        "openai": f"{base}/openai",
        "anthropic": f"{base}/anthropic",
        "workers-ai": f"{base}/workers-ai/v1",
    }
    assert bindings_of(full_plan)["AI_GATEWAY_BASE_URL"]["text"] == base


def test_allow_policy_carries_exactly_the_configured_rules(full_plan: dict[str, Any]) -> None:
    allow = one(full_plan, "ZeroTrustAccessPolicy", "edgeagent-access-allow-policy")["inputs"]
    assert allow["decision"] == "allow"
    assert allow["includes"] == [
        {"email": {"email": "me@example.com"}},
        {"email": {"email": "you@example.com"}},
        {"emailDomain": {"domain": "example.org"}},
        {"group": {"id": "2f4f6a2e-7d3c-4c4e-9d4e-0a1b2c3d4e5f"}},
    ]
    assert "requires" not in allow
    assert "excludes" not in allow


def test_access_application_protects_the_whole_hostname(full_plan: dict[str, Any]) -> None:
    app = one(full_plan, "ZeroTrustAccessApplication", "edgeagent-access-app")["inputs"]
    assert app["domain"] == "agent.example.com"
    assert app["destinations"] == [{"type": "public", "uri": "agent.example.com"}]
    assert app["type"] == "self_hosted"
    assert app["allowedIdps"] == ["7c9e6679-7425-40de-944b-e07fc1f90ae7"]
    assert app["policies"] == [
        {"id": "edgeagent-access-allow-policy-id", "precedence": 1},
        {"id": "edgeagent-access-service-policy-id", "precedence": 2},
    ]
    service = one(full_plan, "ZeroTrustAccessPolicy", "edgeagent-access-service-policy")["inputs"]
    assert service["decision"] == "non_identity"
    assert service["includes"] == [
        {"serviceToken": {"tokenId": "edgeagent-access-service-token-id"}}
    ]


def test_workers_dev_access_protects_the_worker_by_id(dev_plan: dict[str, Any]) -> None:
    app = one(dev_plan, "ZeroTrustAccessApplication", "edgeagent-access-app")
    assert app["inputs"]["destinations"] == [
        {"type": "worker", "workerId": "edgeagent-edge-worker-id"},
        {"type": "preview_worker", "workerId": "edgeagent-edge-worker-id"},
    ]
    assert app["inputs"]["domain"] == "edgeagent-default-dev.example-team.workers.dev"
    # The Worker exists before its Access application, which exists before the version that
    # binds its AUD.
    assert "edgeagent-edge-worker" in app["dependsOn"]
    version = one(dev_plan, "WorkerVersion", "edgeagent-edge-version")
    assert "edgeagent-access-app" in version["dependsOn"]


def test_webhook_bypass_covers_only_the_webhook_paths(full_plan: dict[str, Any]) -> None:
    app = one(full_plan, "ZeroTrustAccessApplication", "edgeagent-access-webhooks-app")["inputs"]
    assert app["domain"] == "agent.example.com/webhooks/*"
    assert app["destinations"] == [{"type": "public", "uri": "agent.example.com/webhooks/*"}]
    assert app["policies"] == [
        {"id": "edgeagent-access-webhooks-bypass-policy-id", "precedence": 1}
    ]
    bypass = one(full_plan, "ZeroTrustAccessPolicy", "edgeagent-access-webhooks-bypass-policy")
    assert bypass["inputs"]["decision"] == "bypass"
    bypasses = [
        r["name"]
        for r in resources_of(full_plan, "ZeroTrustAccessPolicy")
        if r["inputs"]["decision"] == "bypass"
    ]
    assert bypasses == ["edgeagent-access-webhooks-bypass-policy"]


@pytest.mark.parametrize("channel", ["telegram", "slack", "discord", "whatsapp"])
def test_each_channel_alone_gets_the_webhook_bypass(channel: str) -> None:
    others = {"telegram", "slack", "discord", "whatsapp"} - {channel}
    alone = {
        key: value
        for key, value in full_config().items()
        if not any(key.startswith(f"edgeagent:{other}") for other in others)
    }
    document = plan("acme-prod", alone)
    bypass = one(document, "ZeroTrustAccessPolicy", "edgeagent-access-webhooks-bypass-policy")
    assert bypass["inputs"]["decision"] == "bypass"


def test_no_bypass_exists_without_a_channel(dev_plan: dict[str, Any]) -> None:
    decisions = [r["inputs"]["decision"] for r in resources_of(dev_plan, "ZeroTrustAccessPolicy")]
    assert sorted(decisions) == ["allow", "non_identity"]


CONTRACT_PLAIN = {
    "TENANT", "ISOLATION", "ACCESS_TEAM_DOMAIN", "ACCESS_AUD", "SLEEP_AFTER",
    "COLD_START_TIMEOUT_MS", "AGENT_ENGINE", "AGENT_MODEL", "AI_GATEWAY_BASE_URL",
    "STATE_BUCKET", "STATE_ENDPOINT", "BROWSER_CDP_URL", "CHANNEL_RECORD_RETENTION_DAYS",
    "ATTACHMENT_RETENTION_DAYS",
    "AGENT_CONTAINER_MONTHLY_USD",
}  # fmt: skip
CONTRACT_SECRETS = {
    "AGENT_EDGE_TOKEN", "AI_GATEWAY_TOKEN", "AI_GATEWAY_LOGS_TOKEN", "STATE_ACCESS_KEY_ID",
    "STATE_SECRET_ACCESS_KEY", "BROWSER_API_TOKEN",
}  # fmt: skip
CHANNEL_SECRETS = {
    "TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET",
    "DISCORD_BOT_TOKEN", "WHATSAPP_ACCESS_TOKEN", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN",
}  # fmt: skip


def test_worker_bindings_follow_the_contract(full_plan: dict[str, Any]) -> None:
    bindings = bindings_of(full_plan)
    by_type: dict[str, set[str]] = {}
    for name, binding in bindings.items():
        by_type.setdefault(binding["type"], set()).add(name)
    assert by_type == {
        "durable_object_namespace": {"SANDBOX", "DIRECTORY"},
        "plain_text": CONTRACT_PLAIN
        | {"DISCORD_PUBLIC_KEY", "DISCORD_APPLICATION_ID", "WHATSAPP_PHONE_NUMBER_ID"},
        "secret_text": CONTRACT_SECRETS | CHANNEL_SECRETS,
    }
    assert bindings["SANDBOX"]["className"] == "Sandbox"
    assert all(bindings[name]["text"] == "[secret]" for name in by_type["secret_text"])
    assert bindings["TENANT"]["text"] == "acme"
    assert bindings["ISOLATION"]["text"] == "per-user"
    assert bindings["ACCESS_AUD"]["text"] == full_plan["outputs"]["accessAud"]
    assert bindings["ACCESS_TEAM_DOMAIN"]["text"] == "https://example-team.cloudflareaccess.com"
    assert bindings["STATE_BUCKET"]["text"] == "edgeagent-acme-prod"


def test_worker_version_uploads_the_manifest_modules_and_declares_classes(
    dev_plan: dict[str, Any],
) -> None:
    version = one(dev_plan, "WorkerVersion", "edgeagent-edge-version")["inputs"]
    manifest = json.loads((EDGE_DIST / "manifest.json").read_text())
    assert version["mainModule"] == manifest["main_module"]
    assert version["compatibilityDate"] == manifest["compatibility_date"]
    assert version["compatibilityFlags"] == manifest["compatibility_flags"]
    assert version["exports"] == {
        "Sandbox": {"type": "durable-object", "storage": "sqlite"},
        "Directory": {"type": "durable-object", "storage": "sqlite"},
    }
    assert "migrations" not in version
    [module] = version["modules"]
    assert module["name"] == "index.js"
    assert module["contentType"] == "application/javascript+module"
    # Relative to infra/, where Pulumi runs the program and its providers (infra/paths.py).
    assert module["contentFile"] == "../tests/infra/fixtures/edge-dist/index.js"
    assert version["containers"] == [{"className": "Sandbox"}]
    assert set(bindings_of(dev_plan)) == CONTRACT_PLAIN | CONTRACT_SECRETS | {
        "SANDBOX",
        "DIRECTORY",
    }


def test_deployment_routes_all_traffic_to_the_version_and_cron_is_set(
    full_plan: dict[str, Any],
) -> None:
    deployment = one(full_plan, "WorkersDeployment", "edgeagent-edge-deployment")["inputs"]
    assert deployment["versions"] == [{"percentage": 100, "versionId": "edgeagent-edge-version-id"}]
    cron = one(full_plan, "WorkersCronTrigger", "edgeagent-edge-cron")["inputs"]
    assert cron["schedules"] == [{"cron": "0 * * * *"}]
    assert cron["scriptName"] == "edgeagent-acme-prod"


def test_workers_dev_only_without_a_custom_domain(
    dev_plan: dict[str, Any], full_plan: dict[str, Any]
) -> None:
    dev_worker = one(dev_plan, "Worker", "edgeagent-edge-worker")["inputs"]
    assert dev_worker["subdomain"] == {"enabled": True, "previewsEnabled": False}
    assert dev_worker["observability"]["enabled"] is True
    assert dev_plan["outputs"]["url"] == "https://edgeagent-default-dev.example-team.workers.dev"
    full_worker = one(full_plan, "Worker", "edgeagent-edge-worker")["inputs"]
    assert full_worker["subdomain"] == {"enabled": False, "previewsEnabled": False}
    domain = one(full_plan, "WorkersCustomDomain", "edgeagent-edge-domain")["inputs"]
    assert domain == {
        "accountId": ACCOUNT,
        "hostname": "agent.example.com",
        "service": "edgeagent-acme-prod",
        "zoneId": "fedcba9876543210fedcba9876543210",
    }
    assert full_plan["outputs"]["url"] == "https://agent.example.com"


def test_outputs_and_their_secret_parts(full_plan: dict[str, Any]) -> None:
    outputs = full_plan["outputs"]
    assert sorted(outputs) == [
        "accessAud", "accessTeamDomain", "aiGatewayBaseUrl", "aiGatewayId", "aiGatewayUrls",
        "bucket", "coldStartTimeoutMs", "serviceTokenClientId", "serviceTokenClientSecret",
        "stateAccessKeyId", "stateEndpoint", "stateSecretAccessKey", "url", "webhookChannels",
        "workerName",
    ]  # fmt: skip
    assert outputs["serviceTokenClientSecret"] == "[secret]"
    # What `infra.verify` reads: the state credentials only as secrets.
    assert outputs["stateAccessKeyId"] == outputs["stateSecretAccessKey"] == "[secret]"
    assert outputs["webhookChannels"] == ["telegram", "slack", "discord", "whatsapp"]
    assert outputs["coldStartTimeoutMs"] == 60000
    assert outputs["bucket"] == "edgeagent-acme-prod"
    assert outputs["aiGatewayId"] == "edgeagent-acme-prod"


def test_secure_values_are_never_printed(full_plan: dict[str, Any]) -> None:
    text = json.dumps(full_plan)
    assert "CIPHER" not in text
    assert "mock-token-value" not in text  # derived token values and S3 secret stay secret
    assert "mock-random" not in text
    assert "mock-secret" not in text


def test_whole_program_with_decrypted_secrets_never_leaks_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`pulumi up` path: runpy of infra/__main__.py with real (sentinel) secret values."""
    sentinels = {
        "edgeagent:telegramBotToken": "SENTINEL-telegram-1",
        "edgeagent:telegramWebhookSecret": "SENTINEL-telegram-2",
        "edgeagent:slackBotToken": "SENTINEL-slack-1",
        "edgeagent:slackSigningSecret": "SENTINEL-slack-2",
    }
    values = {k: v if isinstance(v, str) else json.dumps(v) for k, v in minimal_config().items()}
    values.update(sentinels)
    main = Path(__file__).resolve().parents[2] / "infra" / "__main__.py"
    monkeypatch.setenv("EDGEAGENT_EDGE_DIST", str(EDGE_DIST))

    def program() -> None:
        runpy.run_path(str(main), run_name="__main__")

    document = run_with_mocks("dev", program, values, set(sentinels))
    assert "SENTINEL" not in json.dumps(document)
    bindings = bindings_of(document)
    for name in (
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_WEBHOOK_SECRET",
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
    ):
        assert bindings[name] == {"name": name, "type": "secret_text", "text": "[secret]"}
    assert type_names(document) == sorted(DEV_RESOURCES + WEBHOOK_EXTRA)


@pytest.mark.slow  # over half a second of CPU (make test-cost)
def test_plan_is_deterministic() -> None:
    first = json.dumps(plan("acme-prod", full_config()), sort_keys=True)
    second = json.dumps(plan("acme-prod", full_config()), sort_keys=True)
    assert first == second


def test_tenants_never_collide_and_each_token_sees_only_its_bucket() -> None:
    config = minimal_config()
    plans = {stack: plan(stack, config) for stack in ("acme-prod", "beta-prod", "acme-dev")}
    names: dict[str, set[str]] = {}
    for stack, document in plans.items():
        owned = {
            str(r["inputs"][key])
            for r in document["resources"]
            for key in ("name", "aiGatewayId", "domain")
            if key in r["inputs"]
        }
        names[stack] = owned
        [policy] = one(document, "AccountToken", "edgeagent-storage-token")["inputs"]["policies"]
        bucket = one(document, "R2Bucket", "edgeagent-storage-bucket")["inputs"]["name"]
        assert json.loads(policy["resources"]) == {
            f"com.cloudflare.edge.r2.bucket.{ACCOUNT}_default_{bucket}": "*"
        }
    stacks = list(names)
    for i, a in enumerate(stacks):
        for b in stacks[i + 1 :]:
            assert names[a].isdisjoint(names[b]), (a, b, names[a] & names[b])


@pytest.mark.slow  # over half a second of CPU (make test-cost)
def test_diff_names_added_removed_and_changed_paths() -> None:
    old = plan("acme-prod", minimal_config())
    changed = {
        **minimal_config(),
        "edgeagent:allowedEmails": ["me@example.com", "ops@example.com"],
        "edgeagent:cron": "0 * * * *",
        "edgeagent:slackBotToken": {"secure": "v1:a"},
        "edgeagent:slackSigningSecret": {"secure": "v1:b"},
    }
    new = plan("acme-prod", changed)
    diff = diff_plans(old, new)
    policy = f"{CF}/zeroTrustAccessPolicy:ZeroTrustAccessPolicy"
    app = f"{CF}/zeroTrustAccessApplication:ZeroTrustAccessApplication"
    assert diff["added"] == [
        {"type": app, "name": "edgeagent-access-webhooks-app"},
        {"type": policy, "name": "edgeagent-access-webhooks-bypass-policy"},
    ]
    assert diff["removed"] == []
    by_name = {c["name"]: c["paths"] for c in diff["changed"]}
    assert by_name["edgeagent-access-allow-policy"] == ["includes"]
    assert by_name["edgeagent-edge-cron"] == ["schedules[0].cron"]
    assert by_name["edgeagent-edge-version"] == ["bindings"]
    assert by_name["edgeagent-edge-provision"] == ["bindings"]
    assert set(by_name) == {
        "edgeagent-access-allow-policy",
        "edgeagent-edge-cron",
        "edgeagent-edge-provision",
        "edgeagent-edge-version",
    }
    assert diff_plans(new, new) == {"added": [], "removed": [], "changed": []}
    back = diff_plans(new, old)
    assert [r["name"] for r in back["removed"]] == [
        "edgeagent-access-webhooks-app",
        "edgeagent-access-webhooks-bypass-policy",
    ]


def test_same_length_lists_diff_by_index() -> None:
    old = plan("acme-prod", minimal_config())
    new = plan("acme-prod", {**minimal_config(), "edgeagent:allowedEmails": ["other@example.com"]})
    [change] = diff_plans(old, new)["changed"]
    assert change == {
        "type": f"{CF}/zeroTrustAccessPolicy:ZeroTrustAccessPolicy",
        "name": "edgeagent-access-allow-policy",
        "paths": ["includes[0].email.email"],
    }


def run_program(values: dict[str, str], secret_keys: set[str]) -> dict[str, Any]:
    from infra.program import main

    return run_with_mocks("dev", lambda: main(EDGE_DIST) and None, values, secret_keys)


def test_program_refuses_a_secret_given_in_clear_before_declaring_anything() -> None:
    values = {k: v if isinstance(v, str) else json.dumps(v) for k, v in minimal_config().items()}
    values["edgeagent:discordBotToken"] = "SENTINEL-in-clear"
    values["edgeagent:discordPublicKey"] = "ab" * 32
    values["edgeagent:discordApplicationId"] = "123456789012345678"
    with pytest.raises(ConfigError) as caught:
        run_program(values, set())
    assert [issue.key for issue in caught.value.issues] == ["edgeagent:discordBotToken"]
    assert "SENTINEL" not in str(caught.value)
    document = run_program(values, {"edgeagent:discordBotToken"})
    assert bindings_of(document)["DISCORD_BOT_TOKEN"]["text"] == "[secret]"
    assert bindings_of(document)["DISCORD_PUBLIC_KEY"]["text"] == "ab" * 32
