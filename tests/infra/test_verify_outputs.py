"""What `infra.verify` reads: the outputs the program exports for it, how the Automation API seam
returns them (secrets wrapped), and how bad or missing outputs are reported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto
from pydantic import SecretStr

from infra.tenants.automation import AutomationStack
from infra.verify.target import OutputsError, Target


def test_dev_exports_its_workers_dev_url_and_no_channels(dev_plan: dict[str, Any]) -> None:
    outputs = dev_plan["outputs"]
    assert outputs["workersDevUrl"] == outputs["url"]
    assert outputs["url"].endswith(".workers.dev")
    assert outputs["webhookChannels"] == []
    assert outputs["stateAccessKeyId"] == outputs["stateSecretAccessKey"] == "[secret]"


def test_custom_domain_without_subdomain_has_no_workers_dev_url(
    full_plan: dict[str, Any],
) -> None:
    assert full_plan["outputs"]["url"] == "https://agent.example.com"
    assert "workersDevUrl" not in full_plan["outputs"]


class _StubStack:
    """An `auto.Stack` as far as `outputs()` goes."""

    def outputs(self) -> dict[str, auto.OutputValue]:
        return {
            "url": auto.OutputValue("https://a.example.com", secret=False),
            "webhookChannels": auto.OutputValue(["telegram"], secret=False),
            "serviceTokenClientSecret": auto.OutputValue("s3cr3t", secret=True),
            "structured": auto.OutputValue({"k": 1}, secret=True),
        }


def test_automation_stack_wraps_secret_outputs() -> None:
    stack = AutomationStack(_StubStack(), "dev")  # type: ignore[arg-type]
    outputs = stack.outputs()
    assert outputs["url"] == "https://a.example.com"
    assert outputs["webhookChannels"] == ["telegram"]
    secret = outputs["serviceTokenClientSecret"]
    assert isinstance(secret, SecretStr)
    assert secret.get_secret_value() == "s3cr3t"
    assert "s3cr3t" not in repr(outputs)
    structured = outputs["structured"]
    assert isinstance(structured, SecretStr)
    assert structured.get_secret_value() == '{"k": 1}'


def _outputs(**overrides: object) -> dict[str, object]:
    outputs: dict[str, object] = {
        "url": "https://edgeagent-default-dev.acme.workers.dev",
        "accessTeamDomain": "https://acme.cloudflareaccess.com",
        "serviceTokenClientId": "id.access",
        "serviceTokenClientSecret": SecretStr("very-secret-value"),
        "webhookChannels": ["slack"],
        "coldStartTimeoutMs": 30000,
        "bucket": "edgeagent-default-dev",
        "stateEndpoint": "https://0123.r2.cloudflarestorage.com",
        "stateAccessKeyId": SecretStr("key-id"),
        "stateSecretAccessKey": SecretStr("very-secret-key"),
        "aiGatewayBaseUrl": "https://gateway.ai.cloudflare.com/v1/0123/gw",
    }
    outputs.update(overrides)
    return outputs


def test_target_from_outputs() -> None:
    target = Target.from_outputs(_outputs())
    assert not target.custom_domain
    assert target.webhook_channels == ["slack"]
    assert target.service_token_client_secret.get_secret_value() == "very-secret-value"
    assert Target.from_outputs(_outputs(url="https://agent.example.com/")).custom_domain


def test_bad_outputs_are_named_without_their_values() -> None:
    bad = _outputs(stateEndpoint="very-secret-key", webhookChannels=["irc"], coldStartTimeoutMs=-1)
    del bad["bucket"]
    with pytest.raises(OutputsError) as err:
        Target.from_outputs(bad)
    message = str(err.value)
    assert "output stateEndpoint: Value error, must be an http(s) URL" in message
    channels = "'telegram', 'slack', 'discord' or 'whatsapp'"
    assert f"output webhookChannels.0: Input should be {channels}" in message
    assert "output coldStartTimeoutMs: Input should be greater than or equal to 0" in message
    assert "output bucket: Field required" in message
    assert "very-secret" not in message


def test_make_verify_runs_the_module_for_the_given_stack() -> None:
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    recipe = makefile.split("\nverify:", 1)[1].split("\n\n", 1)[0]
    assert "python -m infra.verify --stack $(STACK)" in recipe
