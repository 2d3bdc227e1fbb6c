"""Every setting that crosses a boundary, declared once: the single source of docs/contract.md.

To add a setting, add one `Setting` here and run `make generate` (docs/contract.md, "Adding a
setting"). From this list come: the edge's `Env` type and container pass-through list
(agent/edge/src/generated/settings.ts), the runtime's typed fields and error examples
(agent/runtime/generated/settings.py), the bindings table of docs/contract.md, and infra's
Worker bindings (infra/bindings.py). Order matters only for the docs and the runtime's fields.
"""

from __future__ import annotations

from agent.contract.model import Py, Setting, check

# Examples of tokens and the all-interfaces listen address are documentation, not credentials.
# ruff: noqa: S104, S105, S106

SECONDS = "Annotated[float, Field(gt=0, le=3600)]"
URL = r'Annotated[str, Field(pattern=r"^https?://\S+$")] | None'
OPTIONAL_SECRET = "SecretStr | None"
USD = "Annotated[Decimal, Field(gt=0, le=1_000_000, decimal_places=2, allow_inf_nan=False)] | None"
_CHANNEL_NOTE = (
    "Chat channels are raw strings on purpose: a bad value disables that channel with a status "
    "message (agent/runtime/channels/config.py) instead of stopping the runtime."
)
_TESTS_ONLY = "tests and local fakes (a deployment must not point a bot token at another host)"
_IMAGE = "the image (agent/Dockerfile) or the runtime's default"


def _channel(
    name: str, title: str, *, token: str, verify: Setting, ids: str, api: str
) -> list[Setting]:
    """The settings of one chat channel (the edge keeps its verification key)."""
    key = name.lower()
    return [
        Setting(
            name=f"{name}_BOT_TOKEN",
            reach="container",
            kind="secret",
            config=f"{key}BotToken",
            doc=f"{title} bot token",
            example=token,
            py=Py(annotation=OPTIONAL_SECRET, default="None"),
            note=_CHANNEL_NOTE if name == "TELEGRAM" else None,
        ),
        verify,
        Setting(
            name=f"{name}_DM_POLICY",
            reach="container",
            config=f"{key}DmPolicy",
            doc=f"who may talk to the agent on {title}: `pairing`, `allowlist` or `open`; a bad "
            "value disables only that channel",
            example="pairing  (or allowlist, open)",
            py=Py(annotation="str", default='"pairing"'),
        ),
        Setting(
            name=f"{name}_ALLOWLIST",
            reach="container",
            config=f"{key}Allowlist",
            doc=f"comma-separated {title} user ids always let in (required with `allowlist`)",
            example=ids,
            py=Py(annotation="str", default='""', shown="empty"),
        ),
        Setting(
            name=f"{name}_API_BASE_URL",
            reach="runtime",
            set_by=_TESTS_ONLY,
            doc=f"the {title} API the bot token is sent to",
            example=api,
            py=Py(annotation="str", default=repr(api)),
        ),
    ]


