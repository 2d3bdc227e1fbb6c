"""The whole stack: one component composing storage, AI gateway, browser, Access and the Worker.

Owns the wiring between concerns (which output feeds which Worker binding declared `provided=`
in agent/contract/settings.py; infra/bindings.py binds the configured ones), the generated shared
secrets (edge->container; the OpenClaw gateway token when that engine runs), and the one lookup of
token permission groups. It reads no configuration itself: it is handed a validated StackConfig.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pulumi
import pulumi_random as random

from infra import permissions
from infra.bindings import check_provided, worker_bindings
from infra.components.access import Access, AccessArgs
from infra.components.ai_gateway import AiGateway, AiGatewayArgs, SpendLimits
from infra.components.base import EdgeAgentComponent
from infra.components.browser import Browser, BrowserArgs
from infra.components.container import Container, ContainerArgs
from infra.components.email import EmailArgs, EmailRouting
from infra.components.storage import Storage, StorageArgs
from infra.components.worker import EdgeWorker, SendEmail, WorkerArgs
from infra.config import StackConfig, configured_channels
from infra.cost import estimate_monthly_cost
from infra.edge_bundle import EdgeBundle
from infra.paths import REPO_ROOT

# The Durable Object class the container backs (docs/contract.md).
SANDBOX_CLASS = "Sandbox"
# The Worker's send_email binding the email channel replies through (agent/edge/src/email.ts).
SEND_EMAIL_BINDING = "EMAIL"
# The AI Gateway dynamic route carrying edgeagent:modelFallbacks (AGENT_MODEL_ROUTE).
MODEL_ROUTE = "agent"


@dataclass(frozen=True, kw_only=True)
class StackArgs:
    config: StackConfig
    bundle: EdgeBundle


def public_hostname(config: StackConfig) -> str:
    """The agent's hostname: the custom domain, else `<worker>.<subdomain>.workers.dev`."""
    if config.hostname is not None:
        return config.hostname
    return f"{config.names.worker}.{config.workers_dev_subdomain}.workers.dev"


def openclaw_origins(config: StackConfig) -> list[str]:
    """Origins allowed to open the OpenClaw Control UI: as configured, else the agent's own."""
    return config.openclaw_allowed_origins or [f"https://{public_hostname(config)}"]


def container_monthly_usd(config: StackConfig) -> str:
    """The container's estimated monthly cost in US dollars, e.g. `12.34` (infra/cost.py)."""
    estimate = estimate_monthly_cost(config.instance_type, config.max_instances, config.sleep_after)
    return f"{estimate.total_usd.quantize(Decimal('0.01'))}"


def has_channels(config: StackConfig) -> bool:
    """Whether any chat channel (and so a webhook path the Worker checks itself) is configured."""
    return bool(configured_channels(config))


def send_email_binding(config: StackConfig) -> SendEmail | None:
    """The reply binding of the email channel: from its address, to its allowlist only."""
    if config.email_address is None:
        return None
    return SendEmail(
        name=SEND_EMAIL_BINDING, sender=config.email_address, recipients=config.email_allowlist
    )


