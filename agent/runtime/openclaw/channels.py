"""OpenClaw's chat channels on the edge's verified webhooks: the sandbox sleeps as a native one.

Telegram runs in webhook mode. In the pinned OpenClaw (2026.9.6, bundled plugin,
`dist/monitor-webhook.runtime-*.mjs`, `startTelegramWebhook`) that is a listener of its own on
`webhookHost:webhookPort` (here 127.0.0.1:OPENCLAW_TELEGRAM_PORT, path `/telegram-webhook`): it
checks `X-Telegram-Bot-Api-Secret-Token` in constant time, enqueues the update durably in its
SQLite ingress queue and only then answers 200 with `x-openclaw-delivery-accepted: durable`; at
every start it calls `setWebhook(webhookUrl, secret_token=webhookSecret)` itself and never
`getUpdates`. So the secret OpenClaw holds is the edge's (`OPENCLAW_TELEGRAM_WEBHOOK_SECRET`, the
same value as TELEGRAM_WEBHOOK_SECRET; the bot token it also holds could reset the webhook anyway).
Slack (HTTP mode, the pinned `@openclaw/slack` plugin) is in openclaw/slack.py.

The path of one update: Telegram -> edge (secret, replay) -> `/webhooks/telegram` on 8080 (edge
token and internal credential, EdgeTokenMiddleware) -> `forward_telegram` -> OpenClaw's listener.
The edge frees the update id when the answer is 5xx, so the runtime answers 200 only for a durable
adoption and 503 for everything Telegram should retry.

Without a public URL or the secret (local runs), OpenClaw long-polls as before, with a warning:
that sandbox cannot sleep. Discord and WhatsApp are not fed to OpenClaw (docs/openclaw.md);
their webhooks get a clear 404 here, never the gateway's catch-all page.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agent.runtime.http import error_response
from agent.runtime.openclaw.forward import Hop
from agent.runtime.openclaw.slack import SlackForwarder, slack_enabled
from agent.runtime.settings import RuntimeSettings

log = logging.getLogger("agent.runtime.openclaw")

TELEGRAM_TOKEN_ENV = "TELEGRAM_BOT_TOKEN"  # noqa: S105 - an environment variable name
TELEGRAM_SECRET_ENV = "TELEGRAM_WEBHOOK_SECRET"  # noqa: S105 - an environment variable name
TELEGRAM_LISTEN_PATH = "/telegram-webhook"  # OpenClaw's default; `/healthz` is reserved there
TELEGRAM_SECRET_HEADER = "x-telegram-bot-api-secret-token"  # noqa: S105 - a header name
ACCEPTED_HEADER = "x-openclaw-delivery-accepted"
TELEGRAM_HOP = Hop(
    "Telegram",
    "update",
    "secret token",
    "OPENCLAW_TELEGRAM_WEBHOOK_SECRET",
    "TELEGRAM_WEBHOOK_SECRET",
)
DEFAULT_TELEGRAM_API = "https://api.telegram.org"
SERVED = frozenset({"telegram", "slack"})
ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

TelegramMode = Literal["webhook", "polling"]


def telegram_mode(settings: RuntimeSettings) -> TelegramMode | None:
    """How OpenClaw receives Telegram: None when no bot token is set."""
    if settings.telegram_bot_token is None:
        return None
    if settings.openclaw_public_url is None or settings.openclaw_telegram_webhook_secret is None:
        return "polling"
    return "webhook"


def telegram_config(settings: RuntimeSettings) -> dict[str, Any] | None:
    """`channels.telegram` of the rendered config (SecretRefs only), or None without a token."""
    mode = telegram_mode(settings)
    if mode is None:
        return None
    # Policy values our channel layer would reject fall back to OpenClaw's safe default (pairing)
    # instead of stopping the gateway.
    ids = [part.strip() for part in settings.telegram_allowlist.split(",") if part.strip()]
    channel: dict[str, Any] = {"enabled": True, "botToken": _env_ref(TELEGRAM_TOKEN_ENV)}
    policy = settings.telegram_dm_policy
    if policy == "allowlist" and ids and all(i.isdigit() for i in ids):
        channel.update(dmPolicy="allowlist", allowFrom=ids)
    elif policy == "open":
        channel.update(dmPolicy="open", allowFrom=["*"])
    else:
        channel["dmPolicy"] = "pairing"
    if settings.telegram_api_base_url.rstrip("/") != DEFAULT_TELEGRAM_API:
        # `apiRoot`: the Bot API root only, never `/bot<TOKEN>` (docs/channels/telegram.md).
        channel["apiRoot"] = settings.telegram_api_base_url.rstrip("/")
    if mode == "webhook":
        assert settings.openclaw_public_url is not None
        channel.update(
            webhookUrl=telegram_webhook_url(settings.openclaw_public_url),
            webhookSecret=_env_ref(TELEGRAM_SECRET_ENV),
            webhookPath=TELEGRAM_LISTEN_PATH,
            webhookHost="127.0.0.1",
            webhookPort=settings.openclaw_telegram_port,
        )
    return channel


def telegram_webhook_url(public_url: str) -> str:
    """The edge's verified Telegram path on the agent's public origin."""
    return f"{public_url.rstrip('/')}/webhooks/telegram"


def channel_env(settings: RuntimeSettings) -> dict[str, str]:
    """Secret values the channel SecretRefs point at (the gateway child's environment only)."""
    env: dict[str, str] = {}
    if settings.telegram_bot_token is not None:
        env[TELEGRAM_TOKEN_ENV] = settings.telegram_bot_token.get_secret_value()
        if telegram_mode(settings) == "webhook":
            assert settings.openclaw_telegram_webhook_secret is not None
            env[TELEGRAM_SECRET_ENV] = settings.openclaw_telegram_webhook_secret.get_secret_value()
    return env


def channel_warnings(settings: RuntimeSettings) -> list[str]:
    """What the operator must know about this sandbox's channels (logged at start)."""
    warnings: list[str] = []
    if telegram_mode(settings) == "polling":
        missing = [
            name
            for name, value in (
                ("OPENCLAW_PUBLIC_URL", settings.openclaw_public_url),
                ("OPENCLAW_TELEGRAM_WEBHOOK_SECRET", settings.openclaw_telegram_webhook_secret),
            )
            if value is None
        ]
        warnings.append(
            f"OpenClaw Telegram long-polls because {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set: this sandbox cannot sleep while "
            "Telegram is on (a deployed stack sets both, e.g. OPENCLAW_PUBLIC_URL="
            "https://agent.example.com)"
        )
    if settings.slack_bot_token is not None and not slack_enabled(settings):
        warnings.append(
            "Slack is off with AGENT_ENGINE=openclaw: SLACK_BOT_TOKEN is set but "
            "OPENCLAW_SLACK_SIGNING_SECRET is not (a deployed stack sets it from "
            "edgeagent:slackSigningSecret)"
        )
    for name, title in (
        ("discord_bot_token", "Discord"),
        ("whatsapp_access_token", "WhatsApp"),
    ):
        if getattr(settings, name) is not None:
            warnings.append(
                f"{title} is not available with AGENT_ENGINE=openclaw (docs/openclaw.md); "
                f"its webhooks are refused"
            )
    return warnings


class TelegramForwarder:
    """Hands a verified Telegram update to OpenClaw's listener; 200 only once it is durable."""

    def __init__(self, settings: RuntimeSettings) -> None:
        self._url = f"http://127.0.0.1:{settings.openclaw_telegram_port}{TELEGRAM_LISTEN_PATH}"
        self._settings = settings
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def handle(self, request: Request) -> Response:
        """POST /webhooks/telegram (edge token and internal credential already checked)."""
        if telegram_mode(self._settings) != "webhook":
            return error_response(
                404,
                "Telegram is not in webhook mode on this sandbox",
                "set OPENCLAW_PUBLIC_URL and OPENCLAW_TELEGRAM_WEBHOOK_SECRET (a deployed "
                "openclaw stack with telegramBotToken sets both)",
            )
        secret = request.headers.get(TELEGRAM_SECRET_HEADER)
        if secret is None:  # the edge always forwards the header it verified
            return error_response(
                400, "missing X-Telegram-Bot-Api-Secret-Token", "deliveries come from the edge"
            )
        body = await request.body()
        try:
            answer = await self._http.post(
                self._url,
                content=body,
                headers={"content-type": "application/json", TELEGRAM_SECRET_HEADER: secret},
            )
        except httpx.HTTPError as error:
            return TELEGRAM_HOP.unreachable(error)
        if answer.status_code == 200 and answer.headers.get(ACCEPTED_HEADER) == "durable":
            return Response(status_code=200)
        return TELEGRAM_HOP.refusal(answer)


async def unserved(request: Request) -> JSONResponse:
    """Any other channel: refused here, never handed to the gateway's catch-all page."""
    channel = request.path_params["channel"]
    return error_response(
        404,
        f"the {channel} channel is not served by the openclaw engine",
        f"OpenClaw takes {', '.join(sorted(SERVED))} through the edge (docs/openclaw.md); "
        "use AGENT_ENGINE=native for the others",
    )


def routes(forwarder: TelegramForwarder, slack: SlackForwarder) -> list[Route]:
    """`/webhooks/*` of the OpenClaw runtime (before the proxy's catch-all mount)."""
    return [
        Route("/webhooks/telegram", forwarder.handle, methods=["POST"]),
        Route("/webhooks/slack", slack.handle, methods=["POST"]),
        # Every method: a POST must not fall through to the gateway's catch-all mount.
        Route("/webhooks/{channel}", unserved, methods=[*ALL_METHODS]),
    ]


def _env_ref(name: str) -> dict[str, str]:
    return {"source": "env", "provider": "default", "id": name}
