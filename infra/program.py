"""The Pulumi program: validated config in, the whole stack declared, its outputs exported."""

from __future__ import annotations

from pathlib import Path

import pulumi

from infra.components.stack import EdgeAgentStack, StackArgs
from infra.config import StackConfig, load_from_pulumi
from infra.edge_bundle import resolve_bundle
from infra.paths import check_program_dir
from infra.pulumi_internals import under_mocks


def webhook_channels(config: StackConfig) -> list[str]:
    """Channels whose webhook the Worker verifies (their verification secret is configured)."""
    secrets = {
        "telegram": config.telegram_webhook_secret,
        "slack": config.slack_signing_secret,
        "discord": config.discord_public_key,
        "whatsapp": config.whatsapp_app_secret,
    }
    return [channel for channel, secret in secrets.items() if secret is not None]


def workers_dev_url(config: StackConfig) -> str | None:
    """The Worker's workers.dev URL, when the account's subdomain is configured."""
    if config.workers_dev_subdomain is None:
        return None
    return f"https://{config.names.worker}.{config.workers_dev_subdomain}.workers.dev"


def main(edge_dist: Path | None = None) -> EdgeAgentStack:
    """Declare every resource of this stack and export its outputs."""
    if not under_mocks():
        check_program_dir(Path.cwd())  # offline plans and tests run anywhere
    config = load_from_pulumi()
    bundle = resolve_bundle(edge_dist)
    stack = EdgeAgentStack("edgeagent", StackArgs(config=config, bundle=bundle))
    pulumi.export("url", stack.url)
    pulumi.export("workerName", stack.worker.script_name)
    pulumi.export("bucket", stack.storage.bucket_name)
    pulumi.export("stateEndpoint", stack.storage.endpoint)
    pulumi.export("aiGatewayId", stack.gateway.gateway_id)
    pulumi.export("aiGatewayBaseUrl", stack.gateway.base_url)
    pulumi.export("aiGatewayUrls", stack.gateway.provider_urls)
    pulumi.export("accessAud", stack.access.aud)
    pulumi.export("accessTeamDomain", stack.access.team_domain)
    pulumi.export("serviceTokenClientId", stack.access.service_token_client_id)
    pulumi.export("serviceTokenClientSecret", stack.access.service_token_client_secret)
    # What `python -m infra.verify` needs to check the deployed stack from outside.
    pulumi.export("coldStartTimeoutMs", config.cold_start_timeout_ms)
    pulumi.export("webhookChannels", webhook_channels(config))
    if (dev_url := workers_dev_url(config)) is not None:
        pulumi.export("workersDevUrl", dev_url)
    pulumi.export("stateAccessKeyId", stack.storage.access_key_id)
    pulumi.export("stateSecretAccessKey", stack.storage.secret_access_key)
    if stack.openclaw_gateway_token is not None:
        # Secret: `pulumi stack output --show-secrets openclawGatewayToken` for the Control UI.
        pulumi.export("openclawGatewayToken", stack.openclaw_gateway_token)
    return stack
