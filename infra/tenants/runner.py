"""Run one operation over many tenant stacks: bounded parallelism, progress per stack, and a
failure in one stack reported without stopping the others."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TextIO

from infra.tenants.engine import ChangeSummary, Operation, Workspace, run_operation
from infra.tenants.stacks import ConfigEntry, StackTarget

ConfigFor = Callable[[StackTarget], Mapping[str, ConfigEntry]]
REDACTED = "[secret]"


@dataclass(frozen=True)
class Outcome:
    """How one stack's operation ended."""

    target: StackTarget
    ok: bool
    seconds: float
    changes: ChangeSummary = field(default_factory=dict)
    error: str = ""


class Progress:
    """Thread-safe line printer: every line names its stack; secrets of that stack are masked."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def line(self, stack: str, text: str, secrets: Sequence[str] = ()) -> None:
        for secret in secrets:
            text = text.replace(secret, REDACTED)
        with self._lock:
            for part in text.rstrip("\n").splitlines() or [""]:
                self._stream.write(f"[{stack}] {part}\n")
            self._stream.flush()


def describe_changes(changes: ChangeSummary) -> str:
    """`create 3, same 9` (stable order), or `no changes`."""
    shown = [f"{op} {count}" for op, count in sorted(changes.items()) if count]
    return ", ".join(shown) or "no changes"


def _run_one(
    workspace: Workspace,
    target: StackTarget,
    operation: Operation,
    config_for: ConfigFor,
    progress: Progress,
) -> Outcome:
    started = time.monotonic()
    secrets: list[str] = []
    try:
        config = config_for(target)
        secrets = [e.value.get_secret_value() for e in config.values() if e.secret]
        progress.line(target.name, f"{operation.value}: selecting stack", secrets)
        stack = workspace.stack(target.name, create=operation.creates_stack)
        stack.set_config(config)
        progress.line(target.name, f"{operation.value}: config written ({len(config)} keys)")
        changes = run_operation(
            stack, operation, lambda text: progress.line(target.name, text, secrets)
        )
    except Exception as error:  # one stack's failure must not stop the others
        message = f"{type(error).__name__}: {error}"
        for secret in secrets:
            message = message.replace(secret, REDACTED)
        elapsed = time.monotonic() - started
        progress.line(target.name, f"FAILED after {elapsed:.1f} s: {message}")
        return Outcome(target, ok=False, seconds=elapsed, error=message)
    elapsed = time.monotonic() - started
    progress.line(target.name, f"done in {elapsed:.1f} s: {describe_changes(changes)}")
    return Outcome(target, ok=True, seconds=elapsed, changes=dict(changes))


def run_all(
    workspace: Workspace,
    targets: Sequence[StackTarget],
    operation: Operation,
    config_for: ConfigFor,
    *,
    jobs: int,
    progress: Progress,
) -> list[Outcome]:
    """Run `operation` on every target, at most `jobs` at a time; outcomes in target order."""
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}; example: --jobs 4")
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="tenant") as pool:
        futures = [
            pool.submit(_run_one, workspace, target, operation, config_for, progress)
            for target in targets
        ]
        return [future.result() for future in futures]


def _headline(text: str, limit: int = 160) -> str:
    """The line that says what went wrong: the CLI's `error:` line, else the first line.

    The full (multi-line) error is in the progress output above the table."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    cli_errors = [line for line in lines if re.match(r"^(stderr: )?error: ", line)]
    line = cli_errors[-1].removeprefix("stderr: ") if cli_errors else (lines or ["failed"])[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"


def summary_table(outcomes: Sequence[Outcome]) -> str:
    """A plain-text table of every stack's result."""
    rows = [("stack", "result", "seconds", "changes / error")]
    for outcome in outcomes:
        rows.append(
            (
                outcome.target.name,
                "ok" if outcome.ok else "FAILED",
                f"{outcome.seconds:.1f}",
                describe_changes(outcome.changes) if outcome.ok else _headline(outcome.error),
            )
        )
    return format_table(rows)


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces; the first row is the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)
