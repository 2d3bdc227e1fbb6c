"""tenants.yaml validation: tenant id rules, environments, overrides, and the error messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra.tenants.errors import ManifestError
from infra.tenants.manifest import SecretFromEnv, load_manifest, parse_manifest

REPO = Path(__file__).resolve().parents[2]


def manifest(**tenants: Any) -> dict[str, Any]:
    return {
        "environments": {"dev": {"base": "Pulumi.dev.yaml"}, "prod": {"base": "Pulumi.prod.yaml"}},
        "tenants": tenants,
    }


def test_list_shorthand_and_overrides_are_normalized() -> None:
    parsed = parse_manifest(
        manifest(
            acme={
                "environments": ["dev", "prod"],
                "config": {"sleepAfter": "1h", "edgeagent:maxInstances": 3},
            },
            globex={
                "environments": {"prod": {"config": {"hostname": "agent.globex.example"}}},
                "config": {"telegramBotToken": {"secretEnv": "GLOBEX_TELEGRAM"}},
            },
        )
    )
    assert sorted(parsed.tenants["acme"].environments) == ["dev", "prod"]
    assert parsed.tenants["acme"].config == {
        "edgeagent:sleepAfter": "1h",
        "edgeagent:maxInstances": 3,
    }
    globex = parsed.tenants["globex"]
    assert globex.environments["prod"].config == {"edgeagent:hostname": "agent.globex.example"}
    assert globex.config["edgeagent:telegramBotToken"] == SecretFromEnv(
        secret_env="GLOBEX_TELEGRAM"
    )


TENANT_ID_RULE = (
    "tenant ids are 2-24 lowercase letters, digits and single hyphens, starting with a letter "
    "and ending with a letter or digit; example: acme-corp"
)


@pytest.mark.parametrize(
    "tenant_id",
    ["Acme", "1acme", "acme-", "ac--me", "a", "a" * 25, "acme_corp", "acme.corp", "-acme"],
)
def test_bad_tenant_ids_are_refused_with_the_rule(tenant_id: str) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(manifest(**{tenant_id: {"environments": ["dev"]}}))
    assert caught.value.problems == [f"tenants.{tenant_id}: {TENANT_ID_RULE}"]


def test_the_default_tenant_is_reserved() -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(manifest(default={"environments": ["dev"]}))
    assert caught.value.problems == [
        "tenants.default: 'default' is the tenant of the repository's own stacks (dev, prod) and "
        "would share their Cloudflare names; pick another id, e.g. acme"
    ]


@pytest.mark.parametrize("tenant_id", ["ab", "acme", "acme-corp", "a1-b2-c3", "a" * 24])
def test_good_tenant_ids_pass(tenant_id: str) -> None:
    assert tenant_id in parse_manifest(manifest(**{tenant_id: {"environments": ["dev"]}})).tenants


@pytest.mark.parametrize(
    ("tenant", "problem"),
    [
        (
            {"environments": ["staging"]},
            "tenants.acme.environments: 'staging' is not declared under environments; "
            "declared: dev, prod",
        ),
        (
            {"environments": []},
            "tenants.acme.environments: needs at least one environment; example: [dev, prod]",
        ),
        (
            {"environments": ["dev", "dev"]},
            "tenants.acme.environments: lists an environment twice: ['dev', 'dev']",
        ),
        ({}, "tenants.acme.environments: Field required"),
        (
            {"environments": ["dev"], "colour": "blue"},
            "tenants.acme.colour: Extra inputs are not permitted",
        ),
        (
            {"environments": ["dev"], "config": {"tenant": "other"}},
            "tenants.acme.config: config key 'edgeagent:tenant' is set by the manifest itself "
            "(from the tenant id and the environment name); remove it",
        ),
        (
            {"environments": ["dev"], "config": {"edgeagent:environment": "prod"}},
            "tenants.acme.config: config key 'edgeagent:environment' is set by the manifest "
            "itself (from the tenant id and the environment name); remove it",
        ),
        (
            {"environments": ["dev"], "config": {"slackBotToken": {"secure": "v1:abc"}}},
            "tenants.acme.config: config key 'edgeagent:slackBotToken': 'secure' ciphertext "
            "belongs to one stack's secrets provider and cannot be shared across tenants; use "
            "{secretEnv: ENV_VAR_NAME} and export the value when running up/preview",
        ),
        (
            {"environments": ["dev"], "config": {"sleepAfter": None}},
            "tenants.acme.config: config key 'edgeagent:sleepAfter' has no value; give one "
            "(example: edgeagent:sleepAfter: 10m) or remove it",
        ),
        (
            {"environments": ["dev"], "config": {"bad key!": 1}},
            "tenants.acme.config: config key 'bad key!' is not a Pulumi config key; "
            "example: edgeagent:sleepAfter",
        ),
        (
            {"environments": ["dev"], "config": {"sleepAfter": "1h", "edgeagent:sleepAfter": "2h"}},
            "tenants.acme.config: config key 'edgeagent:sleepAfter' is given twice (with and "
            "without namespace)",
        ),
        (
            {"environments": ["dev"], "config": {"slackBotToken": {"secretEnv": "lower"}}},
            "tenants.acme.config: config key 'edgeagent:slackBotToken': secretEnv 'lower' is "
            "not an environment variable name; example: {secretEnv: ACME_TELEGRAM_BOT_TOKEN}",
        ),
        (
            {"environments": {"prod": {"config": []}}},
            "tenants.acme.environments.prod.config: must be a mapping of config key to value; "
            "example: {sleepAfter: 10m}",
        ),
    ],
)
def test_manifest_errors_name_the_place_and_the_fix(tenant: dict[str, Any], problem: str) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(manifest(acme=tenant))
    assert problem in caught.value.problems, caught.value.problems


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(manifest(**{"Bad": {"environments": ["dev"]}, "ok": {}}))
    assert len(caught.value.problems) == 2
    assert str(caught.value).startswith("tenants.yaml is invalid:\n  - ")


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ([], "(top level): must be a mapping with environments and tenants"),
        ({"tenants": {}}, "environments: Field required"),
        (
            {"environments": {"Prod": {"base": "x"}}, "tenants": {}},
            "environments.Prod: environment names are 2-12 lowercase letters or digits; "
            "example: prod",
        ),
        (
            {"environments": {}, "tenants": {42: {}}},
            "tenants.42: must be a string name; example: acme",
        ),
        (
            {"version": 2, "environments": {}, "tenants": {}},
            "version: Input should be less than or equal to 1",
        ),
    ],
)
def test_document_level_errors(document: object, problem: str) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(document)
    assert problem in caught.value.problems, caught.value.problems


def test_unreadable_and_invalid_yaml_files(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="cannot read"):
        load_manifest(tmp_path / "missing.yaml")
    broken = tmp_path / "tenants.yaml"
    broken.write_text("tenants: [unclosed\n")
    with pytest.raises(ManifestError, match="not valid YAML"):
        load_manifest(broken)


def test_shipped_example_manifest_is_valid() -> None:
    shipped = load_manifest(REPO / "tenants.yaml")
    assert set(shipped.environments) == {"dev", "prod"}
    assert len(shipped.tenants) >= 2
