"""`python -m infra.verify` end to end against a whole stack on loopback (bench.verify.localstack):
one run where every check passes, and runs where one misconfiguration fails its check."""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bench.verify.localstack import (
    CHANNEL_SECRETS,
    CLIENT_SECRET,
    EDGE_TOKEN,
    GATEWAY_TOKEN,
    AccessKeys,
    Deployed,
    OutputsWorkspace,
    bindings,
    deployed_stack,
    never_ready_sandbox,
    workerd,
)
from infra.verify.cli import main

pytestmark = pytest.mark.slow


def verify(outputs: dict[str, object]) -> tuple[int, str, dict[str, str]]:
    """Run the CLI; returns exit status, everything printed, and each check's mark by name."""
    out = io.StringIO()
    code = main(["--stack", "dev"], workspace=lambda _: OutputsWorkspace(outputs), out=out)
    text = out.getvalue()
    marks = {}
    for line in text.splitlines():
        if line[:2] in ("✓ ", "✗ ", "- "):
            name, _, _ = line[2:].partition(" — ")
            marks[name] = line[0]
    for secret in (CLIENT_SECRET, GATEWAY_TOKEN, EDGE_TOKEN, *CHANNEL_SECRETS.values()):
        assert secret not in text
    for value in outputs.values():
        if isinstance(value, SecretStr):
            assert value.get_secret_value() not in text
    return code, text, marks


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    with deployed_stack(tmp_path_factory.mktemp("verify")) as stack:
        yield stack


ALL_CHECKS = [
    "anonymous browser is sent to the Access login",
    "anonymous API client gets 401",
    "automation service token reaches /_edge/status",
    "forged telegram webhook gets 401",
    "forged slack webhook gets 401",
    "forged discord webhook gets 401",
    "sandbox ready within the cold-start timeout (5 s)",
    "workers.dev URL does not answer (custom domain)",
    "state credentials cannot list another bucket",
    "AI Gateway refuses a call without its token",
]


def test_a_correct_stack_passes_every_check(deployed: Deployed) -> None:
    code, text, marks = verify(deployed.outputs())
    print(text)  # the walkthrough in docs/deploy.md quotes this output
    assert marks == dict.fromkeys(ALL_CHECKS, "✓"), text
    assert code == 0
    assert text.splitlines()[0] == f"Verifying stack dev at {deployed.url}"
    assert text.splitlines()[-1].startswith("10 passed, 0 failed, 0 skipped in ")


def failed_only(marks: dict[str, str], *failing: str) -> None:
    assert {name for name, mark in marks.items() if mark == "✗"} == set(failing), marks


def test_wrong_service_token_fails_the_token_and_readiness_checks(deployed: Deployed) -> None:
    outputs = deployed.outputs(
        serviceTokenClientSecret=SecretStr(secrets.token_hex(32)), coldStartTimeoutMs=0
    )
    code, text, marks = verify(outputs)
    assert code == 1
    failed_only(
        marks,
        "automation service token reaches /_edge/status",
        "sandbox ready within the cold-start timeout (0 s)",
    )
    assert "got 401" in text
    assert "fix: the Access application must allow the stack's service token" in text


def test_webhooks_refused_by_access_instead_of_the_worker_fail(deployed: Deployed) -> None:
    deployed.edge.webhook_bypass = False
    try:
        code, text, marks = verify(deployed.outputs())
    finally:
        deployed.edge.webhook_bypass = True
    assert code == 1
    failed_only(
        marks,
        "forged telegram webhook gets 401",
        "forged slack webhook gets 401",
        "forged discord webhook gets 401",
    )
    assert "got 401, not from the Worker's signature check" in text
    assert "the webhooks bypass application is missing" in text


def test_account_wide_state_credentials_fail(deployed: Deployed) -> None:
    key_id, secret = deployed.store.account_wide
    outputs = deployed.outputs(
        stateAccessKeyId=SecretStr(key_id), stateSecretAccessKey=SecretStr(secret)
    )
    code, text, marks = verify(outputs)
    assert code == 1
    failed_only(marks, "state credentials cannot list another bucket")
    assert "they list 1 other bucket(s)" in text


