"""Errors of the tenant tool: a bad manifest (user error) vs one stack's failed operation."""

from __future__ import annotations


class ManifestError(ValueError):
    """The tenant manifest is invalid; lists every problem with where it is."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        listing = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{source} is invalid:\n{listing}")


class StackConfigError(ValueError):
    """The config of one tenant stack cannot be built (missing secret, unreadable base file)."""
