"""The email channel's infrastructure: Email Routing rule, send_email binding, config checks."""

from __future__ import annotations

from typing import Any

import pytest
from infra_support import ZONE, full_config, minimal_config, one, plan, resources_of

from infra.config import StackConfig, load_config
from infra.errors import ConfigError
from infra.plan import config_values

EMAIL = {
    "edgeagent:emailAddress": "Agent@Example.com",
    "edgeagent:emailAllowlist": ["me@example.com", "You@Example.ORG"],
}


def load(config: dict[str, object]) -> StackConfig:
    values, secret_keys = config_values(config)
    return load_config("acme-prod", values, secret_keys)


@pytest.fixture(scope="module")
def email_plan() -> dict[str, Any]:
    return plan("acme-prod", {**full_config(), **EMAIL})


def test_addresses_are_kept_lower_cased() -> None:
    cfg = load({**full_config(), **EMAIL})
    assert cfg.email_address == "agent@example.com"
    assert cfg.email_allowlist == ["me@example.com", "you@example.org"]


@pytest.mark.slow  # over half a second of CPU (make test-cost)
def test_email_routing_is_enabled_and_the_address_routed_to_the_worker(
    email_plan: dict[str, Any],
) -> None:
    names = sorted(
        (r["type"].rsplit(":", 1)[-1], r["name"], r["parent"])
        for r in email_plan["resources"]
        if "mail" in r["type"].lower()
    )
    assert names == [
        ("EmailRouting", "edgeagent-email", "edgeagent"),
        ("EmailRoutingDns", "edgeagent-email-dns", "edgeagent-email"),
        ("EmailRoutingRule", "edgeagent-email-rule", "edgeagent-email"),
    ]
    assert one(email_plan, "EmailRoutingDns", "edgeagent-email-dns")["inputs"] == {"zoneId": ZONE}
    rule = one(email_plan, "EmailRoutingRule", "edgeagent-email-rule")["inputs"]
    assert rule["zoneId"] == ZONE
    assert rule["enabled"] is True
    assert rule["matchers"] == [{"type": "literal", "field": "to", "value": "agent@example.com"}]
    assert rule["actions"] == [{"type": "worker", "values": ["edgeagent-acme-prod"]}]


def test_worker_gets_a_send_email_binding_limited_to_the_address_and_allowlist(
    email_plan: dict[str, Any],
) -> None:
    version = one(email_plan, "WorkerVersion", "edgeagent-edge-version")
    bindings = {b["name"]: b for b in version["inputs"]["bindings"]}
    assert bindings["EMAIL"] == {
        "name": "EMAIL",
        "type": "send_email",
        "allowedSenderAddresses": ["agent@example.com"],
        "allowedDestinationAddresses": ["me@example.com", "you@example.org"],
    }
    assert bindings["EMAIL_ADDRESS"]["text"] == "agent@example.com"
    assert bindings["EMAIL_ALLOWLIST"]["text"] == "me@example.com,you@example.org"
    # The first deploy's script upload carries the same binding.
    provision = one(email_plan, "WorkersScript", "edgeagent-edge-provision")
    assert {b["name"] for b in provision["inputs"]["bindings"]} >= {"EMAIL", "EMAIL_ADDRESS"}


def test_no_email_resources_or_binding_without_the_address() -> None:
    document = plan("acme-prod", full_config())
    assert not [r for r in document["resources"] if "mail" in r["type"].lower()]
    version = one(document, "WorkerVersion", "edgeagent-edge-version")
    assert not [b for b in version["inputs"]["bindings"] if b["name"].startswith("EMAIL")]
    assert resources_of(document, "EmailRoutingRule") == []


@pytest.mark.parametrize(
    ("extra", "drop", "key", "message"),
    [
        (
            {"edgeagent:emailAddress": "agent@other.com"},
            (),
            "edgeagent:emailAddress",
            "is on 'other.com', not on the stack's zone (hostname 'agent.example.com'): use an "
            "address at one of agent.example.com, example.com",
        ),
        (
            {},
            ("edgeagent:emailAllowlist",),
            "edgeagent:emailAllowlist",
            "is required with emailAddress (else every message would be refused)",
        ),
        (
            {"edgeagent:emailAllowlist": ["not-an-address"]},
            (),
            "edgeagent:emailAllowlist",
            "item 0 must be an email address such as `me@example.com`",
        ),
        (
            {"edgeagent:emailAddress": "the agent@example.com"},
            (),
            "edgeagent:emailAddress",
            "must be an email address such as `me@example.com`",
        ),
        (
            {"edgeagent:emailAddress": "agent!x@example.com"},
            (),
            "edgeagent:emailAddress",
            "the part before @ must be letters, digits and . _ + - such as `agent`",
        ),
    ],
)
def test_bad_email_config_names_the_key(
    extra: dict[str, object], drop: tuple[str, ...], key: str, message: str
) -> None:
    config = {**full_config(), **EMAIL, **extra}
    for name in drop:
        del config[name]
    with pytest.raises(ConfigError) as err:
        load(config)
    lines = [line.strip() for line in str(err.value).splitlines()]
    assert any(line.startswith(f"- {key}: {message}") for line in lines), lines


def test_an_address_needs_the_stacks_zone() -> None:
    with pytest.raises(ConfigError) as err:
        load({**minimal_config(), **EMAIL})
    assert (
        "edgeagent:emailAddress: needs the stack's zone: Email Routing works on a zone, so set "
        "hostname and zoneId (workers.dev has none) (example: edgeagent:hostname: "
        "agent.example.com)"
    ) in str(err.value)


def test_an_allowlist_without_an_address_is_refused() -> None:
    with pytest.raises(ConfigError) as err:
        load({**full_config(), "edgeagent:emailAllowlist": ["me@example.com"]})
    assert "edgeagent:emailAllowlist: applies only to the email channel" in str(err.value)


@pytest.mark.slow  # over half a second of CPU (make test-cost)
def test_the_runtime_gets_the_relay_url_and_access_lets_the_relay_through() -> None:
    # Email as the only channel: the relay path still needs the /webhooks/* bypass.
    only_email = {
        "edgeagent:accountId": full_config()["edgeagent:accountId"],
        "edgeagent:hostname": "agent.example.com",
        "edgeagent:zoneId": ZONE,
        "edgeagent:accessTeamDomain": "example-team.cloudflareaccess.com",
        "edgeagent:allowedEmails": ["me@example.com"],
        **EMAIL,
    }
    document = plan("acme-prod", only_email)
    version = one(document, "WorkerVersion", "edgeagent-edge-version")
    bindings = {b["name"]: b for b in version["inputs"]["bindings"]}
    assert bindings["EMAIL_RELAY_URL"] == {
        "name": "EMAIL_RELAY_URL",
        "type": "plain_text",
        "text": "https://agent.example.com/webhooks/email",
    }
    bypass = one(document, "ZeroTrustAccessPolicy", "edgeagent-access-webhooks-bypass-policy")
    assert bypass["inputs"]["decision"] == "bypass"
