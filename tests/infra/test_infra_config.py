"""The stack config model: defaults, names derived from the stack, and every error path."""

from __future__ import annotations

import json

import pytest
from infra_fixtures import ACCOUNT, minimal_config

from infra.config import StackConfig, load_config
from infra.errors import ConfigError
from infra.naming import split_stack_name
from infra.plan import config_values


def load(stack: str, config: dict[str, object]) -> StackConfig:
    values, secret_keys = config_values(config)
    return load_config(stack, values, secret_keys)


def test_minimal_config_takes_documented_defaults() -> None:
    cfg = load("dev", minimal_config())
    assert cfg.account_id == ACCOUNT
    assert (cfg.tenant, cfg.environment) == ("default", "dev")
    assert cfg.access_team_domain == "https://example-team.cloudflareaccess.com"
    assert cfg.allowed_emails == ["me@example.com"]
    assert (cfg.agent_engine, cfg.agent_model, cfg.instance_type) == ("native", "offline", "basic")
    assert (cfg.isolation, cfg.sleep_after, cfg.max_instances) == ("shared", "10m", 5)
    assert cfg.storage_jurisdiction == "default"
    assert cfg.storage_location is None
    assert cfg.gateway_collect_logs is True
    assert cfg.telegram_bot_token is None


@pytest.mark.parametrize(
    ("stack", "tenant", "environment"),
    [
        ("dev", "default", "dev"),
        ("acme-prod", "acme", "prod"),
        ("big-co-staging", "big-co", "staging"),
        ("myorg/edgeagent/acme-prod", "acme", "prod"),
    ],
)
def test_tenant_and_environment_default_from_the_stack_name(
    stack: str, tenant: str, environment: str
) -> None:
    assert split_stack_name(stack) == (tenant, environment)
    cfg = load(stack, minimal_config())
    assert (cfg.tenant, cfg.environment) == (tenant, environment)
    assert cfg.names.bucket == f"edgeagent-{tenant}-{environment}"


def test_explicit_tenant_and_environment_win_over_the_stack_name() -> None:
    cfg = load(
        "whatever", {**minimal_config(), "edgeagent:tenant": "acme", "edgeagent:environment": "qa"}
    )
    assert (cfg.tenant, cfg.environment) == ("acme", "qa")


def test_values_arrive_as_pulumi_gives_them_strings_and_json() -> None:
    values = {
        "edgeagent:accountId": ACCOUNT,
        "edgeagent:workersDevSubdomain": "t",
        "edgeagent:accessTeamDomain": "t.cloudflareaccess.com",
        "edgeagent:allowedEmailDomains": json.dumps(["example.com"]),
        "edgeagent:maxInstances": "7",
        "edgeagent:gatewayCollectLogs": "false",
    }
    cfg = load_config("dev", values)
    assert cfg.allowed_email_domains == ["example.com"]
    assert cfg.max_instances == 7
    assert cfg.gateway_collect_logs is False


def test_keys_of_other_namespaces_are_ignored() -> None:
    cfg = load("dev", {**minimal_config(), "cloudflare:apiToken": {"secure": "v1:x"}})
    assert cfg.account_id == ACCOUNT


def test_secure_values_count_as_present_and_are_secret() -> None:
    config = {
        **minimal_config(),
        "edgeagent:slackBotToken": {"secure": "v1:CIPHER"},
        "edgeagent:slackSigningSecret": {"secure": "v1:CIPHER2"},
    }
    cfg = load("dev", config)
    assert cfg.slack_bot_token is not None
    assert "CIPHER" not in repr(cfg)
    assert cfg.slack_bot_token.get_secret_value() == "[secret]"


EX_ACCOUNT = "(example: edgeagent:accountId: 0123456789abcdef0123456789abcdef)"


