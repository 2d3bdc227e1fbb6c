"""Errors the Pulumi program raises on purpose: bad configuration and a bundle it cannot build."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One bad configuration key: which key, what is wrong, and a valid example."""

    key: str
    reason: str
    example: str | None = None

    def render(self) -> str:
        """One line: `key: reason (example: ...)`."""
        suffix = f" (example: {self.example})" if self.example else ""
        return f"{self.key}: {self.reason}{suffix}"


class EdgeAgentError(Exception):
    """Base class of every error the program raises deliberately."""


class ConfigError(EdgeAgentError):
    """Stack configuration is invalid; the message lists every bad key at once."""

    def __init__(self, stack: str, issues: list[ConfigIssue]) -> None:
        self.stack = stack
        self.issues = sorted(issues, key=lambda issue: (issue.key, issue.reason))
        lines = "\n".join(f"  - {issue.render()}" for issue in self.issues)
        count = len(self.issues)
        plural = "problem" if count == 1 else "problems"
        super().__init__(f"invalid configuration for stack {stack!r} ({count} {plural}):\n{lines}")


class BuildError(EdgeAgentError):
    """The edge bundle is missing or stale and cannot be built here."""
