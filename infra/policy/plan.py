"""The plan JSON of `infra.plan` (and CrossGuard's resources) as one small typed shape."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# `infra.plan` prints every secret value as SECRET; CrossGuard hands validators the plaintext.
from infra.placeholders import SECRET as SECRET

# What the pack turns a value unknown during preview into.
UNKNOWN = "[unknown]"


@dataclass(frozen=True)
class PlanResource:
    """One resource: Pulumi type token, logical name, parent's logical name, camelCase inputs.

    `dependencies` maps an input to the logical names of the resources its value came from;
    CrossGuard knows them, the offline plan JSON does not carry them.
    """

    type: str
    name: str
    parent: str | None = None
    inputs: Mapping[str, Any] = field(default_factory=dict)
    dependencies: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Violation:
    """One broken promise: which policy, which resource (logical name), what is wrong."""

    policy: str
    resource: str
    message: str


def type_name(token: str) -> str:
    """The class part of a type token: `cloudflare:index/r2Bucket:R2Bucket` -> `R2Bucket`."""
    return token.rsplit(":", 1)[-1]


def resources_of(plan: Mapping[str, Any]) -> list[PlanResource]:
    """The resources of a plan document `{"stack", "resources": [...], "outputs"}`."""
    out = []
    for item in plan.get("resources", []):
        out.append(
            PlanResource(
                type=str(item["type"]),
                name=str(item["name"]),
                parent=item.get("parent"),
                inputs=item.get("inputs") or {},
            )
        )
    return out


def of_type(resources: Sequence[PlanResource], *kinds: str) -> Iterator[PlanResource]:
    """The resources whose class name is one of `kinds`."""
    return (r for r in resources if type_name(r.type) in kinds)


def enabled(value: object) -> bool:
    """A flag that is on, or unknown: a policy that cannot tell fails closed."""
    return value is not False