def test_revoked_state_credentials_fail(deployed: Deployed) -> None:
    outputs = deployed.outputs(stateSecretAccessKey=SecretStr("revoked-" + secrets.token_hex(8)))
    code, text, marks = verify(outputs)
    assert code == 1
    failed_only(marks, "state credentials cannot list another bucket")
    assert "cannot even list their own bucket" in text


def test_gateway_without_authentication_fails(deployed: Deployed) -> None:
    deployed.gateway.authenticated = False
    try:
        code, text, marks = verify(deployed.outputs())
    finally:
        deployed.gateway.authenticated = True
    assert code == 1
    failed_only(marks, "AI Gateway refuses a call without its token")
    assert "got 401, but from the provider" in text


def test_workers_dev_still_answering_fails(deployed: Deployed) -> None:
    code, text, marks = verify(deployed.outputs(workersDevUrl=deployed.url))
    assert code == 1
    failed_only(marks, "workers.dev URL does not answer (custom domain)")
    assert "the Worker answered with 200" in text


def test_custom_domain_without_known_workers_dev_subdomain_fails_closed(
    deployed: Deployed,
) -> None:
    outputs = deployed.outputs()
    del outputs["workersDevUrl"]
    code, text, marks = verify(outputs)
    assert code == 1
    failed_only(marks, "workers.dev URL does not answer (custom domain)")
    assert "pulumi config set workersDevSubdomain" in text


def test_access_off_and_no_webhook_secrets_fail(deployed: Deployed, tmp_path: Path) -> None:
    """A Worker deployed with Access off (a dev identity) and no channel secrets, in front of a
    sandbox that never starts."""
    keys = AccessKeys()
    with (
        never_ready_sandbox() as sandbox,
        workerd(
            bindings(sandbox, DEV_IDENTITY="anyone@example.com"), keys, tmp_path / "workerd.log"
        ) as worker,
    ):
        code, text, marks = verify(deployed.outputs(url=worker, coldStartTimeoutMs=1000))
    print(text)  # docs/deploy.md quotes this output as the failing example
    assert code == 1
    failed_only(
        marks,
        "anonymous browser is sent to the Access login",
        "anonymous API client gets 401",
        "forged telegram webhook gets 401",
        "forged slack webhook gets 401",
        "forged discord webhook gets 401",
        "sandbox ready within the cold-start timeout (1 s)",
    )
    assert marks["automation service token reaches /_edge/status"] == "✓"
    assert "fix: the Worker must sit behind Cloudflare Access" in text
    assert "still starting after" in text


def test_workers_dev_stack_skips_the_custom_domain_check(deployed: Deployed) -> None:
    """Served on workers.dev: nothing to switch off. (The URL is a workers.dev name here, so only
    the outputs-level decision is exercised: the stack's checks run against loopback.)"""
    outputs = deployed.outputs()
    outputs["url"] = "https://edgeagent-verify-dev.acme.workers.dev"
    from infra.verify.checks import Probe, Status, workers_dev_off
    from infra.verify.target import Target

    target = Target.from_outputs(outputs)
    results = workers_dev_off(target, Probe(http=None))  # type: ignore[arg-type]
    assert [r.status for r in results] == [Status.SKIP]


def test_outputs_of_an_older_deployment_are_named_with_the_fix() -> None:
    outputs: dict[str, Any] = {"url": "https://agent.example.com", "bucket": "b"}
    code, text, _ = verify(outputs)
    assert code == 2
    assert "output coldStartTimeoutMs: Field required (example: 30000)" in text
    assert "run `pulumi up` with this version of the program first" in text


def test_a_stack_that_cannot_be_read_exits_2() -> None:
    class Missing:
        def stack(self, name: str, *, create: bool) -> Any:
            raise RuntimeError(f"no stack named '{name}' found")

    out = io.StringIO()
    assert main(["--stack", "nope"], workspace=lambda _: Missing(), out=out) == 2
    assert "cannot read stack 'nope': no stack named 'nope' found" in out.getvalue()
