"""Worker bindings derived from the setting declarations (infra/bindings.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from infra_support import minimal_config
from pydantic import SecretStr

from agent.contract.model import ContractError
from agent.contract.settings import BY_NAME
from infra.bindings import check_provided, config_field, configured, worker_bindings
from infra.config import load_config
from infra.plan import config_values


def load(values: dict[str, object]):  # type: ignore[no-untyped-def]
    raw, secret_keys = config_values({**minimal_config(), **values})
    return load_config("dev", raw, secret_keys)


def test_configured_settings_are_bound_as_the_runtime_reads_them() -> None:
    cfg = load(
        {
            "edgeagent:webFetchAllowlist": ["intranet.example.com", "10.1.0.0/16"],
            "edgeagent:agentTurnTimeoutS": 90,
            "edgeagent:telegramBotToken": {"secure": "v1:CIPHER"},
            "edgeagent:telegramWebhookSecret": {"secure": "v1:CIPHER-HOOK"},
        }
    )
    values = configured(cfg)
    assert values["WEB_FETCH_ALLOWLIST"] == "intranet.example.com,10.1.0.0/16"
    assert values["AGENT_TURN_TIMEOUT_S"] == "90"
    assert values["TENANT"] == "default"
    assert values["COLD_START_TIMEOUT_MS"] == "60000"  # has a default: always bound
    assert isinstance(values["TELEGRAM_BOT_TOKEN"], SecretStr)
    # Unset optional keys stay unbound, so the runtime's default applies.
    assert not {"AGENT_TIMEZONE", "TELEGRAM_DM_POLICY", "SLACK_BOT_TOKEN"} & set(values)


@pytest.mark.anyio  # secrets become pulumi Outputs, which need a running event loop
async def test_secrets_go_to_secret_bindings_whatever_their_source() -> None:
    cfg = load(
        {
            "edgeagent:telegramBotToken": {"secure": "v1:CIPHER"},
            "edgeagent:telegramWebhookSecret": {"secure": "v1:CIPHER-HOOK"},
        }
    )
    declared = worker_bindings(cfg, {"AGENT_EDGE_TOKEN": "token", "STATE_BUCKET": "bucket"})
    assert {"TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "AGENT_EDGE_TOKEN"} <= set(
        declared.secrets
    )
    assert declared.plain["STATE_BUCKET"] == "bucket"
    assert not set(declared.plain) & set(declared.secrets)


@pytest.mark.parametrize("name", ["TENANT", "NOT_DECLARED", "AGENT_SESSION_CACHE_BYTES"])
def test_the_stack_may_provide_only_bindings_declared_provided(name: str) -> None:
    with pytest.raises(ContractError, match=rf"\['{name}'\] are provided by the stack"):
        check_provided([name])
    check_provided(["ACCESS_AUD", "OPENCLAW_ALLOWED_ORIGINS"])


def test_a_declaration_naming_an_unknown_config_key_names_both() -> None:
    broken = replace(BY_NAME["AGENT_TIMEZONE"], config="agentTimeZone")
    with pytest.raises(ContractError, match=r"AGENT_TIMEZONE: config='agentTimeZone' is no key"):
        config_field(broken)
    assert config_field(BY_NAME["AGENT_TIMEZONE"]) == "agent_timezone"


@pytest.mark.parametrize(
    ("name", "kind", "says"),
    [
        ("TELEGRAM_WEBHOOK_SECRET", "plain", "declared plain but StackConfig"),
        ("DISCORD_PUBLIC_KEY", "secret", "declared secret but StackConfig"),
    ],
)
def test_a_secret_is_secret_on_both_sides(name: str, kind: str, says: str) -> None:
    broken = replace(BY_NAME[name], kind=kind)  # type: ignore[arg-type]
    with pytest.raises(ContractError, match=f"{name}: {says}"):
        config_field(broken)
