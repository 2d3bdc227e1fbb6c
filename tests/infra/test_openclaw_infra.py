"""The OpenClaw engine in infra: a validated pinned version, a big-enough instance, the image."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_container_component import declare, run_under_mocks

from infra.config import load_config
from infra.errors import ConfigError

BASE = {
    "edgeagent:accountId": "0123456789abcdef0123456789abcdef",
    "edgeagent:accessTeamDomain": "acme.cloudflareaccess.com",
    "edgeagent:workersDevSubdomain": "acme",
    "edgeagent:allowedEmails": '["me@example.com"]',
    "edgeagent:agentEngine": "openclaw",
}


def test_openclaw_version_is_pinned_and_upgradable() -> None:
    config = load_config("acme-dev", {**BASE, "edgeagent:instanceType": "standard-1"})
    assert config.openclaw_version == "2026.9.6"
    upgraded = load_config(
        "acme-dev",
        {**BASE, "edgeagent:instanceType": "standard-2", "edgeagent:openclawVersion": "2026.10.1"},
    )
    assert upgraded.openclaw_version == "2026.10.1"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {},  # the default instance type, basic
            "edgeagent:instanceType: 'basic' is too small for agentEngine openclaw (about 1 GB "
            "idle); use standard-1 or larger (example: edgeagent:instanceType: standard-1)",
        ),
        (
            {"edgeagent:instanceType": "lite"},
            "edgeagent:instanceType: 'lite' is too small for agentEngine openclaw",
        ),
        (
            {"edgeagent:instanceType": "standard-1", "edgeagent:openclawVersion": "latest"},
            "edgeagent:openclawVersion: must be an exact CalVer "
            "(example: edgeagent:openclawVersion: 2026.9.6)",
        ),
        (
            {"edgeagent:instanceType": "standard-1", "edgeagent:openclawVersion": "^2026.9.6"},
            "edgeagent:openclawVersion: must be an exact CalVer",
        ),
    ],
)
def test_bad_openclaw_config_names_the_key(extra: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config("acme-dev", {**BASE, **extra})
    assert message in str(caught.value)


DISCORD: dict[str, str] = {
    "edgeagent:discordBotToken": "v1:CIPHER-D",
    "edgeagent:discordPublicKey": "ab" * 32,
    "edgeagent:discordApplicationId": "123456789012345678",
}
SLACK: dict[str, str] = {
    "edgeagent:slackBotToken": "v1:C-S",
    "edgeagent:slackSigningSecret": "v1:C-SS",
}
WHATSAPP: dict[str, str] = {
    "edgeagent:whatsappAccessToken": "v1:C-W",
    "edgeagent:whatsappPhoneNumberId": "106540352242922",
    "edgeagent:whatsappAppSecret": "v1:C-WA",
    "edgeagent:whatsappVerifyToken": "v1:C-WV",
}


@pytest.mark.parametrize(
    ("channel", "key", "why"),
    [
        (DISCORD, "discordBotToken", "its Discord plugin keeps a gateway WebSocket open"),
        (WHATSAPP, "whatsappAccessToken", "its WhatsApp is WhatsApp Web, a persistent socket"),
    ],
)
def test_openclaw_refuses_channels_it_cannot_take_by_webhook(
    channel: dict[str, str], key: str, why: str
) -> None:
    config = {**BASE, "edgeagent:instanceType": "standard-1", **channel}
    with pytest.raises(ConfigError) as caught:
        load_config("acme-dev", config, secret_keys=list(channel))
    assert f"edgeagent:{key}: " in str(caught.value)
    assert f"({why}, so the container could never sleep; docs/openclaw.md)" in str(caught.value)
    assert "(example: edgeagent:agentEngine: native)" in str(caught.value)
    native = {**BASE, "edgeagent:agentEngine": "native", **channel}
    assert (
        load_config("acme-dev", native, list(channel)).agent_engine == "native"
    )  # the native engine takes it


def test_openclaw_takes_telegram() -> None:
    telegram = {
        "edgeagent:telegramBotToken": "v1:C-T",
        "edgeagent:telegramWebhookSecret": "v1:C-TW",
    }
    config = load_config(
        "acme-dev", {**BASE, "edgeagent:instanceType": "standard-1", **telegram}, list(telegram)
    )
    assert config.telegram_webhook_secret is not None


def test_openclaw_takes_slack() -> None:
    config = load_config(
        "acme-dev", {**BASE, "edgeagent:instanceType": "standard-1", **SLACK}, list(SLACK)
    )
    assert config.slack_bot_token is not None
    assert config.slack_signing_secret is not None


def test_native_engine_keeps_small_instances() -> None:
    native = {**BASE, "edgeagent:agentEngine": "native", "edgeagent:instanceType": "lite"}
    assert load_config("acme-dev", native).instance_type == "lite"


def test_image_variant_follows_engine_and_version(tmp_path: Path) -> None:
    dockerfile = tmp_path / "agent" / "Dockerfile"
    dockerfile.parent.mkdir(parents=True)
    dockerfile.write_text("FROM python:3.11-slim AS native\n")
    native, _, _ = run_under_mocks(lambda: declare(tmp_path, dockerfile))
    claw, _, _ = run_under_mocks(
        lambda: declare(tmp_path, dockerfile, engine="openclaw", openclaw_version="2026.10.1")
    )
    native_image = native.resources["sandbox-image"][1]
    claw_image = claw.resources["sandbox-image"][1]
    assert native_image["target"] == "native"
    assert not native_image.get("buildArgs")
    assert claw_image["target"] == "openclaw"
    assert claw_image["buildArgs"] == {"OPENCLAW_VERSION": "2026.10.1"}
    assert re.fullmatch(r".+:[0-9a-f]{16}-openclaw-2026\.10\.1", claw_image["tags"][0])


def test_the_dockerfile_has_both_targets_and_native_is_the_default() -> None:
    text = (Path(__file__).resolve().parents[2] / "agent" / "Dockerfile").read_text()
    stages = re.findall(r"^FROM \S+ AS (\S+)$", text, flags=re.MULTILINE)
    assert stages[-1] == "native"
    assert "openclaw" in stages
    assert (
        'npm install --prefix /opt/openclaw --no-audit --no-fund "openclaw@${OPENCLAW_VERSION}"'
        in text
    )
    # The Slack plugin is pinned with the engine: the same build argument, cached where the
    # runtime installs it from offline.
    assert 'plugins install "npm:@openclaw/slack@${OPENCLAW_VERSION}"' in text
    assert "printf 'cache=/opt/openclaw-npm-cache\\n'" in text
    assert "OPENCLAW_PLUGIN_NPM_CACHE=/opt/openclaw-npm-cache" in text
