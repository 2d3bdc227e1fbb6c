"""The stack configuration: one pydantic model, loaded once from the `edgeagent:` config keys.

Every key is camelCase under the `edgeagent` namespace (`edgeagent:accountId`). Values arrive
as Pulumi gives them to a program: strings, with lists as JSON. Secrets must be set with
`pulumi config set --secret` and become `SecretStr`. Bad config fails before any resource is
declared, with one `ConfigError` naming every bad key, why, and a valid example.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Collection, Mapping
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from infra.errors import ConfigError, ConfigIssue
from infra.naming import Names, split_stack_name
from infra.placeholders import SECRET

NAMESPACE = "edgeagent"

_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,22}[a-z0-9]$|^[a-z]$")
_ENV = re.compile(r"^[a-z][a-z0-9]{0,11}$")
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"^(?:{_LABEL}\.)+[a-z]{{2,63}}$")
_EMAIL = re.compile(rf"^[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]+@(?:{_LABEL}\.)+[a-z]{{2,63}}$")
_TEAM = re.compile(r"^(?:https://)?([a-z0-9-]+)\.cloudflareaccess\.com/?$")
_DURATION = re.compile(r"^[1-9][0-9]*(?:s|m|h)$")
_SLEEP = re.compile(r"^(?:never|[1-9][0-9]*(?:s|m|h))$")
_MODEL = re.compile(r"^(?:offline|[a-z][a-z0-9-]*:\S+)$")
_IDP = re.compile(r"^[0-9a-fA-F-]{8,64}$")
# Sender ids the runtime accepts in `<CHANNEL>_ALLOWLIST` (agent/runtime/channels/config.py).
_TELEGRAM_USER = re.compile(r"^[0-9]{1,20}$")
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,20}$")
_DISCORD_USER = re.compile(r"^[0-9]{15,21}$")
_FETCH_HOST = re.compile(r"^[A-Za-z0-9.:-]{1,253}$")
_ORIGIN = re.compile(r"^https://[a-z0-9.-]+(?::[0-9]{1,5})?$")
# MCP servers: the name prefixes the server's tools, so it stays short and plain (model APIs take
# [A-Za-z0-9_-] in tool names); the runtime reads the same shape (agent/runtime/mcp_servers.py).
_MCP_NAME = re.compile(r"^[a-z][a-z0-9]{0,19}$")
_MCP_URL = re.compile(r"^https://[^\s/@]+(?:/\S*)?$")
_MCP_HEADER = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_MCP_TOOL = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# Cloudflare's documented size limit of one Worker environment variable (plain_text binding).
MAX_VAR_BYTES = 5 * 1024
# The OpenClaw gateway needs ~12 CPU-seconds to start: the default 60 s wait is too tight for it.
OPENCLAW_COLD_START_TIMEOUT_MS = 120_000


def _pattern(regex: re.Pattern[str], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not regex.fullmatch(value):
            raise ValueError(f"must be {what}")
        return value

    return AfterValidator(check)


def _team_domain(value: str) -> str:
    match = _TEAM.fullmatch(value)
    if match is None:
        raise ValueError("must be your Zero Trust team domain, `<team>.cloudflareaccess.com`")
    return f"https://{match.group(1)}.cloudflareaccess.com"


def _cron(value: str) -> str:
    if len(value.split()) != 5 or not croniter.is_valid(value):
        raise ValueError("must be a 5-field cron expression (minute hour day month weekday)")
    return value


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be an IANA time zone such as `Europe/Paris` or `UTC`") from None
    return value


def _fetch_target(value: str) -> str:
    if "/" in value:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ValueError("must be a CIDR network such as `10.1.0.0/16`") from None
    elif not _FETCH_HOST.fullmatch(value):
        raise ValueError("must be a host name, an IP address or a CIDR network")
    return value


def _instructions(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    size = len(value.encode())
    if size > MAX_VAR_BYTES:
        raise ValueError(
            f"is {size} bytes; a Worker variable holds at most {MAX_VAR_BYTES} (UTF-8)"
        )
    return value


def _nonempty_secret(value: SecretStr) -> SecretStr:
    if not value.get_secret_value():
        raise ValueError("must not be empty")
    return value


AccountId = Annotated[str, _pattern(_HEX32, "a 32-character lowercase hex Cloudflare id")]
Hostname = Annotated[str, _pattern(_HOSTNAME, "a lowercase fully qualified hostname")]
Email = Annotated[str, _pattern(_EMAIL, "an email address")]
Domain = Annotated[str, _pattern(_HOSTNAME, "a lowercase domain name")]
Duration = Annotated[str, _pattern(_DURATION, "a duration such as `30m` or `24h`")]
Secret = Annotated[SecretStr, AfterValidator(_nonempty_secret)]
InstanceType = Literal["lite", "basic", "standard-1", "standard-2", "standard-3", "standard-4"]
DmPolicy = Literal["pairing", "allowlist", "open"]
TelegramUser = Annotated[str, _pattern(_TELEGRAM_USER, "a numeric Telegram user id")]
SlackUser = Annotated[str, _pattern(_SLACK_USER, "a Slack member id such as `U0123ABCD`")]
DiscordUser = Annotated[str, _pattern(_DISCORD_USER, "a Discord user id (15-21 digits)")]
# A WhatsApp id is the sender's phone number in international form, digits only (no +).
_WHATSAPP_USER = re.compile(r"^[1-9][0-9]{6,14}$")
WhatsAppUser = Annotated[
    str, _pattern(_WHATSAPP_USER, "a WhatsApp id: country code and number, digits only")
]
# Email addresses are compared in one canonical form, lower-cased, here, at the edge and in the
# runtime (docs/channels.md, "Email"); the agent's own address is kept to plain characters.
_MAIL_LOCAL = re.compile(r"^[a-z0-9](?:[a-z0-9._+-]{0,62}[a-z0-9])?$")


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


MailAddress = Annotated[
    str, BeforeValidator(_lower), _pattern(_EMAIL, "an email address such as `me@example.com`")
]


def _agent_address(value: str) -> str:
    local = value.split("@", 1)[0]
    if not _MAIL_LOCAL.match(local):
        raise ValueError("the part before @ must be letters, digits and . _ + - such as `agent`")
    return value


AgentAddress = Annotated[MailAddress, AfterValidator(_agent_address)]
TimeoutS = Annotated[int, Field(ge=1, le=3600)]
# Dollars with at most cents; AI Gateway spend limits are in US dollars
# (https://developers.cloudflare.com/ai-gateway/features/spend-limits/).
Usd = Annotated[Decimal, Field(gt=0, decimal_places=2, allow_inf_nan=False)]
RemoteModel = Annotated[
    str, _pattern(re.compile(r"^[a-z][a-z0-9-]*:\S+$"), "`<provider>:<model>` (not `offline`)")
]
# A dynamic route of AI Gateway holds the primary and at most this many fallbacks (kept small: each
# fallback is one more model a failing request waits for).
MAX_FALLBACKS = 4


def _tool_names(value: list[str]) -> list[str]:
    for tool in value:
        if not _MCP_TOOL.fullmatch(tool):
            raise ValueError(f"{tool!r} is no tool name (letters, digits, `_`, `.`, `-`)")
    return value


# Both models read camelCase Pulumi keys, refuse unknown ones and never echo input in errors.
_MODEL_CONFIG = ConfigDict(
    alias_generator=to_camel,
    populate_by_name=True,
    extra="forbid",
    frozen=True,
    hide_input_in_errors=True,
)


class McpServerConfig(BaseModel):
    """One entry of `edgeagent:mcpServers`: an MCP server over streamable HTTP (docs/mcp.md)."""

    model_config = _MODEL_CONFIG

    name: Annotated[str, _pattern(_MCP_NAME, "lowercase letters and digits, e.g. `docs`")]
    url: Annotated[str, _pattern(_MCP_URL, "an https URL such as `https://mcp.example.com/mcp`")]
    header_name: Annotated[str, _pattern(_MCP_HEADER, "an HTTP header name")] | None = None
    header_value: Secret | None = None
    allowed_tools: Annotated[list[str], Field(min_length=1), AfterValidator(_tool_names)]

    @model_validator(mode="after")
    def _header_pair(self) -> McpServerConfig:
        if (self.header_name is None) != (self.header_value is None):
            raise ValueError("headerName and headerValue go together")
        return self


def _mcp_servers(value: list[McpServerConfig]) -> list[McpServerConfig]:
    names = [server.name for server in value]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"server names must be unique; used twice: {', '.join(twice)}")
    return value


class StackConfig(BaseModel):
    """Validated configuration of one stack (one tenant in one environment)."""

    model_config = _MODEL_CONFIG

    # Where it runs.
    account_id: AccountId = Field(
        description="Cloudflare account id", examples=["0123456789abcdef0123456789abcdef"]
    )
    tenant: Annotated[str, _pattern(_NAME, "lowercase letters, digits and hyphens")] = Field(
        description="tenant id; default: stack name before its last hyphen, else `default`",
        examples=["acme"],
    )
    environment: Annotated[str, _pattern(_ENV, "lowercase letters and digits (<= 12)")] = Field(
        description="environment; default: stack name after its last hyphen, else the stack",
        examples=["prod"],
    )
    hostname: Hostname | None = Field(
        default=None,
        description="custom domain for the agent (needs zoneId); unset = workers.dev",
        examples=["agent.example.com"],
    )
    zone_id: AccountId | None = Field(
        default=None,
        description="zone id of the hostname's zone",
        examples=["fedcba9876543210fedcba9876543210"],
    )
    workers_dev_subdomain: (
        Annotated[
            str, _pattern(re.compile(r"^[a-z0-9-]{1,63}$"), "the account's workers.dev subdomain")
        ]
        | None
    ) = Field(
        default=None,
        description="account's `<sub>.workers.dev` subdomain, required without hostname",
        examples=["acme-team"],
    )
    # State.
    storage_location: Literal["apac", "eeur", "enam", "weur", "wnam", "oc"] | None = Field(
        default=None, description="R2 location hint", examples=["weur"]
    )
    storage_jurisdiction: Literal["default", "eu", "fedramp"] = Field(
        default="default", description="R2 jurisdiction", examples=["eu"]
    )
    backup_retention_days: int = Field(
        default=30, ge=1, le=3650, description="days before `backups/` expire", examples=[30]
    )
    channel_record_retention_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="days before finished chat dedupe markers (`channels/events/`) and "
        "sent or failed outbox messages (`outbox/messages/`) are deleted by the runtime; "
        "pending ones never are (docs/retention.md)",
        examples=[30],
    )
    attachment_retention_days: int = Field(
        default=90,
        ge=1,
        le=3650,
        description="days after an attachment (web chat or channel file, `attachments/`) was "
        "last sent before the runtime deletes it; turns that showed it keep its name and show "
        "it as expired (docs/retention.md)",
        examples=[90],
    )
    # Access.
    access_team_domain: Annotated[str, AfterValidator(_team_domain)] = Field(
        description="Zero Trust team domain (issuer of Access JWTs)",
        examples=["acme.cloudflareaccess.com"],
    )
    allowed_emails: list[Email] = Field(
        default_factory=list, description="emails allowed in", examples=[["me@example.com"]]
    )
    allowed_email_domains: list[Domain] = Field(
        default_factory=list, description="email domains allowed in", examples=[["example.com"]]
    )
    access_group_ids: list[Annotated[str, _pattern(_IDP, "an Access group id (uuid)")]] = Field(
        default_factory=list,
        description="Access groups (e.g. IdP groups) allowed in",
        examples=[["2f4f6a2e-7d3c-4c4e-9d4e-0a1b2c3d4e5f"]],
    )
    allowed_idp_ids: list[Annotated[str, _pattern(_IDP, "an identity provider id (uuid)")]] = Field(
        default_factory=list,
        description="identity providers offered at login (empty = all)",
        examples=[["7c9e6679-7425-40de-944b-e07fc1f90ae7"]],
    )
    session_duration: Duration = Field(
        default="24h", description="Access session length", examples=["24h"]
    )
    service_token_duration: Duration = Field(
        default="8760h", description="automation service token lifetime", examples=["8760h"]
    )
    # Agent.
    agent_engine: Literal["native", "openclaw"] = Field(
        default="native", description="agent engine in the container", examples=["openclaw"]
    )
    agent_model: Annotated[str, _pattern(_MODEL, "`offline` or `<provider>:<model>`")] = Field(
        default="offline", description="model the agent uses", examples=["openai:gpt-5-mini"]
    )
    openclaw_version: Annotated[
        str, _pattern(re.compile(r"^20[0-9]{2}\.[0-9]{1,2}\.[0-9]{1,2}$"), "an exact CalVer")
    ] = Field(
        default="2026.9.6",
        description="npm `openclaw` version baked into the image when agentEngine is openclaw",
        examples=["2026.9.6"],
    )
    instance_type: InstanceType = Field(
        default="basic",
        description="container instance type (openclaw needs standard-1 or larger)",
        examples=["standard-1"],
        validate_default=True,
    )
    max_instances: int = Field(
        default=5, ge=1, le=1000, description="most container instances at once", examples=[5]
    )
    sleep_after: Annotated[str, _pattern(_SLEEP, "a duration such as `10m`, or `never`")] = Field(
        default="10m", description="idle time before the container sleeps", examples=["10m"]
    )
    cold_start_timeout_ms: int = Field(
        default=60000,
        ge=1000,
        le=300000,  # the edge Worker refuses more (agent/edge/src/env.ts)
        description="how long an API call waits for a cold sandbox "
        f"(default {OPENCLAW_COLD_START_TIMEOUT_MS} with agentEngine openclaw)",
        examples=[60000],
    )
    isolation: Literal["shared", "per-user"] = Field(
        default="shared", description="one sandbox, or one per user", examples=["per-user"]
    )
    cron: Annotated[str, AfterValidator(_cron)] = Field(
        default="*/30 * * * *",
        description="schedule of the Worker's cron ticks",
        examples=["0 * * * *"],
    )
    agent_instructions: Annotated[str, AfterValidator(_instructions)] | None = Field(
        default=None,
        description="the agent's instructions (system prompt); unset = the runtime's default",
        examples=["You are Ada, my research assistant."],
    )
    agent_turn_timeout_s: TimeoutS | None = Field(
        default=None,
        description="seconds a chat turn may run before 504 (runtime default 120)",
        examples=[120],
    )
    agent_attachment_max_bytes: Annotated[int, Field(ge=1024, le=100_000_000)] | None = Field(
        default=None,
        description="largest chat attachment in bytes (runtime default 10485760; "
        "docs/attachments.md)",
        examples=[10485760],
    )
    agent_attachment_max_per_message: Annotated[int, Field(ge=1, le=20)] | None = Field(
        default=None,
        description="most attachments one chat message may reference (runtime default 4)",
        examples=[4],
    )
    agent_attachment_text_chars: Annotated[int, Field(ge=100, le=1_000_000)] | None = Field(
        default=None,
        description="characters of a PDF's or text file's text given to the model per "
        "attachment (runtime default 20000)",
        examples=[20000],
    )
    agent_transcription_model: (
        Annotated[str, Field(pattern=r"^@cf/[a-z0-9._-]+/[a-z0-9._-]+$")] | None
    ) = Field(
        default=None,
        description="Workers AI speech-to-text model for audio attachments (runtime default "
        "@cf/openai/whisper-large-v3-turbo; docs/attachments.md)",
        examples=["@cf/openai/whisper-large-v3-turbo"],
    )
    agent_transcription_max_seconds: Annotated[int, Field(ge=1, le=14_400)] | None = Field(
        default=None,
        description="longest audio attachment transcribed, in seconds (runtime default 600)",
        examples=[600],
    )
    agent_transcription_max_bytes: Annotated[int, Field(ge=1024, le=100_000_000)] | None = Field(
        default=None,
        description="largest audio attachment transcribed, in bytes (runtime default 20971520)",
        examples=[20971520],
    )
    agent_model_images: bool | None = Field(
        default=None,
        description="whether the chat model accepts image input; false makes the agent say it "
        "cannot see images (runtime default true)",
        examples=[True],
    )
    agent_context_tokens: Annotated[int, Field(ge=1000, le=10_000_000)] | None = Field(
        default=None,
        description="token budget of one model request; older turns are compacted into a "
        "summary (runtime default: 3/4 of the model's known context window, else 64000)",
        examples=[64000],
    )
    agent_log_level: Literal["debug", "info", "warning", "error"] | None = Field(
        default=None, description="runtime log level (runtime default `info`)", examples=["info"]
    )
    agent_timezone: Annotated[str, AfterValidator(_timezone)] | None = Field(
        default=None,
        description="IANA time zone for schedules and dates (runtime default `UTC`)",
        examples=["Europe/Paris"],
    )
    job_timeout_s: TimeoutS | None = Field(
        default=None,
        description="seconds one scheduled job may run (runtime default 120)",
        examples=[120],
    )
    web_fetch_allowlist: list[Annotated[str, AfterValidator(_fetch_target)]] = Field(
        default_factory=list,
        description="hosts, IPs or CIDRs web fetch may reach although private or loopback",
        examples=[["intranet.example.com", "10.1.0.0/16"]],
    )
    # A SecretStr only as the offline plan's stand-in for the encrypted list (load_config).
    mcp_servers: Annotated[list[McpServerConfig], AfterValidator(_mcp_servers)] | SecretStr = Field(
        default_factory=list,
        description="MCP tool servers (streamable HTTP) and the tools the agent may use from each; "
        "a secret (it holds header values): set it with `pulumi config set --secret` "
        "(docs/mcp.md)",
        examples=[
            [
                {
                    "name": "docs",
                    "url": "https://mcp.example.com/mcp",
                    "headerName": "Authorization",
                    "headerValue": "Bearer <token>",
                    "allowedTools": ["search"],
                }
            ]
        ],
    )
    admin_emails: list[Email] = Field(
        default_factory=list,
        description="identities that may list and read every session (each read audit-logged)",
        examples=[["ops@example.com"]],
    )
    openclaw_allowed_origins: list[
        Annotated[str, _pattern(_ORIGIN, "an https origin (no path) such as `https://a.example`")]
    ] = Field(
        default_factory=list,
        description="agentEngine openclaw: browser origins of the Control UI; "
        "empty = the agent's own origin",
        examples=[["https://agent.example.com"]],
    )
    # AI Gateway.
    gateway_rate_limit: int = Field(
        default=120, ge=1, le=1_000_000, description="requests per interval", examples=[120]
    )
    gateway_rate_limit_interval: int = Field(
        default=60, ge=1, le=86400, description="rate-limit window in seconds", examples=[60]
    )
    gateway_rate_limit_technique: Literal["fixed", "sliding"] = Field(
        default="sliding", description="rate-limit technique", examples=["fixed"]
    )
    gateway_cache_ttl: int = Field(
        default=0,
        ge=0,
        le=2_592_000,
        description="response cache seconds (0 = off)",
        examples=[300],
    )
    gateway_collect_logs: bool = Field(
        default=True, description="keep AI Gateway request logs", examples=[True]
    )
    # Budgets and routing (docs/costs.md).
    spend_limit_daily_usd: Annotated[Usd, Field(le=100_000)] | None = Field(
        default=None,
        description="AI Gateway spend limit of the whole stack per day (US dollars); required "
        "(or spendLimitMonthlyUsd) in a `prod` stack",
        examples=["5.00"],
    )
    spend_limit_monthly_usd: Annotated[Usd, Field(le=1_000_000)] | None = Field(
        default=None,
        description="AI Gateway spend limit of the whole stack per 30 days (US dollars)",
        examples=["100.00"],
    )
    user_spend_limit_daily_usd: Annotated[Usd, Field(le=100_000)] | None = Field(
        default=None,
        description="AI Gateway spend limit of each user per day (US dollars), split by the "
        "`user` metadata every model call carries",
        examples=["1.50"],
    )
    model_fallbacks: list[RemoteModel] = Field(
        default_factory=list,
        description="models tried in order when agentModel fails, is rate limited or over "
        f"budget (an AI Gateway dynamic route; at most {MAX_FALLBACKS})",
        examples=[["anthropic:claude-haiku-4-5", "workers-ai:@cf/meta/llama-3.3-70b-instruct"]],
    )
    job_model: RemoteModel | None = Field(
        default=None,
        description="model for scheduled jobs and compaction summaries (a cheaper one); "
        "unset = agentModel",
        examples=["openai:gpt-5-nano"],
    )
    # Channels.
    telegram_bot_token: Secret | None = Field(
        default=None, description="Telegram bot token", examples=["123456:ABC-your-bot-token"]
    )
    telegram_webhook_secret: Secret | None = Field(
        default=None, description="Telegram webhook secret token", examples=["a-long-random-string"]
    )
    telegram_dm_policy: DmPolicy | None = Field(
        default=None,
        description="who may DM the Telegram bot (runtime default `pairing`)",
        examples=["allowlist"],
    )
    telegram_allowlist: list[TelegramUser] = Field(
        default_factory=list,
        description="Telegram user ids always let in (required with dmPolicy allowlist)",
        examples=[["123456789"]],
    )
    slack_bot_token: Secret | None = Field(
        default=None, description="Slack bot token", examples=["xoxb-your-token"]
    )
    slack_signing_secret: Secret | None = Field(
        default=None, description="Slack signing secret", examples=["your-signing-secret"]
    )
    slack_dm_policy: DmPolicy | None = Field(
        default=None,
        description="who may DM the Slack bot (runtime default `pairing`)",
        examples=["allowlist"],
    )
    slack_allowlist: list[SlackUser] = Field(
        default_factory=list,
        description="Slack member ids always let in (required with dmPolicy allowlist)",
        examples=[["U0123ABCD"]],
    )
    discord_bot_token: Secret | None = Field(
        default=None, description="Discord bot token", examples=["your-bot-token"]
    )
    discord_public_key: Annotated[str, _pattern(re.compile(r"^[0-9a-f]{64}$"), "64 hex chars")] | (
        None
    ) = Field(
        default=None,
        description="Discord application public key",
        examples=["a" * 64],
    )
    discord_application_id: Annotated[str, _pattern(re.compile(r"^[0-9]{5,25}$"), "digits")] | (
        None
    ) = Field(default=None, description="Discord application id", examples=["123456789012345678"])
    discord_dm_policy: DmPolicy | None = Field(
        default=None,
        description="who may DM the Discord bot (runtime default `pairing`)",
        examples=["allowlist"],
    )
    discord_allowlist: list[DiscordUser] = Field(
        default_factory=list,
        description="Discord user ids always let in (required with dmPolicy allowlist)",
        examples=[["80351110224678912"]],
    )
    whatsapp_access_token: Secret | None = Field(
        default=None,
        description="WhatsApp Cloud API access token (a system user's permanent token)",
        examples=["EAAG-your-access-token"],
    )
    whatsapp_phone_number_id: Annotated[str, _pattern(re.compile(r"^[0-9]{5,25}$"), "digits")] | (
        None
    ) = Field(
        default=None,
        description="WhatsApp phone number id (WhatsApp > API Setup), not the phone number",
        examples=["106540352242922"],
    )
    whatsapp_app_secret: Secret | None = Field(
        default=None,
        description="Meta app secret (App settings > Basic), verifies X-Hub-Signature-256",
        examples=["your-app-secret"],
    )
    whatsapp_verify_token: Secret | None = Field(
        default=None,
        description="Verify token typed into the Meta webhook form",
        examples=["a-long-random-string"],
    )
    whatsapp_dm_policy: DmPolicy | None = Field(
        default=None,
        description="who may message the WhatsApp number (runtime default `pairing`)",
        examples=["allowlist"],
    )
    whatsapp_allowlist: list[WhatsAppUser] = Field(
        default_factory=list,
        description="WhatsApp ids (digits only) always let in (required with dmPolicy allowlist)",
        examples=[["15551234567"]],
    )
    email_address: AgentAddress | None = Field(
        default=None,
        description="the agent's address on the stack's zone (needs hostname and zoneId); "
        "Email Routing delivers it to the Worker",
        examples=["agent@example.com"],
    )
    email_allowlist: list[MailAddress] = Field(
        default_factory=list,
        description="senders whose authenticated mail reaches the agent (required with "
        "emailAddress; lower-cased)",
        examples=[["me@example.com"]],
    )

    @model_validator(mode="before")
    @classmethod
    def _engine_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        engine = data.get("agent_engine", data.get("agentEngine"))
        unset = "cold_start_timeout_ms" not in data and "coldStartTimeoutMs" not in data
        if engine == "openclaw" and unset:
            return {**data, "cold_start_timeout_ms": OPENCLAW_COLD_START_TIMEOUT_MS}
        return data

    @field_validator("instance_type")
    @classmethod
    def _fits_engine(cls, value: str, info: ValidationInfo) -> str:
        # The OpenClaw gateway idles at ~1 GB RSS (measured): lite and basic would OOM-kill it.
        if info.data.get("agent_engine") == "openclaw" and value in {"lite", "basic"}:
            raise ValueError(
                f"{value!r} is too small for agentEngine openclaw (about 1 GB idle); "
                "use standard-1 or larger"
            )
        return value

    @property
    def names(self) -> Names:
        """Cloudflare-side names of this stack."""
        return Names(self.tenant, self.environment)


def key_of(field_name: str) -> str:
    """The full config key of a model field, e.g. `account_id` -> `edgeagent:accountId`."""
    return f"{NAMESPACE}:{to_camel(field_name)}"


def _is_secret_field(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        # A key whose items hold a secret (mcpServers' headerValue) is secret as a whole.
        return any(_is_secret_field(field.annotation) for field in annotation.model_fields.values())
    return any(_is_secret_field(arg) for arg in get_args(annotation))


def _is_list_field(annotation: Any) -> bool:
    if get_origin(annotation) is list:
        return True
    return any(_is_list_field(arg) for arg in get_args(annotation))


SECRET_FIELDS: frozenset[str] = frozenset(
    name for name, field in StackConfig.model_fields.items() if _is_secret_field(field.annotation)
)
LIST_FIELDS: frozenset[str] = frozenset(
    name for name, field in StackConfig.model_fields.items() if _is_list_field(field.annotation)
)
_BY_ALIAS = {to_camel(name): name for name in StackConfig.model_fields}


def example_of(field_name: str) -> str:
    """A valid `key: value` line for a field, as it would appear in a stack file."""
    examples = StackConfig.model_fields[field_name].examples or []
    value = examples[0] if examples else ""
    rendered = json.dumps(value) if not isinstance(value, str) else value
    return f"{key_of(field_name)}: {rendered}"


# Channel credentials that only make sense together.
_TOGETHER: tuple[tuple[str, ...], ...] = (
    ("telegram_bot_token", "telegram_webhook_secret"),
    ("slack_bot_token", "slack_signing_secret"),
    ("discord_bot_token", "discord_public_key", "discord_application_id"),
    (
        "whatsapp_access_token",
        "whatsapp_phone_number_id",
        "whatsapp_app_secret",
        "whatsapp_verify_token",
    ),
)


# The chat channels: the key that turns each on, and its display name.
_CHANNELS: tuple[tuple[str, str, str], ...] = (
    ("telegram", "Telegram", "telegram_bot_token"),
    ("slack", "Slack", "slack_bot_token"),
    ("discord", "Discord", "discord_bot_token"),
    ("whatsapp", "WhatsApp", "whatsapp_access_token"),
)


def configured_channels(config: StackConfig) -> list[str]:
    """The chat channels this stack configures (each has a webhook path under /webhooks/)."""
    enabled = [name for name, _title, key in _CHANNELS if getattr(config, key) is not None]
    # The email channel's reply relay is POST /webhooks/email.
    return [*enabled, "email"] if config.email_address is not None else enabled


# Channels the pinned OpenClaw cannot take from the edge's verified webhooks (docs/openclaw.md):
# its Discord plugin keeps a gateway WebSocket and WhatsApp is WhatsApp Web (Baileys, a persistent
# socket). Each would keep the sandbox awake, so it is refused. (Slack is served: the pinned
# `@openclaw/slack` plugin in HTTP mode, agent/runtime/openclaw/slack.py.)
_OPENCLAW_REFUSED: tuple[tuple[str, str, str], ...] = (
    ("discord_bot_token", "Discord", "its Discord plugin keeps a gateway WebSocket open"),
    ("whatsapp_access_token", "WhatsApp", "its WhatsApp is WhatsApp Web, a persistent socket"),
)


def _openclaw_channel_issues(present: set[str]) -> list[ConfigIssue]:
    return [
        ConfigIssue(
            key_of(enabling),
            f"{title} cannot reach agentEngine openclaw through the edge ({why}, so the "
            "container could never sleep; docs/openclaw.md); use agentEngine native for "
            f"{title}, or unset {key_of(enabling)}",
            f"{key_of('agent_engine')}: native",
        )
        for enabling, title, why in _OPENCLAW_REFUSED
        if enabling in present
    ]


def _channel_issues(present: set[str], data: Mapping[str, object]) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for channel, title, enabling in _CHANNELS:
        policy, allowlist = f"{channel}_dm_policy", f"{channel}_allowlist"
        if enabling not in present:
            for name in (policy, allowlist):
                if name in present:
                    issues.append(
                        ConfigIssue(
                            key_of(name),
                            f"applies only to the {title} channel, which is not configured "
                            f"(set {to_camel(enabling)} first)",
                            example_of(enabling),
                        )
                    )
        elif data.get(policy) == "allowlist" and allowlist not in present:
            issues.append(
                ConfigIssue(
                    key_of(allowlist),
                    f"is required with {to_camel(policy)} allowlist (else nobody could DM the bot)",
                    example_of(allowlist),
                )
            )
    if data.get("agent_engine") == "openclaw":
        issues += _openclaw_channel_issues(present)
    if "openclaw_allowed_origins" in present and data.get("agent_engine") != "openclaw":
        issues.append(
            ConfigIssue(
                key_of("openclaw_allowed_origins"),
                "applies only with agentEngine openclaw",
                example_of("agent_engine"),
            )
        )
    return issues


def _cross_field_issues(present: set[str], data: Mapping[str, object]) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    if "hostname" in present and "zone_id" not in present:
        issues.append(
            ConfigIssue(
                key_of("zone_id"), "is required when hostname is set", example_of("zone_id")
            )
        )
    if "zone_id" in present and "hostname" not in present:
        issues.append(
            ConfigIssue(
                key_of("hostname"), "is required when zoneId is set", example_of("hostname")
            )
        )
    if "hostname" not in present and "workers_dev_subdomain" not in present:
        issues.append(
            ConfigIssue(
                key_of("workers_dev_subdomain"),
                "is required when no hostname is set (the agent is then served on workers.dev)",
                example_of("workers_dev_subdomain"),
            )
        )
    if not present & {"allowed_emails", "allowed_email_domains", "access_group_ids"}:
        issues.append(
            ConfigIssue(
                key_of("allowed_emails"),
                "nobody could sign in: set allowedEmails, allowedEmailDomains or accessGroupIds",
                example_of("allowed_emails"),
            )
        )
    for group in _TOGETHER:
        given = [name for name in group if name in present]
        if given and len(given) != len(group):
            for name in group:
                if name not in present:
                    others = ", ".join(to_camel(other) for other in given)
                    issues.append(
                        ConfigIssue(key_of(name), f"is required with {others}", example_of(name))
                    )
    return (
        issues
        + _channel_issues(present, data)
        + _email_issues(present, data)
        + _budget_issues(present, data)
    )


def _email_issues(present: set[str], data: Mapping[str, object]) -> list[ConfigIssue]:
    """The agent's address must be on the stack's zone, and somebody must be allowed to write."""
    if "email_address" not in present:
        if "email_allowlist" in present:
            return [
                ConfigIssue(
                    key_of("email_allowlist"),
                    "applies only to the email channel, which is not configured "
                    "(set emailAddress first)",
                    example_of("email_address"),
                )
            ]
        return []
    issues: list[ConfigIssue] = []
    if "email_allowlist" not in present:
        issues.append(
            ConfigIssue(
                key_of("email_allowlist"),
                "is required with emailAddress (else every message would be refused)",
                example_of("email_allowlist"),
            )
        )
    address = data.get("email_address")
    hostname = data.get("hostname")
    if "hostname" not in present or "zone_id" not in present or not isinstance(hostname, str):
        issues.append(
            ConfigIssue(
                key_of("email_address"),
                "needs the stack's zone: Email Routing works on a zone, so set hostname and "
                "zoneId (workers.dev has none)",
                example_of("hostname"),
            )
        )
    elif isinstance(address, str) and "@" in address:
        # The stack knows its zone through the hostname: the address's domain must be the
        # hostname or one of its parents (`agent@example.com` for `agent.example.com`).
        domain = address.rsplit("@", 1)[1].strip().lower()
        parents = _parent_domains(hostname.lower())
        if domain not in parents:
            issues.append(
                ConfigIssue(
                    key_of("email_address"),
                    f"is on {domain!r}, not on the stack's zone (hostname {hostname!r}): use an "
                    f"address at one of {', '.join(parents)}",
                    f"{key_of('email_address')}: agent@{parents[-1]}",
                )
            )
    return issues


def _parent_domains(hostname: str) -> list[str]:
    """`agent.example.com` -> [`agent.example.com`, `example.com`] (at least two labels)."""
    labels = hostname.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]


def _budget_issues(present: set[str], data: Mapping[str, object]) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []

    def usd(name: str) -> Decimal | None:
        try:
            return Decimal(str(data[name])) if name in present else None
        except ArithmeticError:
            return None  # the field's own validation names it

    daily, monthly = usd("spend_limit_daily_usd"), usd("spend_limit_monthly_usd")
    user_daily = usd("user_spend_limit_daily_usd")
    if daily is not None and monthly is not None and daily > monthly:
        issues.append(
            ConfigIssue(
                key_of("spend_limit_monthly_usd"),
                f"({monthly}) is below spendLimitDailyUsd ({daily}): one day could never "
                "reach the daily limit",
                example_of("spend_limit_monthly_usd"),
            )
        )
    if user_daily is not None and daily is not None and user_daily > daily:
        issues.append(
            ConfigIssue(
                key_of("user_spend_limit_daily_usd"),
                f"({user_daily}) is above spendLimitDailyUsd ({daily}), which caps every "
                "user together",
                example_of("user_spend_limit_daily_usd"),
            )
        )
    remote = data.get("agent_model") not in (None, "offline")
    fallbacks = data.get("model_fallbacks")
    if "model_fallbacks" in present and isinstance(fallbacks, list):
        if not remote:
            issues.append(
                ConfigIssue(
                    key_of("model_fallbacks"),
                    "needs a remote agentModel to fall back from (agentModel is `offline`)",
                    example_of("agent_model"),
                )
            )
        if len(fallbacks) > MAX_FALLBACKS:
            issues.append(
                ConfigIssue(
                    key_of("model_fallbacks"),
                    f"lists {len(fallbacks)} models; at most {MAX_FALLBACKS}",
                    example_of("model_fallbacks"),
                )
            )
        chain = [data.get("agent_model"), *fallbacks]
        repeated = sorted({str(m) for m in chain if chain.count(m) > 1})
        if repeated:
            issues.append(
                ConfigIssue(
                    key_of("model_fallbacks"),
                    f"repeats {', '.join(repeated)} (agentModel is tried first already)",
                    example_of("model_fallbacks"),
                )
            )
    if "job_model" in present and not remote:
        issues.append(
            ConfigIssue(
                key_of("job_model"),
                "applies only with a remote agentModel (agentModel is `offline`)",
                example_of("agent_model"),
            )
        )
    return issues


def _decode(field_name: str, raw: object) -> object:
    if field_name in LIST_FIELDS and isinstance(raw, str):
        text = raw.strip()
        if not text.startswith("["):
            raise ValueError("must be a list (in YAML: a sequence; on the CLI: --path key[0])")
        return json.loads(text)
    return raw


def load_config(
    stack: str, values: Mapping[str, object], secret_keys: Collection[str] = ()
) -> StackConfig:
    """Validate raw `edgeagent:*` config values (strings or decoded values) into a StackConfig."""
    issues: list[ConfigIssue] = []
    data: dict[str, object] = {}
    given: set[str] = set()  # fields with a value, even one refused below
    for key, raw in values.items():
        namespace, _, alias = key.partition(":")
        if namespace != NAMESPACE:
            continue
        field_name = _BY_ALIAS.get(alias)
        if field_name is None:
            close = difflib.get_close_matches(alias, list(_BY_ALIAS), n=1)
            hint = f"; did you mean {NAMESPACE}:{close[0]}?" if close else ""
            issues.append(ConfigIssue(key, f"is not a known key{hint}"))
            continue
        if raw is None or raw == "" or raw == []:
            continue
        given.add(field_name)
        if field_name in SECRET_FIELDS and key not in secret_keys:
            issues.append(
                ConfigIssue(
                    key,
                    "is a secret and must not be stored in clear; "
                    f"set it with `pulumi config set --secret {key} <value>`",
                )
            )
            continue
        if field_name in LIST_FIELDS and field_name in SECRET_FIELDS and raw == SECRET:
            # An offline plan (infra/plan.py) cannot decrypt a secret list (mcpServers): it binds
            # the stand-in; the items are validated when Pulumi runs with the real value.
            data[field_name] = SecretStr(SECRET)
            continue
        try:
            data[field_name] = _decode(field_name, raw)
        except (ValueError, json.JSONDecodeError) as exc:
            issues.append(ConfigIssue(key, str(exc).split("\n")[0], example_of(field_name)))

    explicit = set(data)
    default_tenant, default_env = split_stack_name(stack)
    data.setdefault("tenant", default_tenant)
    data.setdefault("environment", default_env)
    issues.extend(_cross_field_issues(given | set(data), data))

    try:
        config = StackConfig.model_validate(data)
    except ValidationError as exc:
        issues.extend(_issues_from(exc, explicit, stack))
        raise ConfigError(stack, issues) from None
    if issues:
        raise ConfigError(stack, issues)
    return config


def _issues_from(exc: ValidationError, explicit: set[str], stack: str) -> list[ConfigIssue]:
    issues = []
    for error in exc.errors():
        loc = error["loc"]
        if len(loc) > 1 and isinstance(loc[1], str):
            # A union's branch (mcpServers: the list, or the plan's SecretStr stand-in): report
            # the list's errors only, without the branch's name.
            if not loc[1].startswith(("function-after", "list")):
                continue
            error = {**error, "loc": (loc[0], *loc[2:])}
        field_name = _BY_ALIAS.get(str(error["loc"][0]), str(error["loc"][0]))
        key = key_of(field_name)
        reason = error["msg"].removeprefix("Value error, ")
        if len(error["loc"]) > 2:  # a field of a list item, e.g. mcpServers[0].url
            fields = ".".join(str(part) for part in error["loc"][2:])
            reason = f"item {error['loc'][1]} field {fields}: {reason}"
        elif len(error["loc"]) > 1:
            reason = f"item {error['loc'][1]} {reason}"
        if error["type"] == "missing":
            reason = "is required"
        elif field_name in {"tenant", "environment"} and field_name not in explicit:
            reason = f"derived from stack name {stack!r} {reason}; set {key} explicitly"
        issues.append(ConfigIssue(key, reason, example_of(field_name)))
    return issues


def load_from_pulumi() -> StackConfig:
    """Read every `edgeagent:*` key from the running Pulumi program; the only config reader."""
    import pulumi

    from infra.pulumi_internals import stack_config

    values, secret_keys = stack_config()
    return load_config(pulumi.get_stack(), values, secret_keys)
