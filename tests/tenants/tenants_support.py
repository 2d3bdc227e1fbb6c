"""A fake Pulumi workspace for the tenant tool: records what the Automation API would be asked."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from infra.tenants.engine import ChangeSummary, OnOutput, Operation
from infra.tenants.stacks import ConfigEntry


class StackMissingError(RuntimeError):
    """What selecting a stack that does not exist raises (like auto.StackNotFoundError)."""


@dataclass
class Behaviour:
    """How a fake stack acts: lines it prints, how long it takes, whether it fails."""

    lines: tuple[str, ...] = ("Previewing update (fake):", "+ cloudflare:index:R2Bucket bucket")
    seconds: float = 0.0
    fail_with: str | None = None
    changes: Mapping[str, int] = field(default_factory=lambda: {"create": 2, "same": 5})


@dataclass
class FakeStack:
    workspace: FakeWorkspace
    name: str
    config: dict[str, ConfigEntry] = field(default_factory=dict)
    operations: list[Operation] = field(default_factory=list)
    # What `outputs()` returns: a deployed stack's outputs, secret ones as SecretStr.
    stack_outputs: dict[str, object] = field(default_factory=dict)

    def set_config(self, config: Mapping[str, ConfigEntry]) -> None:
        self.config = dict(config)

    def _run(self, operation: Operation, on_output: OnOutput) -> ChangeSummary:
        behaviour = self.workspace.behaviour.get(self.name, Behaviour())
        self.workspace.enter()
        try:
            self.operations.append(operation)
            for line in behaviour.lines:
                on_output(line)
            time.sleep(behaviour.seconds)
            if behaviour.fail_with is not None:
                raise RuntimeError(behaviour.fail_with)
            return dict(behaviour.changes)
        finally:
            self.workspace.leave()

    def preview(self, on_output: OnOutput) -> ChangeSummary:
        return self._run(Operation.PREVIEW, on_output)

    def up(self, on_output: OnOutput) -> ChangeSummary:
        return self._run(Operation.UP, on_output)

    def destroy(self, on_output: OnOutput) -> ChangeSummary:
        return self._run(Operation.DESTROY, on_output)

    def refresh(self, on_output: OnOutput) -> ChangeSummary:
        return self._run(Operation.REFRESH, on_output)

    def outputs(self) -> dict[str, object]:
        return dict(self.stack_outputs)


class FakeWorkspace:
    """Stacks by name; counts how many operations run at the same time."""

    def __init__(self, existing: tuple[str, ...] = ()) -> None:
        self.stacks: dict[str, FakeStack] = {name: FakeStack(self, name) for name in existing}
        self.created: list[str] = []
        self.behaviour: dict[str, Behaviour] = {}
        self._lock = threading.Lock()
        self.running = 0
        self.max_running = 0

    def stack(self, name: str, *, create: bool) -> FakeStack:
        with self._lock:
            if name not in self.stacks:
                if not create:
                    raise StackMissingError(f"no stack named '{name}' found")
                self.stacks[name] = FakeStack(self, name)
                self.created.append(name)
            return self.stacks[name]

    def enter(self) -> None:
        with self._lock:
            self.running += 1
            self.max_running = max(self.max_running, self.running)

    def leave(self) -> None:
        with self._lock:
            self.running -= 1