@pytest.mark.parametrize(
    ("change", "removed", "expected"),
    [
        (
            {"edgeagent:accountId": "0123456789ABCDEF"},
            (),
            f"edgeagent:accountId: must be a 32-character lowercase hex Cloudflare id {EX_ACCOUNT}",
        ),
        ({}, ("edgeagent:accountId",), f"edgeagent:accountId: is required {EX_ACCOUNT}"),
        (
            {"edgeagent:hostname": "agent.example.com"},
            (),
            "edgeagent:zoneId: is required when hostname is set "
            "(example: edgeagent:zoneId: fedcba9876543210fedcba9876543210)",
        ),
        (
            {"edgeagent:zoneId": "fedcba9876543210fedcba9876543210"},
            (),
            "edgeagent:hostname: is required when zoneId is set "
            "(example: edgeagent:hostname: agent.example.com)",
        ),
        (
            {},
            ("edgeagent:workersDevSubdomain",),
            "edgeagent:workersDevSubdomain: is required when no hostname is set (the agent is then "
            "served on workers.dev) (example: edgeagent:workersDevSubdomain: acme-team)",
        ),
        (
            {"edgeagent:hostname": "Agent.Example.com", "edgeagent:zoneId": "f" * 32},
            ("edgeagent:workersDevSubdomain",),
            "edgeagent:hostname: must be a lowercase fully qualified hostname "
            "(example: edgeagent:hostname: agent.example.com)",
        ),
        (
            {},
            ("edgeagent:allowedEmails",),
            "edgeagent:allowedEmails: nobody could sign in: set allowedEmails, allowedEmailDomains "
            'or accessGroupIds (example: edgeagent:allowedEmails: ["me@example.com"])',
        ),
        (
            {"edgeagent:allowedEmails": "me@example.com"},
            (),
            "edgeagent:allowedEmails: must be a list (in YAML: a sequence; on the CLI: --path "
            'key[0]) (example: edgeagent:allowedEmails: ["me@example.com"])',
        ),
        (
            {"edgeagent:allowedEmails": ["me@example.com", "not-an-email"]},
            (),
            "edgeagent:allowedEmails: item 1 must be an email address "
            '(example: edgeagent:allowedEmails: ["me@example.com"])',
        ),
        (
            {"edgeagent:alowedEmails": ["x@example.com"]},
            (),
            "edgeagent:alowedEmails: is not a known key; did you mean edgeagent:allowedEmails?",
        ),
        (
            {"edgeagent:accessTeamDomain": "example.com"},
            (),
            "edgeagent:accessTeamDomain: must be your Zero Trust team domain, "
            "`<team>.cloudflareaccess.com` "
            "(example: edgeagent:accessTeamDomain: acme.cloudflareaccess.com)",
        ),
        (
            {"edgeagent:instanceType": "huge"},
            (),
            "edgeagent:instanceType: Input should be 'lite', 'basic', 'standard-1', 'standard-2', "
            "'standard-3' or 'standard-4' (example: edgeagent:instanceType: standard-1)",
        ),
        (
            {"edgeagent:maxInstances": 0},
            (),
            "edgeagent:maxInstances: Input should be greater than or equal to 1 "
            "(example: edgeagent:maxInstances: 5)",
        ),
        (
            {"edgeagent:storageJurisdiction": "us"},
            (),
            "edgeagent:storageJurisdiction: Input should be 'default', 'eu' or 'fedramp' "
            "(example: edgeagent:storageJurisdiction: eu)",
        ),
        (
            {"edgeagent:backupRetentionDays": "forever"},
            (),
            "edgeagent:backupRetentionDays: Input should be a valid integer, unable to parse "
            "string as an integer (example: edgeagent:backupRetentionDays: 30)",
        ),
        (
            {"edgeagent:sessionDuration": "1 day"},
            (),
            "edgeagent:sessionDuration: must be a duration such as `30m` or `24h` "
            "(example: edgeagent:sessionDuration: 24h)",
        ),
        (
            {"edgeagent:gatewayCollectLogs": "maybe"},
            (),
            "edgeagent:gatewayCollectLogs: Input should be a valid boolean, unable to interpret "
            "input (example: edgeagent:gatewayCollectLogs: true)",
        ),
        (
            {"edgeagent:discordPublicKey": "XYZ", "edgeagent:discordBotToken": {"secure": "v1:x"}},
            (),
            "edgeagent:discordPublicKey: must be 64 hex chars "
            "(example: edgeagent:discordPublicKey: " + "a" * 64 + ")",
        ),
        (
            {"edgeagent:sleepAfter": "soon"},
            (),
            "edgeagent:sleepAfter: must be a duration such as `10m`, or `never` "
            "(example: edgeagent:sleepAfter: 10m)",
        ),
        (
            {"edgeagent:cron": "every hour"},
            (),
            "edgeagent:cron: must be a 5-field cron expression (minute hour day month weekday) "
            "(example: edgeagent:cron: 0 * * * *)",
        ),
        (
            {"edgeagent:agentModel": "gpt"},
            (),
            "edgeagent:agentModel: must be `offline` or `<provider>:<model>` "
            "(example: edgeagent:agentModel: openai:gpt-5-mini)",
        ),
        (
            {"edgeagent:telegramBotToken": {"secure": "v1:x"}},
            (),
            "edgeagent:telegramWebhookSecret: is required with telegramBotToken "
            "(example: edgeagent:telegramWebhookSecret: a-long-random-string)",
        ),
        (
            {"edgeagent:discordPublicKey": "ab" * 32},
            (),
            "edgeagent:discordBotToken: is required with discordPublicKey "
            "(example: edgeagent:discordBotToken: your-bot-token)",
        ),
        (
            {
                "edgeagent:slackBotToken": "xoxb-IN-CLEAR",
                "edgeagent:slackSigningSecret": {"secure": "v1:s"},
            },
            (),
            "edgeagent:slackBotToken: is a secret and must not be stored in clear; set it with "
            "`pulumi config set --secret edgeagent:slackBotToken <value>`",
        ),
    ],
)
def test_each_bad_key_is_named_with_reason_and_example(
    change: dict[str, object], removed: tuple[str, ...], expected: str
) -> None:
    config = {k: v for k, v in {**minimal_config(), **change}.items() if k not in removed}
    with pytest.raises(ConfigError) as caught:
        load("dev", config)
    assert f"  - {expected}" in str(caught.value).splitlines()


