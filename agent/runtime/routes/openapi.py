"""`GET /api/openapi.json`: an OpenAPI 3.1 description of the runtime's HTTP API.

Generated, not written: paths, methods and path parameters come from the app's routes, summaries
from the handlers' docstrings, bodies from the pydantic models the handlers parse and return
(their JSON Schemas). What a route alone cannot say (which model, which query parameters, which
error statuses) sits in OPERATIONS below, and a test keeps that table and the routes in step.
Like every route but /healthz it is behind the edge token. The WebSocket at /ws and the UI pages
are not HTTP APIs and are left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, RootModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from agent.runtime.attachments import ATTACHMENT_ID, AttachmentInfo
from agent.runtime.channels.config import CHANNELS
from agent.runtime.edge_auth import EDGE_TOKEN_HEADER
from agent.runtime.jobs.model import JOB_ID
from agent.runtime.payloads import ChatReply, ChatRequest, CronTick, TurnView
from agent.runtime.routes import inbound
from agent.runtime.routes.channels import CODE
from agent.runtime.routes.memory import MemoryEdit
from agent.runtime.session_index import CURSOR
from agent.runtime.sessions import SESSION_ID
from agent.runtime.tools.memory import PATH_PATTERN

if TYPE_CHECKING:
    from agent.runtime.runtime_state import Runtime

OPENAPI_PATH = "/api/openapi.json"


class ErrorBody(BaseModel):
    """The one error shape of the API."""

    model_config = ConfigDict(title="Error")

    error: str = Field(description="what is wrong")
    hint: str = Field(description="how to fix it, with a valid example")
    fields: list[dict[str, str]] | None = Field(
        default=None, description="each offending field and why"
    )


class WebhookPayload(RootModel[dict[str, Any]]):
    """A platform event as the Worker verified and forwarded it: any JSON object."""


class SessionList(BaseModel):
    """`GET /api/sessions`."""

    sessions: list[dict[str, Any]]
    next_cursor: str | None = None


class SessionTurns(BaseModel):
    """`GET /api/sessions/{session_id}`: one page of turns, and where the older page starts."""

    session_id: str
    turns: list[TurnView]
    older_before: int | None = None


@dataclass(frozen=True, slots=True)
class Operation:
    """What the route table cannot tell about one operation."""

    response: type[BaseModel] | None = None
    request: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    path: dict[str, dict[str, Any]] = field(default_factory=dict)
    query: dict[str, dict[str, Any]] = field(default_factory=dict)
    headers: dict[str, dict[str, Any]] = field(default_factory=dict)
    needs_user: bool = True
    tag: str = "api"
    # Raw bytes instead of JSON: the request body (uploads) or the success response (downloads).
    raw_request: bool = False
    raw_response: bool = False


def _limit(maximum: int, default: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": 1, "maximum": maximum, "default": default}


def _matching(pattern: re.Pattern[str]) -> dict[str, Any]:
    return {"type": "string", "pattern": pattern.pattern}


_WORKER_ONLY = "worker"
# 1-200 characters once surrounding blanks are stripped; required.
_SEARCH_QUERY = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"\S"}
# Statuses every operation behind the token may answer besides its own.
_COMMON_ERRORS = (401, 403, 422, 503)

OPERATIONS: dict[tuple[str, str], Operation] = {
    ("GET", "/healthz"): Operation(needs_user=False, errors=(), tag="health"),
    ("GET", "/readyz"): Operation(needs_user=False, tag="health"),
    ("GET", OPENAPI_PATH): Operation(needs_user=False, tag="health"),
    # 404: the session belongs to another identity (existence is not leaked).
    ("POST", "/api/chat"): Operation(
        request=ChatRequest, response=ChatReply, errors=(404, 413, 502, 504)
    ),
    ("GET", "/api/sessions"): Operation(
        response=SessionList,
        query={"limit": _limit(1000, 100), "cursor": _matching(CURSOR)},
    ),
    ("GET", "/api/sessions/{session_id}"): Operation(
        response=SessionTurns,
        path={"session_id": _matching(SESSION_ID)},
        query={
            "limit": _limit(500, 50),
            "before": {"type": "integer", "minimum": 1, "maximum": 99_999_999},
        },
        errors=(404,),
    ),
    ("POST", "/webhooks/{channel}"): Operation(
        request=WebhookPayload,
        status=202,
        errors=(400, 404, 413),
        path={"channel": _matching(inbound.CHANNEL)},
        headers={
            "X-Agent-Channel": {"type": "string"},
            "X-Request-Id": _matching(inbound.REQUEST_ID),
        },
        needs_user=False,
        tag=_WORKER_ONLY,
    ),
    ("POST", "/internal/cron"): Operation(
        request=CronTick, status=202, errors=(413,), needs_user=False, tag=_WORKER_ONLY
    ),
    ("GET", "/api/channels"): Operation(),
    ("GET", "/api/pairings"): Operation(),
    ("POST", "/api/pairings/{channel}/{code}/approve"): Operation(
        path={"channel": {"enum": list(CHANNELS)}, "code": _matching(CODE)}, errors=(404, 409)
    ),
    ("GET", "/api/memory"): Operation(),
    ("GET", "/api/memory/search"): Operation(query={"q": _SEARCH_QUERY, "limit": _limit(100, 20)}),
    ("GET", "/api/memory/{path}"): Operation(path={"path": _matching(PATH_PATTERN)}, errors=(404,)),
    ("PUT", "/api/memory/{path}"): Operation(
        request=MemoryEdit, path={"path": _matching(PATH_PATTERN)}, errors=(409, 412, 413)
    ),
    ("GET", "/api/jobs"): Operation(),
    ("DELETE", "/api/jobs/{job_id}"): Operation(path={"job_id": _matching(JOB_ID)}, errors=(404,)),
    ("GET", "/api/state"): Operation(),
    # 502: the gateway's logs could not be read (without a logs token: 200, spend not shown).
    ("GET", "/api/usage"): Operation(errors=(502,)),
    # The body is the file's raw bytes (any Content-Type: the type is read from the content).
    ("POST", "/api/attachments"): Operation(
        response=AttachmentInfo,
        status=201,
        query={"name": {"type": "string", "maxLength": 1000, "default": "attachment"}},
        errors=(413, 415),
        raw_request=True,
    ),
    # `user`: another identity's file (admins only, audited; 404 otherwise).
    ("GET", "/api/attachments/{attachment_id}"): Operation(
        path={"attachment_id": _matching(ATTACHMENT_ID)},
        query={"user": {"type": "string", "maxLength": 320}},
        errors=(404,),
        raw_response=True,
    ),
}


def _schemas() -> dict[str, Any]:
    models: list[tuple[type[BaseModel], Any]] = [(ErrorBody, "serialization")]
    for operation in OPERATIONS.values():
        if operation.request is not None:
            models.append((operation.request, "validation"))
        if operation.response is not None:
            models.append((operation.response, "serialization"))
    _, schema = models_json_schema(
        list(dict.fromkeys(models)), ref_template="#/components/schemas/{model}"
    )
    defs: dict[str, Any] = schema.get("$defs", {})
    return defs


def _ref(model: type[BaseModel]) -> dict[str, str]:
    title = model.model_config.get("title") or model.__name__
    return {"$ref": f"#/components/schemas/{title}"}


_BYTES = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _operation(route: Route, method: str, operation: Operation) -> dict[str, Any]:
    doc = (route.endpoint.__doc__ or route.name).strip().splitlines()
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": operation.path.get(name, {"type": "string"}),
        }
        for name in route.param_convertors
    ]
    parameters += [
        {"name": name, "in": "query", "required": "default" not in schema, "schema": schema}
        for name, schema in operation.query.items()
    ]
    parameters += [
        {"name": name, "in": "header", "required": True, "schema": schema}
        for name, schema in operation.headers.items()
    ]
    if operation.needs_user:
        parameters.append(
            {
                "name": "X-Agent-User",
                "in": "header",
                "required": True,
                "description": "the identity the edge verified",
                "schema": {"type": "string", "minLength": 1},
            }
        )
    success = _ref(operation.response) if operation.response else {"type": "object"}
    content = _BYTES if operation.raw_response else _json(success)
    responses: dict[str, Any] = {
        str(operation.status): {"description": "success", "content": content}
    }
    errors = operation.errors if route.path == "/healthz" else (*_COMMON_ERRORS, *operation.errors)
    for status in sorted(set(errors)):
        responses[str(status)] = {"description": "error", "content": _json(_ref(ErrorBody))}
    spec: dict[str, Any] = {
        "operationId": f"{method.lower()}_{route.name}",
        "summary": doc[0],
        "tags": [operation.tag],
        "parameters": parameters,
        "responses": responses,
    }
    if operation.raw_request:
        spec["requestBody"] = {"required": True, "content": _BYTES}
    if operation.request is not None:
        spec["requestBody"] = {"required": True, "content": _json(_ref(operation.request))}
    if route.path == "/healthz":
        spec["security"] = []
    return spec


def _openapi_path(path: str) -> str:
    return re.sub(r"{(\w+):\w+}", r"{\1}", path)


def build_openapi(routes: list[BaseRoute], max_attachments: int | None = None) -> dict[str, Any]:
    """The OpenAPI document for these routes (HTTP API routes only).

    `max_attachments` is this deployment's AGENT_ATTACHMENT_MAX_PER_MESSAGE: the document states
    the limit in force, not only the model's ceiling, so a client never sends a list it cannot pass.
    """
    schemas = _schemas()
    for name in ("ChatRequest", "WsChatFrame"):
        listed = schemas.get(name, {}).get("properties", {}).get("attachments")
        if listed is not None:
            listed["items"] = {"type": "string", "pattern": ATTACHMENT_ID.pattern}
            if max_attachments is not None:
                listed["maxItems"] = max_attachments
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not isinstance(route, Route):
            continue
        path = _openapi_path(route.path)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            operation = OPERATIONS.get((method, path))
            if operation is not None:
                paths.setdefault(path, {})[method.lower()] = _operation(route, method, operation)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "edgeagent runtime",
            "version": "1",
            "description": "Reached only through the edge Worker, which adds the edge token and "
            "the verified identity. Chat also streams over the WebSocket at /ws.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "edgeToken": {"type": "apiKey", "in": "header", "name": EDGE_TOKEN_HEADER}
            },
        },
        "security": [{"edgeToken": []}],
    }


async def openapi_json(request: Request) -> JSONResponse:
    """This API's OpenAPI description."""
    runtime: Runtime = request.app.state.runtime
    limit = runtime.settings.agent_attachment_max_per_message
    return JSONResponse(build_openapi(request.app.routes, max_attachments=limit))


routes = [Route(OPENAPI_PATH, openapi_json, methods=["GET"])]
