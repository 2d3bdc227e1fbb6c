"""Pulumi mocks that record every registration: the offline engine behind the plan and the tests.

The provider's computed outputs (token values, Access AUD, service token credentials, random
passwords) come back as fixed placeholders derived from the logical name, so runs are
reproducible; the permission-group lookup answers with every group the program asks for, and
the Workers scripts list with `live_scripts` (script name -> its live Durable Object classes;
empty by default: a first deploy).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
from google.protobuf import struct_pb2  # type: ignore[import-untyped]

from infra import permissions
from infra.components.worker import LIST_SCRIPTS_INVOKE
from infra.placeholders import MOCK_DIGEST, SECRET, mock_id, mock_value
from infra.pulumi_internals import MockMonitor, deserialize, signature_of

_PERMISSION_GROUPS_FN = "getAccountApiTokenPermissionGroupsList"
# The provider's invoke token for the permission-group list (an RPC name, not a credential).
PERMISSION_GROUPS_INVOKE = f"cloudflare:index/{_PERMISSION_GROUPS_FN}:{_PERMISSION_GROUPS_FN}"


def mock_permission_group_id(name: str) -> str:
    """The id the mocks give a permission group, e.g. `mock-pg-ai-gateway-run`."""
    return mock_value("pg", re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"))


def _computed(type_: str, name: str) -> dict[str, Any]:
    match type_:
        case "cloudflare:index/accountToken:AccountToken":
            return {"value": mock_value("token-value", name), "status": "active"}
        case "cloudflare:index/zeroTrustAccessApplication:ZeroTrustAccessApplication":
            return {"aud": mock_value("aud", name)}
        case "cloudflare:index/zeroTrustAccessServiceToken:ZeroTrustAccessServiceToken":
            return {
                "clientId": mock_value("client-id", name) + ".access",
                "clientSecret": mock_value("secret", name),
            }
        case "random:index/randomPassword:RandomPassword":
            return {"result": mock_value("random", name)}
        case "docker-build:index:Image":
            # Known only after a real push; a fixed value keeps plans byte-identical.
            return {"digest": MOCK_DIGEST}
        case "pulumi-python:dynamic/edgeagent:ContainerApplication":
            return {
                "application_id": mock_value("app", name),
                "namespace_id": mock_value("ns", name),
            }
        case _:
            return {}


def plain_inputs(value: Any) -> Any:
    """Registered inputs as the engine receives them, each secret replaced where it sits.

    (Pulumi's own deserializer lifts a nested secret to the whole top-level property, which
    would hide every Worker binding behind one secret.)
    """
    if isinstance(value, struct_pb2.Struct):
        signature = signature_of(value)
        if signature == "secret":
            return SECRET
        if signature is not None:
            return deserialize(value)
        return {key: plain_inputs(item) for key, item in value.items() if item is not None}
    if isinstance(value, struct_pb2.ListValue):
        return [plain_inputs(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@dataclass(frozen=True, slots=True)
class Registration:
    """One registered resource: type, logical name, parent's logical name, inputs, and the
    logical names of the resources it waits for (explicit `depends_on` and input sources)."""

    type: str
    name: str
    parent: str | None
    inputs: dict[str, Any]
    custom: bool
    depends_on: tuple[str, ...] = ()


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    """Mocks answering like the Cloudflare provider would, recording every call."""

    registrations: list[Registration] = field(default_factory=list)
    calls: list[pulumi.runtime.MockCallArgs] = field(default_factory=list)
    live_scripts: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        state = dict(args.inputs)
        state.update(_computed(args.typ, args.name))
        return mock_id(args.name), state

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        self.calls.append(args)
        if args.token == PERMISSION_GROUPS_INVOKE:
            names = sorted({name for aliases in permissions.ALIASES.values() for name in aliases})
            results = [
                {
                    "id": mock_permission_group_id(name),
                    "name": name,
                    "category": "developer_platform",
                    "isSelectable": True,
                    "scopes": ["com.cloudflare.api.account"],
                }
                for name in names
            ]
            return {"results": results}, []
        if args.token == LIST_SCRIPTS_INVOKE:
            scripts = [
                {
                    "id": script,
                    "exports": {
                        cls: {"type": "durable-object", "storage": "sqlite"} for cls in classes
                    },
                }
                for script, classes in sorted(self.live_scripts.items())
            ]
            return {"results": scripts}, []
        return {}, []


class RecordingMonitor(MockMonitor):
    """A MockMonitor that also remembers each resource's parent (mocks are not told it)."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.recording = mocks

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != "pulumi:pulumi:Stack":
            # Parent URNs end in `<qualified type>::<name>`; the root stack counts as no parent.
            parent_type, _, parent_name = request.parent.rpartition("::")
            parent = None if parent_type.endswith("pulumi:pulumi:Stack") else parent_name or None
            self.recording.registrations.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    parent=parent,
                    inputs=plain_inputs(request.object),
                    custom=bool(request.custom),
                    depends_on=tuple(
                        sorted({urn.rpartition("::")[2] for urn in request.dependencies})
                    ),
                )
            )
        return response