def test_stack_name_that_makes_a_bad_environment_says_so() -> None:
    with pytest.raises(ConfigError) as caught:
        load("Prod", minimal_config())
    assert [i.key for i in caught.value.issues] == ["edgeagent:environment"]
    assert "derived from stack name 'Prod'" in str(caught.value)
    assert "set edgeagent:environment explicitly" in str(caught.value)


def test_every_bad_key_is_reported_at_once() -> None:
    config = {
        **minimal_config(),
        "edgeagent:accountId": "nope",
        "edgeagent:maxInstances": -1,
        "edgeagent:isolation": "team",
        "edgeagent:bogus": "1",
    }
    with pytest.raises(ConfigError) as caught:
        load("dev", config)
    keys = [issue.key for issue in caught.value.issues]
    assert keys == [
        "edgeagent:accountId",
        "edgeagent:bogus",
        "edgeagent:isolation",
        "edgeagent:maxInstances",
    ]
    assert str(caught.value).startswith("invalid configuration for stack 'dev' (4 problems):")


def test_a_secret_in_clear_never_appears_in_the_error() -> None:
    config = {
        **minimal_config(),
        "edgeagent:telegramBotToken": "SENTINEL-TOKEN-123",
        "edgeagent:telegramWebhookSecret": "SENTINEL-HOOK-456",
    }
    with pytest.raises(ConfigError) as caught:
        load("dev", config)
    assert "SENTINEL" not in str(caught.value)
    assert len(caught.value.issues) == 2
