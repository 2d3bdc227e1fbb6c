"""Channel configuration: each bad value disables only its channel, with a message that helps."""

from __future__ import annotations

from pathlib import Path

import pytest
from channels_support import TG_TOKEN, FakePlatforms, channel_settings

from agent.runtime.channels.config import load_channel_configs
from agent.runtime.settings import RuntimeSettings


def test_nothing_configured_means_every_channel_off_and_says_how_to_enable(
    tmp_path: Path,
) -> None:
    settings = RuntimeSettings(
        agent_tenant="acme",
        agent_edge_token="x" * 20,
        state_backend="local",
        state_dir=tmp_path,
    )
    configs = load_channel_configs(settings)
    assert {name: (c.enabled, c.status) for name, c in configs.items()} == {
        "telegram": (False, "not configured: set TELEGRAM_BOT_TOKEN to enable"),
        "slack": (False, "not configured: set SLACK_BOT_TOKEN to enable"),
        "discord": (False, "not configured: set DISCORD_APPLICATION_ID to enable"),
        "whatsapp": (False, "not configured: set WHATSAPP_ACCESS_TOKEN to enable"),
        "email": (False, "not configured: set EMAIL_ADDRESS to enable"),
    }


def test_valid_configuration_enables_all_three(settings: RuntimeSettings) -> None:
    configs = load_channel_configs(settings)
    assert all(c.enabled and c.status == "ready" for c in configs.values())
    assert configs["discord"].application_id == settings.discord_application_id


@pytest.mark.parametrize(
    ("overrides", "channel", "status"),
    [
        (
            {"telegram_bot_token": "not-a-token"},
            "telegram",
            "disabled: TELEGRAM_BOT_TOKEN is not a BotFather token (example: "
            "TELEGRAM_BOT_TOKEN=123456789:AAH-<35 characters from @BotFather>)",
        ),
        (
            {"slack_bot_token": "xoxp-user-token-123456"},
            "slack",
            "disabled: SLACK_BOT_TOKEN is not a bot token (xoxb-...) (example: "
            "SLACK_BOT_TOKEN=xoxb-<bot token from the Slack app's OAuth page>)",
        ),
        (
            {"discord_application_id": "my-app"},
            "discord",
            "disabled: DISCORD_APPLICATION_ID must be the numeric application id (example: "
            "DISCORD_APPLICATION_ID=1234567890123456789)",
        ),
        (
            {"telegram_dm_policy": "friends"},
            "telegram",
            "disabled: TELEGRAM_DM_POLICY is 'friends', not one of pairing, allowlist, open "
            "(example: TELEGRAM_DM_POLICY=pairing  (or allowlist, open))",
        ),
        (
            {"slack_dm_policy": "allowlist"},
            "slack",
            "disabled: SLACK_ALLOWLIST is empty while SLACK_DM_POLICY=allowlist, so nobody "
            "could use the bot (example: SLACK_ALLOWLIST=U0123ABCD,U0456EFGH  (Slack member ids))",
        ),
        (
            {"discord_allowlist": "80351110224678912, @ada"},
            "discord",
            "disabled: DISCORD_ALLOWLIST has entries that are not discord user ids: ['@ada'] "
            "(example: DISCORD_ALLOWLIST=80351110224678912  (Discord user ids))",
        ),
        (
            {"telegram_api_base_url": "http://api.telegram.org"},
            "telegram",
            "disabled: TELEGRAM_API_BASE_URL must be an https:// URL (http:// only for a "
            "loopback host) (example: TELEGRAM_API_BASE_URL=https://api.telegram.org)",
        ),
    ],
)
def test_a_bad_value_disables_only_its_channel(
    tmp_path: Path,
    fakes: FakePlatforms,
    overrides: dict[str, str],
    channel: str,
    status: str,
) -> None:
    configs = load_channel_configs(channel_settings(tmp_path, fakes, **overrides))
    assert configs[channel].enabled is False
    assert configs[channel].status == status
    others = [c for name, c in configs.items() if name != channel]
    assert all(c.enabled for c in others)


def test_status_never_quotes_a_token(tmp_path: Path, fakes: FakePlatforms) -> None:
    leaked = "123:short-secret-value"
    configs = load_channel_configs(channel_settings(tmp_path, fakes, telegram_bot_token=leaked))
    assert leaked not in configs["telegram"].status
    assert TG_TOKEN not in repr(configs)  # SecretStr in the config itself


def test_policy_and_allowlist_are_parsed(tmp_path: Path, fakes: FakePlatforms) -> None:
    configs = load_channel_configs(
        channel_settings(
            tmp_path,
            fakes,
            telegram_dm_policy=" Allowlist ",
            telegram_allowlist="111, 222\n333",
        )
    )
    assert configs["telegram"].policy == "allowlist"
    assert configs["telegram"].allowlist == frozenset({"111", "222", "333"})
    assert configs["slack"].policy == "open"
