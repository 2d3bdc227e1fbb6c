"""Shared HTTP plumbing: JSON errors `{error, hint}`, bounded body parsing, identity headers."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse

from agent.runtime.errors import EngineError, ModelCallFailed, RequestError, StoreError

log = logging.getLogger("agent.runtime")
Payload = TypeVar("Payload", bound=BaseModel)
MAX_BODY_BYTES = 1 << 20


def error_response(status: int, error: str, hint: str, **extra: Any) -> JSONResponse:
    """The one error shape of the API."""
    return JSONResponse({"error": error, "hint": hint, **extra}, status_code=status)


def validation_details(error: ValidationError) -> list[dict[str, str]]:
    """Field paths and messages of a pydantic error, without echoing the input."""
    return [
        {"field": ".".join(str(p) for p in item["loc"]) or "body", "message": item["msg"]}
        for item in error.errors()
    ]


def invalid(error: ValidationError, example: str) -> RequestError:
    """A 422 naming the offending fields."""
    fields = validation_details(error)
    names = ", ".join(f["field"] for f in fields)
    return RequestError(422, f"invalid request body: {names}", f"for example {example}", fields)


async def parse_body(request: Request, model: type[Payload], example: str) -> Payload:
    """Read a JSON body of at most 1 MiB into `model`, or raise a RequestError."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise RequestError(413, "request body larger than 1 MiB", "send smaller messages")
    try:
        return model.model_validate_json(bytes(body))
    except ValidationError as error:
        raise invalid(error, example) from None


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """A JSON object, or a 422 saying the body is not one."""
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        value = None
    if not isinstance(value, dict):
        raise RequestError(
            422, "invalid request body: body must be a JSON object", 'for example {"update_id": 1}'
        )
    return value


def identity(connection: HTTPConnection) -> str:
    """The verified identity the edge put in X-Agent-User."""
    user = connection.headers.get("x-agent-user")
    if not user:
        raise RequestError(
            401, "missing X-Agent-User", "requests must come through the edge Worker"
        )
    return user


def request_id(connection: HTTPConnection) -> str:
    """The edge's X-Request-Id, or a local one."""
    return connection.headers.get("x-request-id") or uuid.uuid4().hex


def problem_response(error: Exception) -> JSONResponse:
    """Map the runtime's errors to HTTP; anything else is a logged 500 without details."""
    if isinstance(error, RequestError):
        extra = {"fields": error.fields} if error.fields is not None else {}
        return error_response(error.status, error.error, error.hint, **extra)
    if isinstance(error, StoreError):
        log.warning("state store failure: %s", error)
        return error_response(
            503, "state store unavailable; the turn was not saved", "retry in a few seconds"
        )
    if isinstance(error, ModelCallFailed):
        log.warning("model call failed: %s", error.cause)
        return error_response(502, f"{error.cause}; the turn was not saved", error.hint)
    if isinstance(error, EngineError):
        log.warning("engine failure: %s", error)
        return error_response(
            502,
            "the agent engine failed; the turn was not saved",
            "retry; the runtime's log says what failed",
        )
    log.exception("unexpected error", exc_info=error)
    return error_response(500, "internal error; the turn was not saved", "retry; see the logs")
