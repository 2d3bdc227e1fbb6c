"""The runtime's error taxonomy: configuration mistakes, bad requests, and run failures."""

from __future__ import annotations


class RuntimeHostError(Exception):
    """Base of every error the runtime raises on purpose."""


class ConfigError(RuntimeHostError):
    """The environment is missing a variable or holds an invalid one; startup stops."""


class RequestError(RuntimeHostError):
    """A client sent something the runtime cannot act on (maps to HTTP 4xx)."""

    def __init__(
        self, status: int, error: str, hint: str, fields: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.hint = hint
        self.fields = fields


class StoreError(RuntimeHostError):
    """The state store failed; the turn is not acknowledged."""


class PreconditionFailed(StoreError):
    """A conditional write lost: the object exists (If-None-Match) or changed (If-Match)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"conditional write to {key!r} lost to a concurrent writer")
        self.key = key


class EngineError(RuntimeHostError):
    """The agent engine could not produce a reply; the turn is not stored or acknowledged."""


class ModelCallFailed(EngineError):
    """The model could not be reached or refused the call; `cause` says which URL and why."""

    def __init__(self, cause: str, hint: str) -> None:
        super().__init__(cause)
        self.cause = cause
        self.hint = hint


class DeliveryError(Exception):
    """A platform refused or failed a message; `retryable` says whether trying again can help.

    Channel adapters raise it (agent/runtime/channels/base.py re-exports it as part of the adapter
    contract); the outbox decides from it whether to retry. Not a RuntimeHostError: it never reaches
    an HTTP handler.
    """

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
