"""Budgets and routing as code: spend limits on the gateway, the fallback route, the logs token,
the bindings the runtime reads, the config errors, and the policy that guards `prod`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from infra_support import ACCOUNT, minimal_config, one, plan
from test_infra_plan import CF, DEV_RESOURCES, bindings_of, type_names

from infra.config import load_config
from infra.errors import ConfigError
from infra.mocks import mock_permission_group_id
from infra.plan import config_values, spend_limits_line
from infra.policy.plan import resources_of
from infra.policy.validators import (
    Violation,
    prod_has_a_stack_wide_spend_limit,
    spend_limit_advised,
    validate_plan,
)

MODEL = {"edgeagent:agentModel": "openai:gpt-5-mini"}
BUDGETS = {
    **MODEL,
    "edgeagent:spendLimitDailyUsd": "5.00",
    "edgeagent:spendLimitMonthlyUsd": "100",
    "edgeagent:userSpendLimitDailyUsd": "1.5",
    "edgeagent:modelFallbacks": [
        "anthropic:claude-haiku-4-5",
        "compat:google-ai-studio/gemini-2.5-flash",
    ],
    "edgeagent:jobModel": "openai:gpt-5-nano",
}
ROUTE = (f"{CF}/aiGatewayDynamicRouting:AiGatewayDynamicRouting", "edgeagent-ai-route")


@pytest.fixture(scope="module")
def budget_plan() -> dict[str, Any]:
    return plan("acme-prod", {**minimal_config(), **BUDGETS})


def test_spend_limits_are_rules_on_the_gateway(budget_plan: dict[str, Any]) -> None:
    gateway = one(budget_plan, "AiGateway", "edgeagent-ai-gateway")["inputs"]
    assert gateway["spendLimits"] == {
        "enabled": True,
        "rules": [
            {"id": "stack-daily", "enabled": True, "limit": 5.0, "limitType": "cost",
             "window": 86400, "technique": "fixed"},
            {"id": "stack-monthly", "enabled": True, "limit": 100.0, "limitType": "cost",
             "window": 2592000, "technique": "fixed"},
            {"id": "user-daily", "enabled": True, "limit": 1.5, "limitType": "cost",
             "window": 86400, "technique": "fixed", "metadata": {"user": {"mode": "partition"}}},
        ],
    }  # fmt: skip


def test_fallbacks_are_a_dynamic_route_primary_first(budget_plan: dict[str, Any]) -> None:
    assert type_names(budget_plan) == sorted([*DEV_RESOURCES, ROUTE])
    route = one(budget_plan, "AiGatewayDynamicRouting", "edgeagent-ai-route")
    assert route["parent"] == "edgeagent-ai"
    inputs = route["inputs"]
    assert (inputs["accountId"], inputs["gatewayId"], inputs["name"]) == (
        ACCOUNT, "edgeagent-acme-prod", "agent",
    )  # fmt: skip

    def model(n: int, provider: str, name: str, fallback: str) -> dict[str, Any]:
        return {
            "id": f"model-{n}",
            "type": "model",
            "properties": {
                "aiGatewayDynamicRoutingProvider": provider, "model": name,
                "timeout": 60000, "retries": 1,
            },
            "outputs": {"success": {"elementId": "end"}, "fallback": {"elementId": fallback}},
        }  # fmt: skip

    assert inputs["elements"] == [
        {"id": "start", "type": "start", "outputs": {"next": {"elementId": "model-1"}}},
        model(1, "openai", "gpt-5-mini", "model-2"),
        model(2, "anthropic", "claude-haiku-4-5", "model-3"),
        model(3, "google-ai-studio", "gemini-2.5-flash", "end"),
        {"id": "end", "type": "end", "outputs": {}},
    ]


def test_the_runtime_gets_the_limits_route_job_model_and_a_read_only_logs_token(
    budget_plan: dict[str, Any],
) -> None:
    bindings = bindings_of(budget_plan)
    plain = {name: b["text"] for name, b in bindings.items() if b["type"] == "plain_text"}
    assert {k: plain[k] for k in plain if k.startswith(("AGENT_SPEND", "AGENT_USER_SPEND"))} == {
        "AGENT_SPEND_LIMIT_DAILY_USD": "5.00",
        "AGENT_SPEND_LIMIT_MONTHLY_USD": "100",
        "AGENT_USER_SPEND_LIMIT_DAILY_USD": "1.5",
    }
    assert (plain["AGENT_MODEL_ROUTE"], plain["AGENT_JOB_MODEL"]) == ("agent", "openai:gpt-5-nano")
    assert bindings["AI_GATEWAY_LOGS_TOKEN"] == {
        "name": "AI_GATEWAY_LOGS_TOKEN", "type": "secret_text", "text": "[secret]",
    }  # fmt: skip
    token = one(budget_plan, "AccountToken", "edgeagent-ai-logs-token")["inputs"]
    assert token["name"] == "edgeagent acme/prod ai-gateway logs"
    [policy] = token["policies"]
    assert policy["permissionGroups"] == [{"id": mock_permission_group_id("AI Gateway Read")}]
    assert json.loads(policy["resources"]) == {f"com.cloudflare.api.account.{ACCOUNT}": "*"}


def test_without_budget_keys_nothing_is_limited_routed_or_bound(dev_plan: dict[str, Any]) -> None:
    gateway = one(dev_plan, "AiGateway", "edgeagent-ai-gateway")["inputs"]
    assert "spendLimits" not in gateway
    assert ROUTE not in type_names(dev_plan)
    bound = set(bindings_of(dev_plan))
    assert "AI_GATEWAY_LOGS_TOKEN" in bound
    assert not bound & {
        "AGENT_MODEL_ROUTE", "AGENT_JOB_MODEL", "AGENT_SPEND_LIMIT_DAILY_USD",
        "AGENT_SPEND_LIMIT_MONTHLY_USD", "AGENT_USER_SPEND_LIMIT_DAILY_USD",
    }  # fmt: skip


def load(config: dict[str, object]) -> None:
    values, secret_keys = config_values({**minimal_config(), **config})
    load_config("acme-prod", values, secret_keys)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"edgeagent:spendLimitDailyUsd": "0"},
            "edgeagent:spendLimitDailyUsd: Input should be greater than 0 "
            "(example: edgeagent:spendLimitDailyUsd: 5.00)",
        ),
        (
            {"edgeagent:spendLimitDailyUsd": "-3"},
            "edgeagent:spendLimitDailyUsd: Input should be greater than 0 "
            "(example: edgeagent:spendLimitDailyUsd: 5.00)",
        ),
        (
            {"edgeagent:spendLimitMonthlyUsd": "2000000"},
            "edgeagent:spendLimitMonthlyUsd: Input should be less than or equal to 1000000 "
            "(example: edgeagent:spendLimitMonthlyUsd: 100.00)",
        ),
        (
            {"edgeagent:userSpendLimitDailyUsd": "0.005"},
            "edgeagent:userSpendLimitDailyUsd: Decimal input should have no more than 2 decimal "
            "places (example: edgeagent:userSpendLimitDailyUsd: 1.50)",
        ),
        (
            {"edgeagent:spendLimitDailyUsd": "five"},
            "edgeagent:spendLimitDailyUsd: Input should be a valid decimal "
            "(example: edgeagent:spendLimitDailyUsd: 5.00)",
        ),
        (
            {"edgeagent:spendLimitDailyUsd": "nan"},
            "edgeagent:spendLimitDailyUsd: Input should be a finite number "
            "(example: edgeagent:spendLimitDailyUsd: 5.00)",
        ),
        (
            {"edgeagent:spendLimitDailyUsd": "20", "edgeagent:spendLimitMonthlyUsd": "10"},
            "edgeagent:spendLimitMonthlyUsd: (10) is below spendLimitDailyUsd (20): one day "
            "could never reach the daily limit (example: edgeagent:spendLimitMonthlyUsd: 100.00)",
        ),
        (
            {"edgeagent:spendLimitDailyUsd": "2", "edgeagent:userSpendLimitDailyUsd": "3"},
            "edgeagent:userSpendLimitDailyUsd: (3) is above spendLimitDailyUsd (2), which caps "
            "every user together (example: edgeagent:userSpendLimitDailyUsd: 1.50)",
        ),
        (
            {"edgeagent:modelFallbacks": ["openai:gpt-5-nano"]},
            "edgeagent:modelFallbacks: needs a remote agentModel to fall back from (agentModel "
            "is `offline`) (example: edgeagent:agentModel: openai:gpt-5-mini)",
        ),
        (
            {**MODEL, "edgeagent:modelFallbacks": ["openai:gpt-5-mini"]},
            "edgeagent:modelFallbacks: repeats openai:gpt-5-mini (agentModel is tried first "
            'already) (example: edgeagent:modelFallbacks: ["anthropic:claude-haiku-4-5", '
            '"workers-ai:@cf/meta/llama-3.3-70b-instruct"])',
        ),
        (
            {**MODEL, "edgeagent:modelFallbacks": [f"openai:m{n}" for n in range(5)]},
            "edgeagent:modelFallbacks: lists 5 models; at most 4 (example: "
            'edgeagent:modelFallbacks: ["anthropic:claude-haiku-4-5", '
            '"workers-ai:@cf/meta/llama-3.3-70b-instruct"])',
        ),
        (
            {**MODEL, "edgeagent:modelFallbacks": ["offline"]},
            "edgeagent:modelFallbacks: item 0 must be `<provider>:<model>` (not `offline`) "
            '(example: edgeagent:modelFallbacks: ["anthropic:claude-haiku-4-5", '
            '"workers-ai:@cf/meta/llama-3.3-70b-instruct"])',
        ),
        (
            {"edgeagent:jobModel": "openai:gpt-5-nano"},
            "edgeagent:jobModel: applies only with a remote agentModel (agentModel is "
            "`offline`) (example: edgeagent:agentModel: openai:gpt-5-mini)",
        ),
    ],
)
def test_bad_budget_and_routing_config_names_the_key(
    config: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(config)
    assert [issue.render() for issue in caught.value.issues] == [message]


@pytest.mark.slow  # over half a second of CPU (make test-cost)
def test_prod_without_a_stack_wide_limit_is_refused_and_dev_is_advised(
    dev_plan: dict[str, Any],
) -> None:
    prod = plan("acme-prod", {**minimal_config(), **MODEL})
    refused = Violation(
        "spend-limit-in-prod",
        "edgeagent-ai-gateway",
        "has no stack-wide spend limit, which a `prod` stack must have: set "
        "edgeagent:spendLimitDailyUsd or edgeagent:spendLimitMonthlyUsd (for example "
        "`pulumi config set edgeagent:spendLimitDailyUsd 5.00`; docs/costs.md)",
    )
    assert prod_has_a_stack_wide_spend_limit(resources_of(prod)) == [refused]
    assert refused in validate_plan(prod)
    # A per-user limit alone is no cap: every new identity brings a fresh budget.
    per_user = plan("acme-prod", {**minimal_config(), "edgeagent:userSpendLimitDailyUsd": "1"})
    assert [v.policy for v in validate_plan(per_user)] == ["spend-limit-in-prod"]
    monthly = plan("acme-prod", {**minimal_config(), "edgeagent:spendLimitMonthlyUsd": "50"})
    assert validate_plan(monthly) == []
    # dev: advised only, never a failing violation.
    assert prod_has_a_stack_wide_spend_limit(resources_of(dev_plan)) == []
    assert [v.policy for v in spend_limit_advised(resources_of(dev_plan))] == [
        "spend-limit-advised"
    ]
    assert validate_plan(dev_plan) == []


def test_plan_prints_the_limits_beside_the_container_cost() -> None:
    values, secret_keys = config_values({**minimal_config(), **BUDGETS})
    cfg = load_config("acme-prod", values, secret_keys)
    assert spend_limits_line(cfg) == (
        "model spend limits (AI Gateway): $5.00/day, $100.00/30 days, $1.50/person/day "
        "(docs/costs.md)"
    )
    none = load_config("dev", *config_values(minimal_config()))
    assert spend_limits_line(none) == (
        "model spend limits: none (set edgeagent:spendLimitDailyUsd; docs/costs.md)"
    )
