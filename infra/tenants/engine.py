"""The seam between the tenant tool and Pulumi: a workspace of stacks and their four operations.

`infra.tenants.automation` implements it with the Pulumi Automation API (needs the pulumi CLI);
tests plug in a fake. Nothing here runs Pulumi.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Protocol

from infra.tenants.stacks import ConfigEntry

OnOutput = Callable[[str], None]


class Operation(StrEnum):
    """What to do to each selected stack."""

    PREVIEW = "preview"
    UP = "up"
    DESTROY = "destroy"
    REFRESH = "refresh"

    @property
    def creates_stack(self) -> bool:
        """Preview and up create a missing stack; refresh and destroy need an existing one."""
        return self in (Operation.PREVIEW, Operation.UP)


# Resource operation ("create", "update", "same", "delete", ...) -> how many resources.
ChangeSummary = Mapping[str, int]

# Output name -> value; secret outputs arrive wrapped in SecretStr so they never print by accident.
StackOutputs = Mapping[str, object]


class Stack(Protocol):
    """One selected Pulumi stack."""

    @property
    def name(self) -> str: ...

    def set_config(self, config: Mapping[str, ConfigEntry]) -> None:
        """Make the stack's config exactly `config` (keys absent from it are removed)."""

    def preview(self, on_output: OnOutput) -> ChangeSummary:
        """`pulumi preview --diff`, streaming output lines."""

    def up(self, on_output: OnOutput) -> ChangeSummary:
        """`pulumi up --yes`, streaming output lines."""

    def destroy(self, on_output: OnOutput) -> ChangeSummary:
        """`pulumi destroy --yes`, streaming output lines."""

    def refresh(self, on_output: OnOutput) -> ChangeSummary:
        """`pulumi refresh --yes`, streaming output lines."""

    def outputs(self) -> StackOutputs:
        """The outputs of the last deployment (`pulumi stack output`), secrets as SecretStr."""


class Workspace(Protocol):
    """Where stacks live (a Pulumi project directory and its backend)."""

    def stack(self, name: str, *, create: bool) -> Stack:
        """Select stack `name`; create it first when `create` is true and it does not exist."""


def run_operation(stack: Stack, operation: Operation, on_output: OnOutput) -> ChangeSummary:
    """Dispatch one operation to its method."""
    match operation:
        case Operation.PREVIEW:
            return stack.preview(on_output)
        case Operation.UP:
            return stack.up(on_output)
        case Operation.DESTROY:
            return stack.destroy(on_output)
        case Operation.REFRESH:
            return stack.refresh(on_output)