class EdgeAgentStack(EdgeAgentComponent):
    """Everything one tenant needs in one environment."""

    url: pulumi.Output[str]
    access: Access
    openclaw_gateway_token: pulumi.Output[str] | None

    def __init__(self, name: str, args: StackArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("EdgeAgentStack", name, opts)
        cfg = args.config
        names = cfg.names
        child = pulumi.ResourceOptions(parent=self)
        hostname = public_hostname(cfg)
        permission_ids = permissions.lookup(cfg.account_id, pulumi.InvokeOutputOptions(parent=self))

        self.storage = Storage(
            f"{name}-storage",
            StorageArgs(
                account_id=cfg.account_id,
                bucket_name=names.bucket,
                jurisdiction=cfg.storage_jurisdiction,
                location=cfg.storage_location,
                backup_retention_days=cfg.backup_retention_days,
                token_name=names.token("state"),
                permission_ids=permission_ids,
            ),
            child,
        )
        self.gateway = AiGateway(
            f"{name}-ai",
            AiGatewayArgs(
                account_id=cfg.account_id,
                gateway_id=names.gateway,
                rate_limit=cfg.gateway_rate_limit,
                rate_limit_interval=cfg.gateway_rate_limit_interval,
                rate_limit_technique=cfg.gateway_rate_limit_technique,
                cache_ttl=cfg.gateway_cache_ttl,
                collect_logs=cfg.gateway_collect_logs,
                token_name=names.token("ai-gateway"),
                logs_token_name=names.token("ai-gateway logs"),
                permission_ids=permission_ids,
                spend_limits=SpendLimits(
                    daily_usd=cfg.spend_limit_daily_usd,
                    monthly_usd=cfg.spend_limit_monthly_usd,
                    user_daily_usd=cfg.user_spend_limit_daily_usd,
                ),
                route_models=[cfg.agent_model, *cfg.model_fallbacks],
                route_name=MODEL_ROUTE,
            ),
            child,
        )
        self.browser = Browser(
            f"{name}-browser",
            BrowserArgs(
                account_id=cfg.account_id,
                token_name=names.token("browser"),
                permission_ids=permission_ids,
            ),
            child,
        )

        def access_for(worker_id: pulumi.Output[str]) -> dict[str, pulumi.Input[str]]:
            # Called by EdgeWorker between its Worker and its version: on workers.dev Access
            # protects the Worker by id, and the version binds the application's AUD.
            self.access = Access(
                f"{name}-access",
                AccessArgs(
                    account_id=cfg.account_id,
                    hostname=hostname,
                    worker_id=worker_id if cfg.hostname is None else None,
                    team_domain=cfg.access_team_domain,
                    app_name=names.access("agent"),
                    webhooks_app_name=names.access("webhooks"),
                    allow_policy_name=names.access("allow users"),
                    service_policy_name=names.access("automation"),
                    bypass_policy_name=names.access("webhooks bypass"),
                    service_token_name=names.access("automation"),
                    allowed_emails=cfg.allowed_emails,
                    allowed_email_domains=cfg.allowed_email_domains,
                    access_group_ids=cfg.access_group_ids,
                    allowed_idp_ids=cfg.allowed_idp_ids,
                    session_duration=cfg.session_duration,
                    service_token_duration=cfg.service_token_duration,
                    webhooks=has_channels(cfg),
                ),
                child,
            )
            check_provided(["ACCESS_AUD"])
            return {"ACCESS_AUD": self.access.aud}

        self.edge_token = random.RandomPassword(
            f"{name}-edge-token", length=48, special=False, opts=child
        )

        # Everything else is bound from its config key (infra/bindings.py, docs/contract.md).
        provided: dict[str, pulumi.Input[str]] = {
            "AI_GATEWAY_BASE_URL": self.gateway.base_url,
            "AI_GATEWAY_TOKEN": self.gateway.token,
            "AI_GATEWAY_LOGS_TOKEN": self.gateway.logs_token,
            # The Usage page shows it beside the model spend (infra/cost.py, docs/costs.md).
            "AGENT_CONTAINER_MONTHLY_USD": container_monthly_usd(cfg),
            "STATE_BUCKET": self.storage.bucket_name,
            "STATE_ENDPOINT": self.storage.endpoint,
            "STATE_ACCESS_KEY_ID": self.storage.access_key_id,
            "STATE_SECRET_ACCESS_KEY": self.storage.secret_access_key,
            "BROWSER_CDP_URL": self.browser.cdp_url,
            "BROWSER_API_TOKEN": self.browser.token,
            "AGENT_EDGE_TOKEN": self.edge_token.result,
        }
        self.openclaw_gateway_token = None
        if cfg.agent_engine == "openclaw":
            # Fixed per stack (not random per start) so the Control UI can authenticate with it.
            gateway_token = random.RandomPassword(
                f"{name}-openclaw-token", length=48, special=False, opts=child
            )
            self.openclaw_gateway_token = pulumi.Output.secret(gateway_token.result)
            provided["OPENCLAW_GATEWAY_TOKEN"] = self.openclaw_gateway_token
            # The runtime reads lists comma-separated (docs/contract.md).
            provided["OPENCLAW_ALLOWED_ORIGINS"] = ",".join(openclaw_origins(cfg))
            # OpenClaw registers <origin>/webhooks/telegram with the edge's secret itself at
            # every start (webhook mode: no long polling, so the sandbox can sleep).
            provided["OPENCLAW_PUBLIC_URL"] = f"https://{public_hostname(cfg)}"
            if cfg.telegram_webhook_secret is not None:
                secret = cfg.telegram_webhook_secret.get_secret_value()
                provided["OPENCLAW_TELEGRAM_WEBHOOK_SECRET"] = pulumi.Output.secret(secret)
            # The Slack plugin checks each event's signature again behind the edge.
            if cfg.slack_signing_secret is not None:
                secret = cfg.slack_signing_secret.get_secret_value()
                provided["OPENCLAW_SLACK_SIGNING_SECRET"] = pulumi.Output.secret(secret)
        if cfg.email_address is not None:
            # Email replies go back through the Worker (agent/edge/src/email_reply.ts).
            provided["EMAIL_RELAY_URL"] = f"https://{hostname}/webhooks/email"
        if cfg.model_fallbacks:
            provided["AGENT_MODEL_ROUTE"] = MODEL_ROUTE  # the route the gateway falls back by
        declared = worker_bindings(cfg, provided)

        self.worker = EdgeWorker(
            f"{name}-edge",
            WorkerArgs(
                account_id=cfg.account_id,
                script_name=names.worker,
                bundle=args.bundle,
                plain_vars=declared.plain,
                secrets=declared.secrets,
                cron=cfg.cron,
                hostname=cfg.hostname,
                zone_id=cfg.zone_id,
                # Makes the sandbox namespace container-enabled; the application is below.
                containers=[SANDBOX_CLASS],
                plain_vars_for_worker=access_for,
                send_email=send_email_binding(cfg),
            ),
            child,
        )
        self.email: EmailRouting | None = None
        if cfg.email_address is not None:
            assert cfg.zone_id is not None  # checked with the config (infra/config.py)
            self.email = EmailRouting(
                f"{name}-email",
                EmailArgs(
                    zone_id=cfg.zone_id,
                    address=cfg.email_address,
                    script_name=self.worker.script_name,
                    after=[self.worker.deployment],
                ),
                child,
            )
        # After the Worker (its deployed version creates the namespace), as `wrangler deploy`.
        self.container = Container(
            f"{name}-container",
            ContainerArgs(
                account_id=cfg.account_id,
                app_name=f"{names.worker}-{SANDBOX_CLASS.lower()}",
                script_name=self.worker.script_name,
                worker=self.worker,
                class_name=SANDBOX_CLASS,
                instance_type=cfg.instance_type,
                max_instances=cfg.max_instances,
                context=REPO_ROOT,
                dockerfile=REPO_ROOT / "agent" / "Dockerfile",
                engine=cfg.agent_engine,
                openclaw_version=cfg.openclaw_version,
                # Sandboxes hold the bucket's credentials: they run where the bucket lives.
                jurisdiction=None
                if cfg.storage_jurisdiction == "default"
                else cfg.storage_jurisdiction,
            ),
            child,
        )
        self.url = self.worker.script_name.apply(lambda _: f"https://{hostname}")
        self.register_outputs({"url": self.url})
