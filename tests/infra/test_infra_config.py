"""The stack config model: defaults, names derived from the stack, and every error path."""

from __future__ import annotations

import json

import pytest
from infra_support import ACCOUNT, minimal_config

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
TELEGRAM = {
    "edgeagent:telegramBotToken": {"secure": "v1:t"},
    "edgeagent:telegramWebhookSecret": {"secure": "v1:w"},
}
SLACK = {
    "edgeagent:slackBotToken": {"secure": "v1:t"},
    "edgeagent:slackSigningSecret": {"secure": "v1:s"},
}
DISCORD = {
    "edgeagent:discordBotToken": {"secure": "v1:t"},
    "edgeagent:discordPublicKey": "ab" * 32,
    "edgeagent:discordApplicationId": "123456789012345678",
}
OPENCLAW = {"edgeagent:agentEngine": "openclaw", "edgeagent:instanceType": "standard-1"}


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
            {"edgeagent:coldStartTimeoutMs": 300001},
            (),
            "edgeagent:coldStartTimeoutMs: Input should be less than or equal to 300000 "
            "(example: edgeagent:coldStartTimeoutMs: 60000)",
        ),
        (
            {"edgeagent:channelRecordRetentionDays": 0},
            (),
            "edgeagent:channelRecordRetentionDays: Input should be greater than or equal to 1 "
            "(example: edgeagent:channelRecordRetentionDays: 30)",
        ),
        (
            {"edgeagent:attachmentRetentionDays": 3651},
            (),
            "edgeagent:attachmentRetentionDays: Input should be less than or equal to 3650 "
            "(example: edgeagent:attachmentRetentionDays: 90)",
        ),
        (
            {"edgeagent:attachmentRetentionDays": "forever"},
            (),
            "edgeagent:attachmentRetentionDays: Input should be a valid integer, unable to parse "
            "string as an integer (example: edgeagent:attachmentRetentionDays: 90)",
        ),
        (
            {"edgeagent:agentTimezone": "Mars/Olympus_Mons"},
            (),
            "edgeagent:agentTimezone: must be an IANA time zone such as `Europe/Paris` or `UTC` "
            "(example: edgeagent:agentTimezone: Europe/Paris)",
        ),
        (
            {"edgeagent:agentTimezone": "../../etc/passwd"},
            (),
            "edgeagent:agentTimezone: must be an IANA time zone such as `Europe/Paris` or `UTC` "
            "(example: edgeagent:agentTimezone: Europe/Paris)",
        ),
        (
            {"edgeagent:jobTimeoutS": 0},
            (),
            "edgeagent:jobTimeoutS: Input should be greater than or equal to 1 "
            "(example: edgeagent:jobTimeoutS: 120)",
        ),
        (
            {"edgeagent:agentTurnTimeoutS": 3601},
            (),
            "edgeagent:agentTurnTimeoutS: Input should be less than or equal to 3600 "
            "(example: edgeagent:agentTurnTimeoutS: 120)",
        ),
        (
            {"edgeagent:agentTurnTimeoutS": "2m"},
            (),
            "edgeagent:agentTurnTimeoutS: Input should be a valid integer, unable to parse string "
            "as an integer (example: edgeagent:agentTurnTimeoutS: 120)",
        ),
        (
            {"edgeagent:agentLogLevel": "verbose"},
            (),
            "edgeagent:agentLogLevel: Input should be 'debug', 'info', 'warning' or 'error' "
            "(example: edgeagent:agentLogLevel: info)",
        ),
        (
            {"edgeagent:agentInstructions": "  \n "},
            (),
            "edgeagent:agentInstructions: must not be blank "
            "(example: edgeagent:agentInstructions: You are Ada, my research assistant.)",
        ),
        (
            {"edgeagent:agentInstructions": "é" * 2561},
            (),
            "edgeagent:agentInstructions: is 5122 bytes; a Worker variable holds at most 5120 "
            "(UTF-8) (example: edgeagent:agentInstructions: You are Ada, my research assistant.)",
        ),
        (
            {"edgeagent:webFetchAllowlist": ["intranet.example.com", "10.0.0.0/33"]},
            (),
            "edgeagent:webFetchAllowlist: item 1 must be a CIDR network such as `10.1.0.0/16` "
            '(example: edgeagent:webFetchAllowlist: ["intranet.example.com", "10.1.0.0/16"])',
        ),
        (
            {"edgeagent:webFetchAllowlist": [""]},
            (),
            "edgeagent:webFetchAllowlist: item 0 must be a host name, an IP address or a CIDR "
            'network (example: edgeagent:webFetchAllowlist: ["intranet.example.com", '
            '"10.1.0.0/16"])',
        ),
        (
            {"edgeagent:webFetchAllowlist": "10.0.0.0/8"},
            (),
            "edgeagent:webFetchAllowlist: must be a list (in YAML: a sequence; on the CLI: --path "
            'key[0]) (example: edgeagent:webFetchAllowlist: ["intranet.example.com", '
            '"10.1.0.0/16"])',
        ),
        (
            {**TELEGRAM, "edgeagent:telegramDmPolicy": "friends"},
            (),
            "edgeagent:telegramDmPolicy: Input should be 'pairing', 'allowlist' or 'open' "
            "(example: edgeagent:telegramDmPolicy: allowlist)",
        ),
        (
            {**TELEGRAM, "edgeagent:telegramDmPolicy": "allowlist"},
            (),
            "edgeagent:telegramAllowlist: is required with telegramDmPolicy allowlist (else "
            'nobody could DM the bot) (example: edgeagent:telegramAllowlist: ["123456789"])',
        ),
        (
            {**TELEGRAM, "edgeagent:telegramAllowlist": ["123", "@alice"]},
            (),
            "edgeagent:telegramAllowlist: item 1 must be a numeric Telegram user id "
            '(example: edgeagent:telegramAllowlist: ["123456789"])',
        ),
        (
            {**TELEGRAM, "edgeagent:telegramAllowlist": [""]},
            (),
            "edgeagent:telegramAllowlist: item 0 must be a numeric Telegram user id "
            '(example: edgeagent:telegramAllowlist: ["123456789"])',
        ),
        (
            {**SLACK, "edgeagent:slackAllowlist": ["u0123abcd"]},
            (),
            "edgeagent:slackAllowlist: item 0 must be a Slack member id such as `U0123ABCD` "
            '(example: edgeagent:slackAllowlist: ["U0123ABCD"])',
        ),
        (
            {"edgeagent:slackDmPolicy": "open"},
            (),
            "edgeagent:slackDmPolicy: applies only to the Slack channel, which is not configured "
            "(set slackBotToken first) (example: edgeagent:slackBotToken: xoxb-your-token)",
        ),
        (
            {**DISCORD, "edgeagent:discordAllowlist": ["1234"]},
            (),
            "edgeagent:discordAllowlist: item 0 must be a Discord user id (15-21 digits) "
            '(example: edgeagent:discordAllowlist: ["80351110224678912"])',
        ),
        (
            {"edgeagent:discordAllowlist": ["80351110224678912"]},
            (),
            "edgeagent:discordAllowlist: applies only to the Discord channel, which is not "
            "configured (set discordBotToken first) "
            "(example: edgeagent:discordBotToken: your-bot-token)",
        ),
        (
            {"edgeagent:openclawAllowedOrigins": ["https://agent.example.com"]},
            (),
            "edgeagent:openclawAllowedOrigins: applies only with agentEngine openclaw "
            "(example: edgeagent:agentEngine: openclaw)",
        ),
        (
            {
                **OPENCLAW,
                "edgeagent:openclawAllowedOrigins": ["https://agent.example.com/ui"],
            },
            (),
            "edgeagent:openclawAllowedOrigins: item 0 must be an https origin (no path) such as "
            "`https://a.example` (example: edgeagent:openclawAllowedOrigins: "
            '["https://agent.example.com"])',
        ),
        (
            {**OPENCLAW, "edgeagent:openclawAllowedOrigins": ["http://agent.example.com"]},
            (),
            "edgeagent:openclawAllowedOrigins: item 0 must be an https origin (no path)",
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
    lines = str(caught.value).splitlines()
    assert any(line.startswith(f"  - {expected}") for line in lines), lines


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


def test_runtime_settings_are_unset_unless_configured() -> None:
    cfg = load("dev", minimal_config())
    unset = (
        cfg.agent_instructions, cfg.agent_turn_timeout_s, cfg.agent_log_level,
        cfg.agent_timezone, cfg.job_timeout_s, cfg.telegram_dm_policy, cfg.slack_dm_policy,
        cfg.discord_dm_policy,
    )  # fmt: skip
    assert unset == (None,) * 8
    assert cfg.web_fetch_allowlist == cfg.openclaw_allowed_origins == []
    assert cfg.telegram_allowlist == cfg.slack_allowlist == cfg.discord_allowlist == []
    assert cfg.channel_record_retention_days == 30
    assert cfg.attachment_retention_days == 90


def test_runtime_settings_load_as_given() -> None:
    config = {
        **minimal_config(),
        **TELEGRAM,
        **SLACK,
        **DISCORD,
        "edgeagent:agentTimezone": "America/Argentina/Buenos_Aires",
        "edgeagent:jobTimeoutS": "300",
        "edgeagent:agentTurnTimeoutS": 90,
        "edgeagent:agentLogLevel": "debug",
        "edgeagent:agentInstructions": "You are Ada.\nBe brief.",
        "edgeagent:webFetchAllowlist": ["127.0.0.1", "intranet.example.com", "fd00::/8"],
        "edgeagent:telegramDmPolicy": "allowlist",
        "edgeagent:telegramAllowlist": ["123456789", "42"],
        "edgeagent:slackDmPolicy": "open",
        "edgeagent:discordDmPolicy": "pairing",
        "edgeagent:discordAllowlist": ["80351110224678912"],
        "edgeagent:channelRecordRetentionDays": 7,
        "edgeagent:attachmentRetentionDays": 14,
    }
    cfg = load("dev", config)
    assert cfg.agent_timezone == "America/Argentina/Buenos_Aires"
    assert (cfg.job_timeout_s, cfg.agent_turn_timeout_s) == (300, 90)
    assert cfg.agent_instructions == "You are Ada.\nBe brief."
    assert cfg.web_fetch_allowlist == ["127.0.0.1", "intranet.example.com", "fd00::/8"]
    assert (cfg.telegram_dm_policy, cfg.telegram_allowlist) == ("allowlist", ["123456789", "42"])
    assert (cfg.slack_dm_policy, cfg.discord_dm_policy) == ("open", "pairing")
    assert cfg.channel_record_retention_days == 7
    assert cfg.attachment_retention_days == 14


@pytest.mark.parametrize(
    ("engine", "given", "expected"),
    [
        ("native", None, 60000),
        ("openclaw", None, 120000),
        ("openclaw", 45000, 45000),
        ("native", 90000, 90000),
    ],
)
def test_cold_start_timeout_defaults_by_engine(
    engine: str, given: int | None, expected: int
) -> None:
    config: dict[str, object] = {**minimal_config(), "edgeagent:agentEngine": engine}
    if engine == "openclaw":
        config["edgeagent:instanceType"] = "standard-1"
    if given is not None:
        config["edgeagent:coldStartTimeoutMs"] = given
    assert load("dev", config).cold_start_timeout_ms == expected


def test_openclaw_default_applies_to_the_model_by_field_or_key_name() -> None:
    by_field = load("dev", minimal_config()).model_dump()
    del by_field["cold_start_timeout_ms"]
    by_field.update(agent_engine="openclaw", instance_type="standard-1")
    assert StackConfig.model_validate(by_field).cold_start_timeout_ms == 120000
    by_alias = load("dev", minimal_config()).model_dump(by_alias=True)
    by_alias.update(agentEngine="openclaw", instanceType="standard-1", coldStartTimeoutMs=60000)
    assert StackConfig.model_validate(by_alias).cold_start_timeout_ms == 60000  # given: kept
    del by_alias["coldStartTimeoutMs"]
    assert StackConfig.model_validate(by_alias).cold_start_timeout_ms == 120000


MCP_SERVER = {
    "name": "docs",
    "url": "https://mcp.example.com/mcp",
    "headerName": "Authorization",
    "headerValue": "Bearer mcp-secret-value",
    "allowedTools": ["search"],
}


def load_mcp(servers: object, *, secret: bool = True) -> StackConfig:
    """mcpServers as a Pulumi program receives it: the decrypted JSON of a secret key."""
    values, secret_keys = config_values(minimal_config())
    values["edgeagent:mcpServers"] = json.dumps(servers)
    if secret:
        secret_keys.add("edgeagent:mcpServers")
    return load_config("dev", values, secret_keys)


def test_mcp_servers_validate_and_bind_as_one_secret_json_setting() -> None:
    from infra.bindings import configured

    cfg = load_mcp([MCP_SERVER])
    bound = configured(cfg)["AGENT_MCP_SERVERS"]
    assert not isinstance(bound, str)  # a secret binding
    assert json.loads(bound.get_secret_value()) == [MCP_SERVER]
    assert "mcp-secret-value" not in repr(cfg)


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ({**MCP_SERVER, "url": "http://mcp.example.com/mcp"}, "item 0 field url: must be an https"),
        ({**MCP_SERVER, "name": "Docs Server"}, "item 0 field name"),
        ({**MCP_SERVER, "allowedTools": []}, "item 0 field allowedTools"),
        ({k: v for k, v in MCP_SERVER.items() if k != "headerName"}, "go together"),
        ({**MCP_SERVER, "allowedTools": ["a b"]}, "'a b' is no tool name"),
        ({**MCP_SERVER, "token": "x"}, "item 0 field token"),
    ],
)
def test_bad_mcp_servers_name_the_key_the_item_and_field(
    entry: dict[str, object], says: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_mcp([entry])
    message = str(raised.value)
    assert "edgeagent:mcpServers" in message
    assert says in message
    assert '"allowedTools": ["search"]' in message  # a valid example
    assert "mcp-secret-value" not in message


def test_mcp_servers_must_be_a_secret_and_names_unique() -> None:
    with pytest.raises(ConfigError, match="pulumi config set --secret edgeagent:mcpServers"):
        load_mcp([MCP_SERVER], secret=False)
    with pytest.raises(ConfigError, match="used twice: docs"):
        load_mcp([MCP_SERVER, MCP_SERVER])
