"""Shared by the infra tests: valid stack configs, the fixture edge bundle, offline plans; for the
container tests, the images and provider inputs they start from and a configured provider."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from fake_containers_api import ACCOUNT_ID, TOKEN, FakeContainersApi
from fake_registry import plain_manifest
from pulumi.dynamic import Config, ConfigureRequest

from infra.providers.container_application import ContainerApplicationProvider

EDGE_DIST = Path(__file__).resolve().parent / "fixtures" / "edge-dist"
ACCOUNT = "0123456789abcdef0123456789abcdef"
ZONE = "fedcba9876543210fedcba9876543210"


def minimal_config() -> dict[str, object]:
    """The smallest valid stack-file `config:` mapping (workers.dev, one allowed email)."""
    return {
        "edgeagent:accountId": ACCOUNT,
        "edgeagent:workersDevSubdomain": "example-team",
        "edgeagent:accessTeamDomain": "example-team.cloudflareaccess.com",
        "edgeagent:allowedEmails": ["me@example.com"],
    }


def full_config() -> dict[str, object]:
    """A custom domain, EU storage, every Access rule kind and every channel."""
    return {
        "edgeagent:accountId": ACCOUNT,
        "edgeagent:hostname": "agent.example.com",
        "edgeagent:zoneId": ZONE,
        "edgeagent:storageJurisdiction": "eu",
        "edgeagent:storageLocation": "weur",
        "edgeagent:accessTeamDomain": "https://example-team.cloudflareaccess.com",
        "edgeagent:allowedEmails": ["me@example.com", "you@example.com"],
        "edgeagent:allowedEmailDomains": ["example.org"],
        "edgeagent:accessGroupIds": ["2f4f6a2e-7d3c-4c4e-9d4e-0a1b2c3d4e5f"],
        "edgeagent:allowedIdpIds": ["7c9e6679-7425-40de-944b-e07fc1f90ae7"],
        "edgeagent:isolation": "per-user",
        "edgeagent:gatewayCacheTtl": 300,
        "edgeagent:cron": "0 * * * *",
        "edgeagent:telegramBotToken": {"secure": "v1:CIPHER-TELEGRAM-TOKEN"},
        "edgeagent:telegramWebhookSecret": {"secure": "v1:CIPHER-TELEGRAM-HOOK"},
        "edgeagent:slackBotToken": {"secure": "v1:CIPHER-SLACK-TOKEN"},
        "edgeagent:slackSigningSecret": {"secure": "v1:CIPHER-SLACK-SIGNING"},
        "edgeagent:discordBotToken": {"secure": "v1:CIPHER-DISCORD-TOKEN"},
        "edgeagent:discordPublicKey": "ab" * 32,
        "edgeagent:discordApplicationId": "123456789012345678",
        "edgeagent:whatsappAccessToken": {"secure": "v1:CIPHER-WHATSAPP-TOKEN"},
        "edgeagent:whatsappPhoneNumberId": "106540352242922",
        "edgeagent:whatsappAppSecret": {"secure": "v1:CIPHER-WHATSAPP-APP-SECRET"},
        "edgeagent:whatsappVerifyToken": {"secure": "v1:CIPHER-WHATSAPP-VERIFY"},
    }


def plan(stack: str, config: dict[str, object]) -> dict[str, Any]:
    from infra.plan import plan_stack

    return plan_stack(stack, config, edge_dist=EDGE_DIST)


def resources_of(document: dict[str, Any], type_suffix: str) -> list[dict[str, Any]]:
    """Every planned resource whose type token ends with `:<type_suffix>`."""
    return [r for r in document["resources"] if r["type"].endswith(f":{type_suffix}")]


def one(document: dict[str, Any], type_suffix: str, name: str) -> dict[str, Any]:
    """The planned resource of that type and logical name."""
    found = [r for r in resources_of(document, type_suffix) if r["name"] == name]
    assert len(found) == 1, (type_suffix, name, [r["name"] for r in document["resources"]])
    return found[0]


# --- the container-application provider against the fake Containers API -----------------------

SCRIPT = "edgeagent-acme-dev"
REPOSITORY = f"{ACCOUNT_ID}/edgeagent-sandbox"
MANIFEST_V1, MANIFEST_V2 = plain_manifest("v1"), plain_manifest("v2")
IMAGE_V1 = f"registry.cloudflare.com/{REPOSITORY}@sha256:{hashlib.sha256(MANIFEST_V1).hexdigest()}"
IMAGE_V2 = f"registry.cloudflare.com/{REPOSITORY}@sha256:{hashlib.sha256(MANIFEST_V2).hexdigest()}"
CREDENTIALS = f"/accounts/{ACCOUNT_ID}/containers/registries/registry.cloudflare.com/credentials"


def props(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "account_id": ACCOUNT_ID,
        "name": "edgeagent-acme-dev-sandbox",
        "script_name": SCRIPT,
        "class_name": "Sandbox",
        "image": IMAGE_V1,
        "instance_type": "standard-1",
        "max_instances": 1.0,  # Pulumi hands numbers to dynamic providers as floats
        "rollout_step_percentage": None,
        "rollout_active_grace_period": 0.0,
        "logs_enabled": True,
    }
    return {**base, **overrides}


def configured(
    base_url: str, token: str | None = TOKEN, retries: int = 0
) -> ContainerApplicationProvider:
    provider = ContainerApplicationProvider(
        base_url=base_url, max_retries=retries, registry_url=base_url
    )
    raw = {} if token is None else {"cloudflare:apiToken": token}
    provider.configure(ConfigureRequest(Config(raw, "edgeagent")))
    return provider


def mutations(fake: FakeContainersApi) -> list[tuple[str, str]]:
    return [
        (m, p) for m, p, _ in fake.requests if m in ("POST", "PATCH", "DELETE") and p != CREDENTIALS
    ]
