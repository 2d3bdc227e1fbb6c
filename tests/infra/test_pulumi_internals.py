"""The Pulumi SDK internals infra/pulumi_internals.py relies on are still there and still behave.

When one of these fails after a Pulumi upgrade, the message names the installed version and the
internal that changed: adapt infra/pulumi_internals.py (the only module that touches them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest
from google.protobuf import struct_pb2  # type: ignore[import-untyped]
from pulumi.runtime import rpc

from infra import pulumi_internals
from infra.placeholders import SECRET
from infra.plan import run_with_mocks
from infra.pulumi_internals import (
    INTERNALS,
    PULUMI_VERSION,
    deserialize,
    internals_problems,
    is_secret_value,
    is_unknown,
    signature_of,
    stack_config,
    under_mocks,
    unwrap_secret,
)

UPGRADE = f"Pulumi {PULUMI_VERSION} changed an internal that infra/pulumi_internals.py uses"


def test_every_internal_exists_with_the_signature_relied_on() -> None:
    problems = internals_problems()
    assert problems == [], f"{UPGRADE}: " + "; ".join(problems)


def test_the_check_notices_a_missing_or_changed_internal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(INTERNALS, "pulumi.runtime.config:no_such_function", ())
    monkeypatch.setitem(INTERNALS, "pulumi.runtime.config:is_config_secret", ("key", "other"))
    problems = internals_problems()
    assert any("no_such_function is gone" in p for p in problems), problems
    assert any("is_config_secret takes ('k',)" in p for p in problems), problems


def test_every_internal_the_module_imports_is_listed() -> None:
    # A new private use must be declared in INTERNALS, or its check would be missing.
    source = Path(pulumi_internals.__file__).read_text(encoding="utf-8")
    for name in ("_sync_await", "_special_sig_key", "_special_secret_sig", "get_config_env"):
        assert name in source
        assert any(target.endswith(f":{name}") for target in INTERNALS), name


def test_stack_config_reads_every_key_and_which_are_secret() -> None:
    seen: dict[str, Any] = {}

    def program() -> None:
        seen["config"] = stack_config()
        seen["mocked"] = under_mocks()

    run_with_mocks(
        "dev",
        program,
        {"edgeagent:tenant": "acme", "edgeagent:apiToken": "s3cret", "other:key": "1"},
        {"edgeagent:apiToken"},
    )
    values, secret_keys = seen["config"]
    assert values == {"edgeagent:tenant": "acme", "edgeagent:apiToken": "s3cret", "other:key": "1"}
    assert secret_keys == {"edgeagent:apiToken"}, f"{UPGRADE}: secret keys read {secret_keys}"
    assert seen["mocked"] is True, f"{UPGRADE}: mocks are no longer recognised"


def test_outside_a_run_nothing_is_mocked() -> None:
    assert under_mocks() is False


def test_a_run_returns_the_root_stack_outputs() -> None:
    def program() -> None:
        pulumi.export("plain", "hello")
        pulumi.export("hidden", pulumi.Output.secret("s3cret"))

    plan = run_with_mocks("dev", program)
    assert plan["outputs"] == {"hidden": SECRET, "plain": "hello"}, UPGRADE


def test_secrets_and_special_values_are_told_apart_where_they_sit() -> None:
    seen: dict[str, Any] = {}

    async def serialize() -> None:
        secret = pulumi.Output.secret("s3cret")
        properties = await rpc.serialize_properties({"token": secret}, {})
        seen["struct"] = properties["token"]

    def program() -> None:
        # Awaited with the run's other pending outputs, on the run's loop, under the mocks.
        pulumi.Output.from_input(1).apply(lambda _: serialize())

    run_with_mocks("dev", program)
    secret = seen["struct"]
    assert isinstance(secret, struct_pb2.Struct), f"{UPGRADE}: a secret serialized as {secret!r}"
    assert signature_of(secret) == "secret", f"{UPGRADE}: the secret signature is not recognised"
    plain = struct_pb2.Struct()
    plain.update({"a": "b"})
    assert signature_of(plain) is None
    assert deserialize(plain) == {"a": "b"}
    wrapped = {rpc._special_sig_key: rpc._special_secret_sig, "value": "s3cret"}
    assert is_secret_value(wrapped), UPGRADE
    assert unwrap_secret(wrapped) == "s3cret"
    assert not is_secret_value("s3cret")


def test_preview_unknowns_are_recognised() -> None:
    assert is_unknown(rpc.UNKNOWN), UPGRADE
    assert is_unknown(pulumi.output.Unknown()), UPGRADE
    assert not is_unknown("a value")
