"""Optional runtime settings as Worker bindings, the OpenClaw extras, and the runtime agreeing.

Every binding declared in agent/contract/settings.py is bound by some configuration; one declared
from a config key becomes a binding only when configured, and the runtime reads the bound value as
intended.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from infra_support import full_config, minimal_config, one, plan
from test_infra_plan import DEV_RESOURCES, bindings_of, type_names

from agent.contract.settings import bindings
from agent.runtime.channels.config import load_channel_configs
from agent.runtime.settings import load_settings
from infra.bindings import config_field
from infra.components.worker import MAX_ENVIRONMENT_VARIABLES
from infra.config import StackConfig


def optional_bindings() -> set[str]:
    """Declared runtime settings bound from a config key that has no value by default (and that
    the full fixture configuration leaves unset)."""
    names = set()
    for setting in bindings():
        key = f"edgeagent:{setting.config}"
        if setting.reach == "container" and setting.config is not None and key not in full_config():
            field = StackConfig.model_fields[config_field(setting)]
            if not field.is_required() and field.get_default(call_default_factory=True) in (
                None,
                [],
            ):
                names.add(setting.name)
    return names


OPTIONAL = optional_bindings() | {
    "OPENCLAW_ALLOWED_ORIGINS",
    "OPENCLAW_PUBLIC_URL",
    "OPENCLAW_TELEGRAM_WEBHOOK_SECRET",
    "OPENCLAW_SLACK_SIGNING_SECRET",
    "OPENCLAW_GATEWAY_TOKEN",
    "AGENT_MODEL_ROUTE",  # bound only with edgeagent:modelFallbacks
    "EMAIL_RELAY_URL",  # bound only with edgeagent:emailAddress
}
OPENCLAW = {"edgeagent:agentEngine": "openclaw", "edgeagent:instanceType": "standard-1"}
# Channels agentEngine openclaw refuses (it cannot take them from the edge's webhooks).
OPENCLAW_REFUSED = ("edgeagent:discord", "edgeagent:whatsapp")


def with_openclaw(config: dict[str, Any]) -> dict[str, Any]:
    """`config` on the OpenClaw engine, without the channels that engine refuses."""
    return {k: v for k, v in config.items() if not k.startswith(OPENCLAW_REFUSED)} | OPENCLAW


TOKEN_RESOURCE = ("random:index/randomPassword:RandomPassword", "edgeagent-openclaw-token")
SETTINGS = {
    "edgeagent:agentInstructions": "You are Ada, my research assistant.\nCite sources.",
    "edgeagent:agentTurnTimeoutS": 90,
    "edgeagent:agentContextTokens": 32000,
    "edgeagent:agentAttachmentMaxBytes": 2_000_000,
    "edgeagent:agentAttachmentMaxPerMessage": 3,
    "edgeagent:agentAttachmentTextChars": 5000,
    "edgeagent:agentModelImages": False,
    "edgeagent:agentTranscriptionModel": "@cf/openai/whisper-large-v3",
    "edgeagent:agentTranscriptionMaxSeconds": 300,
    "edgeagent:agentTranscriptionMaxBytes": 5_000_000,
    "edgeagent:agentLogLevel": "warning",
    "edgeagent:agentTimezone": "Europe/Paris",
    "edgeagent:jobTimeoutS": "600",
    "edgeagent:webFetchAllowlist": ["intranet.example.com", "10.1.0.0/16"],
    "edgeagent:telegramDmPolicy": "allowlist",
    "edgeagent:telegramAllowlist": ["123456789", "987654321"],
    "edgeagent:slackDmPolicy": "open",
    "edgeagent:slackAllowlist": ["U0123ABCD"],
    "edgeagent:discordDmPolicy": "pairing",
    "edgeagent:discordAllowlist": ["80351110224678912"],
    "edgeagent:whatsappDmPolicy": "allowlist",
    "edgeagent:whatsappAllowlist": ["15551234567"],
    "edgeagent:emailAddress": "agent@example.com",
    "edgeagent:emailAllowlist": ["me@example.com", "you@example.org"],
    "edgeagent:adminEmails": ["ops@example.com", "lead@example.com"],
    "edgeagent:mcpServers": {"secure": "v1:CIPHER-MCP"},
    "edgeagent:agentModel": "openai:gpt-5-mini",
    "edgeagent:modelFallbacks": ["anthropic:claude-haiku-4-5"],
    "edgeagent:jobModel": "openai:gpt-5-nano",
    "edgeagent:spendLimitDailyUsd": "5.00",
    "edgeagent:spendLimitMonthlyUsd": "100.00",
    "edgeagent:userSpendLimitDailyUsd": "1.50",
}
EXPECTED_TEXT = {
    "AGENT_INSTRUCTIONS": "You are Ada, my research assistant.\nCite sources.",
    "AGENT_TURN_TIMEOUT_S": "90",
    "AGENT_CONTEXT_TOKENS": "32000",
    "AGENT_LOG_LEVEL": "warning",
    "AGENT_TIMEZONE": "Europe/Paris",
    "JOB_TIMEOUT_S": "600",
    "WEB_FETCH_ALLOWLIST": "intranet.example.com,10.1.0.0/16",
    "TELEGRAM_DM_POLICY": "allowlist",
    "TELEGRAM_ALLOWLIST": "123456789,987654321",
    "SLACK_DM_POLICY": "open",
    "SLACK_ALLOWLIST": "U0123ABCD",
    "DISCORD_DM_POLICY": "pairing",
    "DISCORD_ALLOWLIST": "80351110224678912",
    "EMAIL_ADDRESS": "agent@example.com",
    "EMAIL_ALLOWLIST": "me@example.com,you@example.org",
    "AGENT_ADMIN_EMAILS": "ops@example.com,lead@example.com",
    "AGENT_MODEL_ROUTE": "agent",
    "AGENT_JOB_MODEL": "openai:gpt-5-nano",
    "AGENT_SPEND_LIMIT_DAILY_USD": "5.00",
    "AGENT_SPEND_LIMIT_MONTHLY_USD": "100.00",
    "AGENT_USER_SPEND_LIMIT_DAILY_USD": "1.50",
}


@pytest.fixture(scope="module")
def settings_plan() -> dict[str, Any]:
    return plan("acme-prod", {**full_config(), **SETTINGS})


@pytest.fixture(scope="module")
def openclaw_plan() -> dict[str, Any]:
    return plan("dev", {**minimal_config(), **OPENCLAW})


def test_no_optional_setting_is_bound_unless_configured(
    dev_plan: dict[str, Any], full_plan: dict[str, Any]
) -> None:
    for document in (dev_plan, full_plan):
        bound = set(bindings_of(document))
        assert not bound & OPTIONAL
        assert bindings_of(document)["COLD_START_TIMEOUT_MS"]["text"] == "60000"
    assert "openclawGatewayToken" not in dev_plan["outputs"]


def test_configured_settings_become_plain_bindings_with_runtime_syntax(
    settings_plan: dict[str, Any],
) -> None:
    bindings = bindings_of(settings_plan)
    for name, text in EXPECTED_TEXT.items():
        assert bindings[name] == {"name": name, "type": "plain_text", "text": text}
    assert "OPENCLAW_ALLOWED_ORIGINS" not in bindings  # native engine


def test_openclaw_gets_a_generated_gateway_token_its_origin_and_a_longer_cold_start(
    openclaw_plan: dict[str, Any],
) -> None:
    assert type_names(openclaw_plan) == sorted([*DEV_RESOURCES, TOKEN_RESOURCE])
    token = one(openclaw_plan, "RandomPassword", "edgeagent-openclaw-token")
    assert token["parent"] == "edgeagent"
    assert (token["inputs"]["length"], token["inputs"]["special"]) == (48, False)
    bindings = bindings_of(openclaw_plan)
    assert bindings["OPENCLAW_GATEWAY_TOKEN"] == {
        "name": "OPENCLAW_GATEWAY_TOKEN",
        "type": "secret_text",
        "text": "[secret]",
    }
    assert bindings["OPENCLAW_ALLOWED_ORIGINS"]["text"] == openclaw_plan["outputs"]["url"]
    assert (
        openclaw_plan["outputs"]["url"] == "https://edgeagent-default-dev.example-team.workers.dev"
    )
    assert bindings["COLD_START_TIMEOUT_MS"]["text"] == "120000"
    assert bindings["AGENT_ENGINE"]["text"] == "openclaw"
    assert openclaw_plan["outputs"]["openclawGatewayToken"] == "[secret]"
    assert "mock-random" not in json.dumps(openclaw_plan)


def test_openclaw_origins_follow_the_custom_domain_or_the_configured_list() -> None:
    domain = plan("acme-prod", with_openclaw(full_config()))
    assert bindings_of(domain)["OPENCLAW_ALLOWED_ORIGINS"]["text"] == "https://agent.example.com"
    origins = ["https://agent.example.com", "https://admin.example.com:8443"]
    explicit = plan(
        "acme-prod",
        {**with_openclaw(full_config()), "edgeagent:openclawAllowedOrigins": origins},
    )
    assert bindings_of(explicit)["OPENCLAW_ALLOWED_ORIGINS"]["text"] == ",".join(origins)
    timeout = plan(
        "acme-prod", {**with_openclaw(full_config()), "edgeagent:coldStartTimeoutMs": 9000}
    )
    assert bindings_of(timeout)["COLD_START_TIMEOUT_MS"]["text"] == "9000"


@pytest.mark.slow  # over half a second of CPU (make test-cost)
def test_openclaw_telegram_gets_the_public_url_and_the_edge_secret() -> None:
    bindings = bindings_of(plan("acme-prod", with_openclaw(full_config())))
    assert bindings["OPENCLAW_PUBLIC_URL"]["text"] == "https://agent.example.com"
    assert bindings["OPENCLAW_TELEGRAM_WEBHOOK_SECRET"]["type"] == "secret_text"
    assert bindings["TELEGRAM_WEBHOOK_SECRET"]["type"] == "secret_text"  # the edge verifies too
    without = bindings_of(plan("dev", {**minimal_config(), **OPENCLAW}))
    assert "OPENCLAW_TELEGRAM_WEBHOOK_SECRET" not in without
    assert without["OPENCLAW_PUBLIC_URL"]["text"] == (
        "https://edgeagent-default-dev.example-team.workers.dev"
    )
    native = bindings_of(plan("acme-prod", full_config()))
    assert not {"OPENCLAW_PUBLIC_URL", "OPENCLAW_TELEGRAM_WEBHOOK_SECRET"} & set(native)


def test_openclaw_slack_gets_the_signing_secret_the_edge_verifies() -> None:
    bindings = bindings_of(plan("acme-prod", with_openclaw(full_config())))
    assert bindings["OPENCLAW_SLACK_SIGNING_SECRET"]["type"] == "secret_text"
    assert bindings["SLACK_SIGNING_SECRET"]["type"] == "secret_text"  # the edge verifies too
    assert bindings["SLACK_BOT_TOKEN"]["type"] == "secret_text"
    without = bindings_of(plan("dev", {**minimal_config(), **OPENCLAW}))
    assert "OPENCLAW_SLACK_SIGNING_SECRET" not in without
    native = bindings_of(plan("acme-prod", full_config()))
    assert "OPENCLAW_SLACK_SIGNING_SECRET" not in native


def test_record_retention_goes_to_the_runtime_not_to_a_bucket_rule() -> None:
    document = plan("dev", {**minimal_config(), "edgeagent:channelRecordRetentionDays": 7})
    rules = one(document, "R2BucketLifecycle", "edgeagent-storage-lifecycle")["inputs"]["rules"]
    ages = {r["conditions"]["prefix"]: r["deleteObjectsTransition"]["condition"]["maxAge"] for r in
            rules if "deleteObjectsTransition" in r}  # fmt: skip
    # A prefix rule would also expire pending messages and miss `users/<id>/...`.
    assert ages == {"backups/": 30 * 86400}
    assert bindings_of(document)["CHANNEL_RECORD_RETENTION_DAYS"]["text"] == "7"
    default = bindings_of(plan("dev", minimal_config()))
    assert default["CHANNEL_RECORD_RETENTION_DAYS"]["text"] == "30"
    settings = load_settings(
        agent_tenant="acme", agent_edge_token="e" * 32, state_backend="local",
        channel_record_retention_days=bindings_of(document)["CHANNEL_RECORD_RETENTION_DAYS"]["text"],
    )  # fmt: skip
    assert settings.channel_record_retention_days == 7


def test_attachment_retention_reaches_the_runtime_with_a_default() -> None:
    document = plan("dev", {**minimal_config(), "edgeagent:attachmentRetentionDays": 14})
    assert bindings_of(document)["ATTACHMENT_RETENTION_DAYS"]["text"] == "14"
    default = bindings_of(plan("dev", minimal_config()))
    assert default["ATTACHMENT_RETENTION_DAYS"]["text"] == "90"
    settings = load_settings(
        agent_tenant="acme", agent_edge_token="e" * 32, state_backend="local",
        attachment_retention_days=bindings_of(document)["ATTACHMENT_RETENTION_DAYS"]["text"],
    )  # fmt: skip
    assert settings.attachment_retention_days == 14


@pytest.mark.slow  # over half a second of CPU (make test-cost)
def test_every_declared_binding_is_bound_by_some_configuration() -> None:
    everything = {**full_config(), **SETTINGS}
    native_plan = plan("acme-prod", everything)
    openclaw_plan = plan("acme-prod", with_openclaw(everything))
    native, openclaw = set(bindings_of(native_plan)), set(bindings_of(openclaw_plan))
    expected = {setting.name for setting in bindings()}
    assert {"OPENCLAW_GATEWAY_TOKEN", "ACCESS_AUD", "SANDBOX"} <= expected
    # EMAIL is the send_email binding, no setting: infra/components/stack.py declares it.
    assert native | openclaw == expected | {"EMAIL"}
    # Text and secret variables against Cloudflare's per-Worker limit (Workers Paid: 128;
    # Durable Object namespaces and the send_email binding are no variables).
    for document in (native_plan, openclaw_plan):
        kinds = [binding["type"] for binding in bindings_of(document).values()]
        variables = kinds.count("plain_text") + kinds.count("secret_text")
        assert variables <= MAX_ENVIRONMENT_VARIABLES
    declared = native | openclaw
    assert "AGENT_SESSION_CACHE_BYTES" not in declared  # container-only: no binding
    assert {"TELEGRAM_DM_POLICY", "AGENT_TIMEZONE"} <= OPTIONAL  # the derivation found them


@pytest.mark.slow  # over half a second of CPU (make test-cost)
def test_the_runtime_reads_the_bound_values_as_configured() -> None:
    """Both sides agree: the plain bindings the edge passes load into runtime settings."""
    native = plan("acme-prod", {**full_config(), **SETTINGS})
    openclaw = plan("acme-prod", with_openclaw({**full_config(), **SETTINGS}))
    passed = {setting.name for setting in bindings() if setting.reach == "container"}
    env = {
        name.lower(): binding["text"]
        for document in (openclaw, native)  # the native plan's channels, openclaw's extras
        for name, binding in bindings_of(document).items()
        if name in passed and binding["type"] == "plain_text"
    }
    assert {"agent_engine", "openclaw_allowed_origins", "state_bucket"} <= set(env)
    settings = load_settings(
        agent_tenant="acme",
        agent_edge_token="e" * 32,
        state_backend="local",
        telegram_bot_token="123456789:" + "A" * 35,
        slack_bot_token="xoxb-" + "1" * 20,
        whatsapp_access_token="EAAG" + "w" * 40,
        ai_gateway_token="g" * 40,  # a secret binding: the plan shows no value
        **env,
    )
    assert settings.discord_application_id == env["discord_application_id"]
    assert settings.whatsapp_phone_number_id == env["whatsapp_phone_number_id"]
    assert (settings.agent_job_model, settings.agent_model_route) == ("openai:gpt-5-nano", "agent")
    assert (
        settings.agent_spend_limit_daily_usd,
        settings.agent_spend_limit_monthly_usd,
        settings.agent_user_spend_limit_daily_usd,
    ) == (Decimal("5.00"), Decimal("100.00"), Decimal("1.50"))
    assert settings.agent_container_monthly_usd == Decimal(env["agent_container_monthly_usd"])
    assert settings.agent_instructions == EXPECTED_TEXT["AGENT_INSTRUCTIONS"]
    assert (settings.agent_turn_timeout_s, settings.job_timeout_s) == (90.0, 600.0)
    assert settings.agent_context_tokens == 32000
    assert (settings.agent_log_level, settings.agent_timezone) == ("warning", "Europe/Paris")
    assert settings.web_fetch_allowlist == "intranet.example.com,10.1.0.0/16"
    assert settings.admin_emails == {"ops@example.com", "lead@example.com"}
    assert settings.openclaw_allowed_origins == "https://agent.example.com"
    channels = load_channel_configs(settings)
    assert {name: c.status for name, c in channels.items()} == dict.fromkeys(channels, "ready")
    assert (channels["telegram"].policy, channels["telegram"].allowlist) == (
        "allowlist",
        frozenset({"123456789", "987654321"}),
    )
    assert (channels["slack"].policy, channels["slack"].allowlist) == (
        "open",
        frozenset({"U0123ABCD"}),
    )
    assert channels["discord"].allowlist == frozenset({"80351110224678912"})