SETTINGS: tuple[Setting, ...] = (
    # The edge's own bindings.
    Setting(
        name="SANDBOX",
        reach="edge",
        kind="durable_object",
        durable_object="Sandbox",
        provided="the edge bundle's manifest (a namespace per Durable Object class)",
        doc="the container-enabled Durable Object (sqlite-backed)",
    ),
    Setting(
        name="DIRECTORY",
        reach="edge",
        kind="durable_object",
        durable_object="Directory",
        provided="the edge bundle's manifest (a namespace per Durable Object class)",
        doc="per-tenant edge bookkeeping (webhook replay ledger, cron fan-out), sqlite-backed",
    ),
    Setting(
        name="TENANT",
        reach="edge",
        config="tenant",
        doc="tenant id; reaches the container as `AGENT_TENANT`",
        example="acme",
    ),
    Setting(
        name="ISOLATION",
        reach="edge",
        config="isolation",
        edge_default="shared",
        doc="`shared` (one sandbox per tenant) or `per-user` (one per identity)",
        example="per-user",
    ),
    Setting(
        name="ACCESS_TEAM_DOMAIN",
        reach="edge",
        config="accessTeamDomain",
        doc="`https://<team>.cloudflareaccess.com`: the Access JWT issuer (JWKS at "
        "`/cdn-cgi/access/certs`)",
        example="https://acme.cloudflareaccess.com",
    ),
    Setting(
        name="ACCESS_AUD",
        reach="edge",
        provided="the Access application (infra/components/access.py)",
        doc="the Access application AUD tag",
        example="<64 hex characters from the Access application>",
    ),
    Setting(
        name="SLEEP_AFTER",
        reach="edge",
        config="sleepAfter",
        edge_default="10m",
        doc="container sleep-after (`never` = do not sleep)",
        example="10m",
    ),
    Setting(
        name="COLD_START_TIMEOUT_MS",
        reach="edge",
        config="coldStartTimeoutMs",
        edge_default="30000",
        doc="how long an API request waits for a cold sandbox before 503 (0-300000)",
        example="60000",
    ),
    # Identity of the sandbox: set by the edge itself, not bound.
    Setting(
        name="AGENT_TENANT",
        reach="runtime",
        set_by="the edge, from `TENANT`",
        doc="tenant id",
        example="acme",
        py=Py(annotation='Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]'),
    ),
    Setting(
        name="AGENT_USER",
        reach="runtime",
        set_by="the edge, with `ISOLATION=per-user`: the sandbox's identity",
        doc="the identity a per-user sandbox belongs to; its state lives under `users/<id>/`",
        example="alice@example.com",
        py=Py(annotation="str | None", default="None"),
    ),
    # The agent.
    Setting(
        name="AGENT_ENGINE",
        reach="container",
        config="agentEngine",
        doc="`native` or `openclaw`",
        example="native",
        py=Py(annotation='Literal["native", "openclaw"]', default='"native"'),
    ),
    Setting(
        name="AGENT_MODEL",
        reach="container",
        config="agentModel",
        doc="`offline` or `<provider>:<model>`, e.g. `openai:gpt-5-mini`, "
        "`anthropic:claude-sonnet-4-5`, `workers-ai:@cf/meta/llama-3.3-70b-instruct-fp8-fast`",
        example="offline  (or openai:gpt-5-mini, anthropic:claude-sonnet-4-5, "
        "workers-ai:@cf/meta/llama-3.3-70b-instruct-fp8-fast, compat:openai/gpt-5-mini)",
        py=Py(annotation="str", default='"offline"'),
    ),
    Setting(
        name="AGENT_INSTRUCTIONS",
        reach="container",
        config="agentInstructions",
        doc="the agent's instructions (system prompt)",
        example="You are Ada, my research assistant.",
        py=Py(
            annotation="str",
            default='("You are a helpful personal assistant. "'
            '"Answer concisely and say when you are unsure.")',
            shown="a short generic assistant prompt",
        ),
    ),
    Setting(
        name="AI_GATEWAY_BASE_URL",
        reach="container",
        provided="the AI Gateway (infra/components/ai_gateway.py)",
        doc="`https://gateway.ai.cloudflare.com/v1/{account}/{gateway}` (the runtime adds the "
        "provider suffix)",
        example="https://gateway.ai.cloudflare.com/v1/<account>/<gateway>",
        py=Py(annotation=URL, default="None"),
    ),
    Setting(
        name="AI_GATEWAY_TOKEN",
        reach="container",
        kind="secret",
        provided="the AI Gateway's token (infra/components/ai_gateway.py)",
        doc="sent as `cf-aig-authorization: Bearer <token>`",
        example="<AI Gateway token with Run permission>",
        py=Py(annotation=OPTIONAL_SECRET, default="None"),
    ),
    Setting(
        name="AGENT_MODEL_BASE_URL",
        reach="runtime",
        set_by="local dev and tests (a deployment reaches models only through AI Gateway)",
        doc="an OpenAI-compatible endpoint used instead of AI Gateway",
        example="http://127.0.0.1:11434/v1",
        py=Py(annotation=URL, default="None"),
    ),
    Setting(
        name="AGENT_MODEL_API_KEY",
        reach="runtime",
        kind="secret",
        set_by="local dev and tests (docs/models.md)",
        doc="the provider's key: `openai:`/`anthropic:` without a base URL call the provider "
        "directly with it; also sent to `AGENT_MODEL_BASE_URL` or through AI Gateway",
        example="<your provider's API key>",
        py=Py(annotation=OPTIONAL_SECRET, default="None"),
    ),
    Setting(
        name="AGENT_EDGE_TOKEN",
        reach="container",
        kind="secret",
        provided="a random password generated per stack",
        doc="shared secret edge→container (`X-Agent-Edge-Token`)",
        example="<at least 16 characters, generated by Pulumi>",
        py=Py(annotation="SecretStr"),
    ),
    # Budgets and routing (docs/costs.md).
    Setting(
        name="AGENT_JOB_MODEL",
        reach="container",
        config="jobModel",
        doc="the model that answers scheduled jobs and compaction (`<provider>:<model>`); unset = "
        "`AGENT_MODEL`",
        example="openai:gpt-5-nano",
        py=Py(annotation="str | None", default="None"),
    ),
    Setting(
        name="AGENT_MODEL_ROUTE",
        reach="container",
        provided="the AI Gateway dynamic route carrying `edgeagent:modelFallbacks` "
        "(infra/components/stack.py), bound only when fallbacks are configured",
        doc="the dynamic route the chat model is called through (`dynamic/<route>`), so the "
        "gateway falls back in order",
        example="agent",
        py=Py(
            annotation='Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")] | None',
            default="None",
        ),
    ),
    Setting(
        name="AGENT_SPEND_LIMIT_DAILY_USD",
        reach="container",
        config="spendLimitDailyUsd",
        doc="the stack's daily model spend limit in US dollars, so chat can say which limit was "
        "reached",
        example="5.00",
        py=Py(annotation=USD, default="None"),
    ),
    Setting(
        name="AGENT_SPEND_LIMIT_MONTHLY_USD",
        reach="container",
        config="spendLimitMonthlyUsd",
        doc="the stack's monthly model spend limit in US dollars",
        example="100.00",
        py=Py(annotation=USD, default="None"),
    ),
    Setting(
        name="AGENT_USER_SPEND_LIMIT_DAILY_USD",
        reach="container",
        config="userSpendLimitDailyUsd",
        doc="each user's daily model spend limit in US dollars",
        example="1.50",
        py=Py(annotation=USD, default="None"),
    ),
    Setting(
        name="AI_GATEWAY_LOGS_TOKEN",
        reach="container",
        kind="secret",
        provided="the AI Gateway's read-only logs token (infra/components/ai_gateway.py)",
        doc="read-only token for the gateway's logs, which the Usage page (`/api/usage`) reads",
        example="<API token with AI Gateway Read>",
        py=Py(annotation=OPTIONAL_SECRET, default="None"),
    ),
    Setting(
        name="AI_GATEWAY_API_BASE_URL",
        reach="runtime",
        set_by="tests and local fakes (a deployment must not send the logs token to another host)",
        doc="the Cloudflare API the gateway's logs are read from",
        example="https://api.cloudflare.com/client/v4",
        py=Py(
            annotation=r'Annotated[str, Field(pattern=r"^https?://\S+$")]',
            default='"https://api.cloudflare.com/client/v4"',
        ),
    ),
    Setting(
        name="AGENT_USAGE_CACHE_S",
        reach="runtime",
        set_by="the runtime's default; tests",
        doc="seconds the Usage page caches what it read from the gateway's logs (0 = no cache)",
        example="60",
        py=Py(annotation="Annotated[float, Field(ge=0, le=3600)]", default="60.0"),
    ),
    Setting(
        name="AGENT_CONTAINER_MONTHLY_USD",
        reach="container",
        provided="the container cost estimate at plan time (infra/cost.py)",
        doc="the container's estimated monthly cost in US dollars, shown beside model spend on "
        "the Usage page",
        example="12.34",
        py=Py(annotation="Annotated[Decimal, Field(ge=0, le=1_000_000)] | None", default="None"),
    ),
    # State.
    Setting(
        name="STATE_BACKEND",
        reach="runtime",
        set_by="the runtime's default (`r2`); `local` in local dev and tests",
        doc="where state lives: R2, or a local directory",
        example="r2  (or local)",
        py=Py(annotation='Literal["r2", "local"]', default='"r2"'),
    ),
    Setting(
        name="STATE_BUCKET",
        reach="container",
        provided="the R2 bucket (infra/components/storage.py)",
        doc="R2 bucket of the tenant's state",
        example="acme-prod-state",
        py=Py(annotation="str | None", default="None"),
    ),
    Setting(
        name="STATE_ENDPOINT",
        reach="container",
        provided="the R2 bucket (infra/components/storage.py)",
        doc="the bucket's S3 endpoint",
        example="https://<account>.r2.cloudflarestorage.com",
        py=Py(annotation=URL, default="None"),
    ),
    Setting(
        name="STATE_ACCESS_KEY_ID",
        reach="container",
        kind="secret",
        provided="the bucket-scoped R2 token (infra/components/storage.py)",
        doc="R2 S3 credentials: key id",
        example="<R2 API token id>",
        py=Py(annotation=OPTIONAL_SECRET, default="None"),
    ),
    Setting(
        name="STATE_SECRET_ACCESS_KEY",
        reach="container",
        kind="secret",
        provided="the bucket-scoped R2 token (infra/components/storage.py)",
        doc="R2 S3 credentials: secret",
        example="<sha256 hex of the R2 API token value>",
        py=Py(annotation=OPTIONAL_SECRET, default="None"),
    ),
    Setting(
        name="STATE_REGION",
        reach="runtime",
        set_by=_IMAGE,
        doc="S3 region of the state bucket (R2 takes `auto`)",
        example="auto",
        py=Py(annotation="str", default='"auto"'),
    ),
    Setting(
        name="STATE_DIR",
        reach="runtime",
        set_by="local dev and tests, with `STATE_BACKEND=local`",
        doc="directory of the local state backend",
        example=".local/state",
        py=Py(annotation="Path", default='Path(".local/state")', shown=".local/state"),
    ),
    Setting(
        name="STATE_SYNC_MODE",
        reach="runtime",
        set_by="the benchmark only",
        doc="`write-through` (every acknowledged write is stored) or `periodic`",
        example="write-through",
        py=Py(annotation='Literal["write-through", "periodic"]', default='"write-through"'),
        note="`periodic` buffers writes and syncs every STATE_SYNC_INTERVAL_S, as Moltworker "
        "does. It can lose acknowledged turns and exists only so the benchmark can measure that "
        "loss side by side.",
    ),
    Setting(
        name="STATE_SYNC_INTERVAL_S",
        reach="runtime",
        set_by="the benchmark only",
        doc="seconds between syncs with `STATE_SYNC_MODE=periodic`",
        example="30",
        py=Py(annotation=SECONDS, default="30.0"),
    ),
    # The process.
    Setting(
        name="HOST",
        reach="runtime",
        set_by=_IMAGE,
        doc="address the runtime listens on",
        example="0.0.0.0",
        py=Py(annotation="str", default='"0.0.0.0"', noqa="S104"),
        note="All interfaces: the container's only listener; the Worker is its sole peer.",
    ),
    Setting(
        name="PORT",
        reach="runtime",
        set_by=_IMAGE,
        doc="port the runtime listens on (the edge connects to 8080)",
        example="8080",
        py=Py(annotation="Annotated[int, Field(ge=1, le=65535)]", default="8080"),
    ),
    Setting(
        name="AGENT_TURN_TIMEOUT_S",
        reach="container",
        config="agentTurnTimeoutS",
        doc="seconds a chat turn may run before 504",
        example="120",
        py=Py(annotation=SECONDS, default="120.0"),
    ),
    Setting(
        name="AGENT_CONTEXT_TOKENS",
        reach="container",
        config="agentContextTokens",
        doc="token budget of one model request (docs/sessions.md)",
        example="64000",
        py=Py(
            annotation="Annotated[int, Field(ge=1000, le=10_000_000)] | None",
            default="None",
            shown="from the model's context window",
        ),
    ),
    Setting(
        name="AGENT_ATTACHMENT_MAX_BYTES",
        reach="container",
        config="agentAttachmentMaxBytes",
        doc="largest chat attachment accepted, in bytes (docs/attachments.md); the edge caps "
        "request bodies too",
        example="10485760",
        py=Py(annotation="Annotated[int, Field(ge=1024, le=100_000_000)]", default="10_485_760"),
    ),
    Setting(
        name="AGENT_ATTACHMENT_MAX_PER_MESSAGE",
        reach="container",
        config="agentAttachmentMaxPerMessage",
        doc="most attachments one chat message may reference",
        example="4",
        py=Py(annotation="Annotated[int, Field(ge=1, le=20)]", default="4"),
    ),
    Setting(
        name="AGENT_ATTACHMENT_TEXT_CHARS",
        reach="container",
        config="agentAttachmentTextChars",
        doc="characters of a PDF's or text file's text given to the model per attachment",
        example="20000",
        py=Py(annotation="Annotated[int, Field(ge=100, le=1_000_000)]", default="20_000"),
    ),
    Setting(
        name="ATTACHMENT_RETENTION_DAYS",
        reach="container",
        config="attachmentRetentionDays",
        doc="days after an attachment was last sent before it is deleted (docs/retention.md)",
        example="90",
        py=Py(annotation="Annotated[int, Field(ge=1, le=3650)]", default="90"),
    ),
    Setting(
        name="AGENT_TRANSCRIPTION_MODEL",
        reach="container",
        config="agentTranscriptionModel",
        doc="Workers AI speech-to-text model that transcribes audio attachments through AI "
        "Gateway (docs/attachments.md)",
        example="@cf/openai/whisper-large-v3-turbo",
        py=Py(
            annotation=r'Annotated[str, Field(pattern=r"^@cf/[a-z0-9._-]+/[a-z0-9._-]+$")]',
            default='"@cf/openai/whisper-large-v3-turbo"',
        ),
    ),
    Setting(
        name="AGENT_TRANSCRIPTION_MAX_SECONDS",
        reach="container",
        config="agentTranscriptionMaxSeconds",
        doc="longest audio attachment transcribed, in seconds (read from WAV and Ogg headers)",
        example="600",
        py=Py(annotation="Annotated[int, Field(ge=1, le=14_400)]", default="600"),
    ),
    Setting(
        name="AGENT_TRANSCRIPTION_MAX_BYTES",
        reach="container",
        config="agentTranscriptionMaxBytes",
        doc="largest audio attachment transcribed, in bytes",
        example="20971520",
        py=Py(annotation="Annotated[int, Field(ge=1024, le=100_000_000)]", default="20_971_520"),
    ),
    Setting(
        name="AGENT_MODEL_IMAGES",
        reach="container",
        config="agentModelImages",
        doc="whether the chat model accepts image input; `false` makes the agent say it cannot "
        "see images",
        example="true",
        py=Py(annotation="bool", default="True"),
    ),
    Setting(
        name="AGENT_SESSION_CACHE_BYTES",
        reach="runtime",
        set_by=_IMAGE,
        doc="byte budget of the in-memory session cache",
        example="67108864",
        py=Py(
            annotation="Annotated[int, Field(ge=1_000_000)] | None",
            default="None",
            shown="a fifth of the container's memory",
        ),
    ),
    Setting(
        name="AGENT_SHUTDOWN_GRACE_S",
        reach="runtime",
        set_by=_IMAGE,
        doc="seconds the runtime takes to finish turns after SIGTERM",
        example="6",
        py=Py(annotation="Annotated[float, Field(gt=0, le=9)]", default="6.0"),
    ),
    Setting(
        name="AGENT_LOG_LEVEL",
        reach="container",
        config="agentLogLevel",
        doc="`debug`, `info`, `warning` or `error`",
        example="info",
        py=Py(annotation='Literal["debug", "info", "warning", "error"]', default='"info"'),
    ),
    Setting(
        name="CHANNEL_RECORD_RETENTION_DAYS",
        reach="container",
        config="channelRecordRetentionDays",
        doc="days before finished chat records are deleted (pending ones never; "
        "agent/runtime/retention.py)",
        example="30",
        py=Py(annotation="Annotated[int, Field(ge=1, le=3650)]", default="30"),
    ),
    # Chat channels.
    *_channel(
        "TELEGRAM",
        "Telegram",
        token="123456789:AAH-<35 characters from @BotFather>",
        verify=Setting(
            name="TELEGRAM_WEBHOOK_SECRET",
            reach="edge",
            kind="secret",
            config="telegramWebhookSecret",
            doc="Telegram webhook secret token, verified at the edge",
            example="a-long-random-string",
        ),
        ids="123456789,987654321  (numeric Telegram user ids)",
        api="https://api.telegram.org",
    ),
    *_channel(
        "SLACK",
        "Slack",
        token="xoxb-<bot token from the Slack app's OAuth page>",
        verify=Setting(
            name="SLACK_SIGNING_SECRET",
            reach="edge",
            kind="secret",
            config="slackSigningSecret",
            doc="Slack signing secret, verified at the edge",
            example="<signing secret from the Slack app's Basic Information page>",
        ),
        ids="U0123ABCD,U0456EFGH  (Slack member ids)",
        api="https://slack.com/api/",
    ),
    *_channel(
        "DISCORD",
        "Discord",
        token="<bot token from the Discord developer portal>",
        verify=Setting(
            name="DISCORD_PUBLIC_KEY",
            reach="edge",
            config="discordPublicKey",
            doc="Discord interactions signature key (public), verified at the edge",
            example="<64 hex characters from the Discord developer portal>",
        ),
        ids="80351110224678912  (Discord user ids)",
        api="https://discord.com/api/v10",
    ),
    Setting(
        name="DISCORD_APPLICATION_ID",
        reach="container",
        config="discordApplicationId",
        doc="Discord application id (public)",
        example="1234567890123456789",
        py=Py(annotation="str | None", default="None"),
    ),
    # WhatsApp (Cloud API): an access token, and two edge keys (docs/channels.md).
    Setting(
        name="WHATSAPP_ACCESS_TOKEN",
        reach="container",
        kind="secret",
        config="whatsappAccessToken",
        doc="WhatsApp Cloud API access token (a system user's permanent token)",
        example="EAAG<token from Meta Business Settings, System users>",
        py=Py(annotation=OPTIONAL_SECRET, default="None"),
    ),
    Setting(
        name="WHATSAPP_PHONE_NUMBER_ID",
        reach="container",
        config="whatsappPhoneNumberId",
        doc="WhatsApp phone number id (not the phone number) replies are sent from",
        example="106540352242922  (WhatsApp > API Setup in the Meta app dashboard)",
        py=Py(annotation="str | None", default="None"),
    ),
    Setting(
        name="WHATSAPP_APP_SECRET",
        reach="edge",
        kind="secret",
        config="whatsappAppSecret",
        doc="Meta app secret: X-Hub-Signature-256 of every delivery is verified at the edge",
        example="<App secret from App settings > Basic in the Meta app dashboard>",
    ),
    Setting(
        name="WHATSAPP_VERIFY_TOKEN",
        reach="edge",
        kind="secret",
        config="whatsappVerifyToken",
        doc="the Verify token typed into the Meta webhook form; the edge answers the challenge",
        example="a-long-random-string",
    ),
    Setting(
        name="WHATSAPP_DM_POLICY",
        reach="container",
        config="whatsappDmPolicy",
        doc="who may talk to the agent on WhatsApp: `pairing`, `allowlist` or `open`; a bad "
        "value disables only that channel",
        example="pairing  (or allowlist, open)",
        py=Py(annotation="str", default='"pairing"'),
    ),
    Setting(
        name="WHATSAPP_ALLOWLIST",
        reach="container",
        config="whatsappAllowlist",
        doc="comma-separated WhatsApp ids (phone numbers, digits only) always let in "
        "(required with `allowlist`)",
        example="15551234567,447700900123  (WhatsApp ids: country code and number, digits only)",
        py=Py(annotation="str", default='""', shown="empty"),
    ),
    Setting(
        name="WHATSAPP_API_BASE_URL",
        reach="runtime",
        set_by=_TESTS_ONLY,
        doc="the Graph API the WhatsApp access token is sent to",
        example="https://graph.facebook.com/v21.0",
        py=Py(annotation="str", default=repr("https://graph.facebook.com/v21.0")),
    ),
    # Email (Email Routing -> the Worker's `email` handler; docs/channels.md).
    Setting(
        name="EMAIL_ADDRESS",
        reach="container",
        config="emailAddress",
        doc="the agent's address on the stack's zone: Email Routing delivers it to the Worker, "
        "replies are sent from it",
        example="agent@example.com",
        py=Py(annotation="str | None", default="None"),
    ),
    Setting(
        name="EMAIL_ALLOWLIST",
        reach="container",
        config="emailAllowlist",
        doc="comma-separated sender addresses (lower-case) whose authenticated mail reaches the "
        "agent; all other mail is refused at the edge",
        example="me@example.com,you@example.org",
        py=Py(annotation="str", default='""', shown="empty"),
    ),
    Setting(
        name="EMAIL_RELAY_URL",
        reach="container",
        provided="the agent's public URL + /webhooks/email, when emailAddress is set",
        doc="where the runtime posts email replies; the Worker sends them with its send_email "
        "binding (docs/channels.md)",
        example="https://agent.example.com/webhooks/email",
        py=Py(annotation="str | None", default="None"),
    ),
    # Tools.
    Setting(
        name="BROWSER_CDP_URL",
        reach="container",
        provided="Browser Rendering (infra/components/browser.py)",
        doc="Browser Rendering CDP WebSocket URL; unset = no browser tools",
        example="wss://api.cloudflare.com/client/v4/accounts/<account>/browser-rendering/"
        "devtools/browser  (or http://127.0.0.1:9222 for a local Chromium)",
        py=Py(
            annotation=r'Annotated[str, Field(pattern=r"^(wss?|https?)://\S+$")] | None',
            default="None",
        ),
    ),
    Setting(
        name="BROWSER_API_TOKEN",
        reach="container",
        kind="secret",
        provided="the Browser Rendering token (infra/components/browser.py)",
        doc="bearer for the CDP endpoint",
        example="<API token with Browser Rendering Edit>",
        py=Py(annotation=OPTIONAL_SECRET, default="None"),
    ),
    Setting(
        name="WEB_FETCH_ALLOWLIST",
        reach="container",
        config="webFetchAllowlist",
        doc="hosts, IPs or CIDRs web fetch may reach although private, loopback or link-local",
        example="127.0.0.1,intranet.example.com,10.1.0.0/16",
        py=Py(annotation="str", default='""', shown="empty"),
    ),
    Setting(
        name="AGENT_MCP_SERVERS",
        reach="container",
        kind="secret",
        config="mcpServers",
        doc="MCP tool servers as JSON (name, url, optional headerName and headerValue, "
        "allowedTools); a secret because header values are (docs/mcp.md)",
        example='[{"name":"docs","url":"https://mcp.example.com/mcp","allowedTools":["search"]}]',
        py=Py(annotation=OPTIONAL_SECRET, default="None"),
    ),
    Setting(
        name="AGENT_TIMEZONE",
        reach="container",
        config="agentTimezone",
        doc="IANA time zone for schedules and dates",
        example="Europe/Paris",
        py=Py(annotation="str", default='"UTC"'),
    ),
    Setting(
        name="JOB_TIMEOUT_S",
        reach="container",
        config="jobTimeoutS",
        doc="seconds one scheduled job may run",
        example="120",
        py=Py(annotation=SECONDS, default="120.0"),
    ),
    Setting(
        name="AGENT_ADMIN_EMAILS",
        reach="container",
        config="adminEmails",
        doc="identities that may list and read every session, audit-logged (docs/privacy.md)",
        example="ops@example.com,lead@example.com",
        py=Py(annotation="str", default='""', shown="empty"),
    ),
    # AGENT_ENGINE=openclaw (agent/runtime/openclaw): the supervised OpenClaw gateway.
    Setting(
        name="OPENCLAW_BIN",
        reach="runtime",
        set_by=_IMAGE,
        doc="the `openclaw` executable",
        example="/opt/openclaw/node_modules/.bin/openclaw",
        py=Py(annotation="str", default='"openclaw"'),
    ),
    Setting(
        name="OPENCLAW_STATE_DIR",
        reach="runtime",
        set_by=_IMAGE,
        doc="OpenClaw's state directory, synced to R2",
        example="/home/agent/.openclaw",
        py=Py(
            annotation="Path",
            default='Field(default_factory=lambda: Path.home() / ".openclaw")',
            shown="~/.openclaw",
        ),
    ),
    Setting(
        name="OPENCLAW_GATEWAY_PORT",
        reach="runtime",
        set_by=_IMAGE,
        doc="loopback port of the OpenClaw gateway",
        example="18789",
        py=Py(annotation="Annotated[int, Field(ge=1024, le=65535)]", default="18789"),
    ),
    Setting(
        name="OPENCLAW_SYNC_DEBOUNCE_S",
        reach="runtime",
        set_by=_IMAGE,
        doc="seconds OpenClaw's state must be quiet before it is synced",
        example="1.0",
        py=Py(annotation="Annotated[float, Field(gt=0, le=30)]", default="1.0"),
    ),
    Setting(
        name="OPENCLAW_START_TIMEOUT_S",
        reach="runtime",
        set_by=_IMAGE,
        doc="seconds the OpenClaw gateway may take to start",
        example="300",
        py=Py(annotation=SECONDS, default="300.0"),
    ),
    Setting(
        name="OPENCLAW_GATEWAY_TOKEN",
        reach="container",
        kind="secret",
        provided="with agentEngine openclaw: a random password generated per stack",
        doc="`AGENT_ENGINE=openclaw`: the OpenClaw gateway's shared token (random per start when "
        "unset; "
        "set it only to use the Control UI)",
        example="<at least 16 random characters>",
        py=Py(annotation=OPTIONAL_SECRET, default="None"),
    ),
    Setting(
        name="OPENCLAW_ALLOWED_ORIGINS",
        reach="container",
        provided="with agentEngine openclaw: `edgeagent:openclawAllowedOrigins`, else the "
        "agent's own origin",
        doc="`AGENT_ENGINE=openclaw`: public browser origins of the Control UI (comma-separated)",
        example="https://agent.example.com",
        py=Py(annotation="str", default='""', shown="empty"),
    ),
    # AGENT_ENGINE=openclaw chat channels on the edge's verified webhooks (docs/openclaw.md).
    Setting(
        name="OPENCLAW_PUBLIC_URL",
        reach="container",
        provided="with agentEngine openclaw: the agent's public origin (custom hostname or "
        "workers.dev)",
        doc="`AGENT_ENGINE=openclaw`: the agent's public origin; OpenClaw registers "
        "`<origin>/webhooks/telegram` with Telegram (webhook mode, no long polling)",
        example="https://agent.example.com",
        py=Py(annotation=URL, default="None"),
    ),
    Setting(
        name="OPENCLAW_TELEGRAM_WEBHOOK_SECRET",
        reach="container",
        kind="secret",
        provided="with agentEngine openclaw and Telegram: `edgeagent:telegramWebhookSecret` "
        "(OpenClaw registers the webhook with it and checks it again behind the edge)",
        doc="`AGENT_ENGINE=openclaw`: the Telegram webhook secret token, the same value the edge "
        "verifies",
        example="a-long-random-string",
        py=Py(annotation=OPTIONAL_SECRET, default="None"),
    ),
    Setting(
        name="OPENCLAW_SLACK_SIGNING_SECRET",
        reach="container",
        kind="secret",
        provided="with agentEngine openclaw and Slack: `edgeagent:slackSigningSecret` "
        "(OpenClaw's Slack plugin checks each event's signature again behind the edge)",
        doc="`AGENT_ENGINE=openclaw`: the Slack signing secret, the same value the edge verifies",
        example="<signing secret from the Slack app's Basic Information page>",
        py=Py(annotation=OPTIONAL_SECRET, default="None"),
    ),
    Setting(
        name="OPENCLAW_PLUGIN_NPM_CACHE",
        reach="runtime",
        set_by=_IMAGE,
        doc="npm cache holding the engine's pinned `@openclaw/slack`: the runtime installs it "
        "from there offline before the gateway starts",
        example="/opt/openclaw-npm-cache",
        py=Py(annotation="Path | None", default="None"),
    ),
    Setting(
        name="OPENCLAW_TELEGRAM_PORT",
        reach="runtime",
        set_by=_IMAGE,
        doc="loopback port of OpenClaw's Telegram webhook listener",
        example="18790",
        py=Py(annotation="Annotated[int, Field(ge=1024, le=65535)]", default="18790"),
    ),
    # Local development only (`make dev`, agent/edge/wrangler.json).
    Setting(
        name="AGENT_ORIGIN",
        reach="local",
        doc="proxy to this origin instead of a container; infra refuses to deploy it",
        example="http://127.0.0.1:8080",
    ),
    Setting(
        name="DEV_IDENTITY",
        reach="local",
        doc="fixed identity instead of Access (only with `AGENT_ORIGIN`); never deployed",
        example="dev@localhost",
    ),
)

check(SETTINGS)

BY_NAME: dict[str, Setting] = {setting.name: setting for setting in SETTINGS}


def bindings() -> tuple[Setting, ...]:
    """Settings infra declares as Worker bindings, in declaration order."""
    return tuple(s for s in SETTINGS if s.is_binding)


def passed_through() -> tuple[str, ...]:
    """Bindings the edge passes to the container as environment variables, when set."""
    return tuple(s.name for s in SETTINGS if s.reach == "container")


def secret_bindings() -> frozenset[str]:
    """Bindings declared as `secret_text`."""
    return frozenset(s.name for s in SETTINGS if s.is_binding and s.kind == "secret")


def local_only() -> frozenset[str]:
    """`wrangler dev` variables a deployment must never carry."""
    return frozenset(s.name for s in SETTINGS if s.reach == "local")
