"""A local fake of the Cloudflare API endpoints the container provider calls, on loopback.

Just enough of `/accounts/{account}/containers/applications` (+ rollouts) and
`/accounts/{account}/workers/durable_objects/namespaces` to run the provider through the real
`cloudflare` SDK. Every request body is checked against the SDK's own TypedDict param types
(unknown keys and wrong types are rejected with 400 and recorded in `shape_errors`), the bearer
token is checked, and faults can be injected per route.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Union, get_args, get_origin

import uvicorn
from cloudflare.types.containers.application_create_params import (
    CcContainersCreateScheduledApplicationRequest,
)
from cloudflare.types.containers.application_edit_params import ApplicationEditParams
from cloudflare.types.containers.applications.rollout_create_params import (
    RolloutCreateParams,
    Step,
)
from cloudflare.types.containers.registries.credential_generate_params import (
    CredentialGenerateParams,
)
from fake_registry import FakeRegistry
from pydantic import TypeAdapter, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from typing_extensions import get_type_hints, is_typeddict

ACCOUNT_ID = "0123456789abcdef0123456789abcdef"
TOKEN = "fake-token-7d1c0b9e"
# Fields wrangler sends that the SDK's types lack (docs/container.md, "The dynamic provider").
ALLOWED_EXTRA_KEYS = frozenset({"constraints.tiers"})


def unknown_keys(tp: Any, value: Any, path: str = "") -> list[str]:
    """Dotted paths of keys in `value` that the TypedDict type `tp` does not declare."""
    if is_typeddict(tp) and isinstance(value, dict):
        hints = get_type_hints(tp)
        found: list[str] = []
        for key, item in value.items():
            dotted = f"{path}{key}"
            if key not in hints:
                if dotted not in ALLOWED_EXTRA_KEYS:
                    found.append(dotted)
            else:
                found.extend(unknown_keys(hints[key], item, f"{dotted}."))
        return found
    if get_origin(tp) is Union:
        candidates = [unknown_keys(arg, value, path) for arg in get_args(tp)]
        return min(candidates, key=len)
    if isinstance(value, list) and get_args(tp):
        return [key for item in value for key in unknown_keys(get_args(tp)[0], item, path)]
    return []


def shape_problems(tp: Any, body: dict[str, Any], *, in_account: bool = True) -> list[str]:
    """Unknown keys plus pydantic's type/required errors (account_id comes from the path)."""
    problems = [f"unknown key {key}" for key in unknown_keys(tp, body)]
    try:
        TypeAdapter(tp).validate_python({**body, "account_id": ACCOUNT_ID} if in_account else body)
    except ValidationError as error:
        problems.extend(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
    return problems


@dataclass
class Fault:
    status: int
    remaining: int


@dataclass
class FakeContainersApi:
    """State of the fake account; tests read and seed it directly."""

    namespaces: list[dict[str, Any]] = field(default_factory=list)
    applications: dict[str, dict[str, Any]] = field(default_factory=dict)
    rollouts: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    shape_errors: list[str] = field(default_factory=list)
    faults: dict[tuple[str, str], Fault] = field(default_factory=dict)
    bad_auth_attempts: int = 0
    issued_passwords: list[str] = field(default_factory=list)
    # What the credentials API answers as the registry username (not a constant on purpose).
    registry_username: str = "v1"
    # registry.cloudflare.com's manifest reads, on the same loopback server (`/v2/...`), open to
    # the credentials this fake issued.
    registry: FakeRegistry = field(default_factory=FakeRegistry)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.registry.accepts = lambda user, password: (
            user == self.registry_username and password in self.issued_passwords
        )

    def add_namespace(self, script: str, class_name: str) -> str:
        namespace_id = f"ns{next(self._ids):030d}"
        self.namespaces.append(
            {
                "id": namespace_id,
                "class": class_name,
                "name": f"{script}_{class_name}",
                "script": script,
                "use_sqlite": True,
            }
        )
        return namespace_id

    def fail(self, method: str, route: str, status: int, times: int = 1) -> None:
        """Answer the next `times` calls of `method` on `route` (a route name) with `status`."""
        self.faults[(method, route)] = Fault(status, times)

    def calls(self, method: str | None = None) -> list[tuple[str, str, Any]]:
        return [r for r in self.requests if method is None or r[0] == method]

    def seed_application(self, name: str, namespace_id: str, **config: Any) -> str:
        app_id = f"app-{next(self._ids)}"
        self.applications[app_id] = _application(
            app_id,
            name=name,
            namespace_id=namespace_id,
            configuration={
                "image": config.get("image", "registry.cloudflare.com/x/old@sha256:" + "0" * 64),
                "instance_type": config.get("instance_type", "lite"),
                "observability": {"logs": {"enabled": True}},
            },
            max_instances=config.get("max_instances", 1),
            grace=config.get("rollout_active_grace_period", 0),
        )
        return app_id

    # --- HTTP -------------------------------------------------------------------------------

    def app(self) -> Starlette:
        base = "/accounts/{account}"
        return Starlette(
            routes=[
                Route(f"{base}/workers/durable_objects/namespaces", self._namespaces, name="ns"),
                Route(
                    f"{base}/containers/applications",
                    self._apps,
                    methods=["GET", "POST"],
                    name="apps",
                ),
                Route(
                    f"{base}/containers/applications/{{app_id}}",
                    self._app,
                    methods=["GET", "PATCH", "DELETE"],
                    name="app",
                ),
                Route(
                    f"{base}/containers/applications/{{app_id}}/rollouts",
                    self._rollouts,
                    methods=["POST"],
                    name="rollouts",
                ),
                Route(
                    f"{base}/containers/registries/{{domain}}/credentials",
                    self._credentials,
                    methods=["POST"],
                    name="credentials",
                ),
                *self.registry.routes(),
            ]
        )

    async def _gate(self, request: Request, route: str) -> tuple[JSONResponse | None, Any]:
        body = await request.json() if request.method in ("POST", "PATCH") else None
        self.requests.append((request.method, request.url.path, body))
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            self.bad_auth_attempts += 1
            return _error(403, 10000, "Authentication error"), body
        if request.path_params["account"] != ACCOUNT_ID:
            return _error(404, 7003, "Could not route to account"), body
        fault = self.faults.get((request.method, route))
        if fault and fault.remaining > 0:
            fault.remaining -= 1
            return _error(fault.status, fault.status * 10, f"injected failure {fault.status}"), body
        return None, body

    def _shape(self, tp: Any, body: dict[str, Any]) -> JSONResponse | None:
        problems = shape_problems(tp, body)
        if not problems:
            return None
        self.shape_errors.extend(problems)
        return _error(400, 1001, "; ".join(problems))

    async def _namespaces(self, request: Request) -> JSONResponse:
        rejected, _ = await self._gate(request, "ns")
        if rejected:
            return rejected
        page = int(request.query_params.get("page", "1"))
        result = self.namespaces if page == 1 else []
        return _ok(result, result_info={"page": page, "per_page": 20, "count": len(result)})

    async def _apps(self, request: Request) -> JSONResponse:
        rejected, body = await self._gate(request, "apps")
        if rejected:
            return rejected
        if request.method == "GET":
            name = request.query_params.get("name")
            apps = [a for a in self.applications.values() if name is None or a["name"] == name]
            return _ok(apps)
        invalid = self._shape(CcContainersCreateScheduledApplicationRequest, body)
        if invalid:
            return invalid
        if any(a["name"] == body["name"] for a in self.applications.values()):
            return _error(409, 1409, "APPLICATION_NAME_ALREADY_EXISTS")
        namespace_id = body["durable_objects"]["namespace_id"]
        if namespace_id not in {n["id"] for n in self.namespaces}:
            return _error(400, 1400, "DURABLE_OBJECT_NAMESPACE_NOT_FOUND")
        if any(
            a["durable_objects"]["namespace_id"] == namespace_id for a in self.applications.values()
        ):
            return _error(400, 1401, "DURABLE_OBJECT_ALREADY_HAS_APPLICATION")
        app_id = f"app-{next(self._ids)}"
        self.applications[app_id] = _application(
            app_id,
            name=body["name"],
            namespace_id=namespace_id,
            configuration=body["configuration"],
            max_instances=body["max_instances"],
            grace=body.get("rollout_active_grace_period", 0),
            constraints=body.get("constraints"),
        )
        return _ok(self.applications[app_id])

    async def _app(self, request: Request) -> JSONResponse:
        rejected, body = await self._gate(request, "app")
        if rejected:
            return rejected
        app = self.applications.get(request.path_params["app_id"])
        if app is None:
            return _error(404, 1404, "APPLICATION_NOT_FOUND")
        if request.method == "DELETE":
            del self.applications[app["id"]]
            return _ok({"message": "deleted"})
        if request.method == "PATCH":
            invalid = self._shape(ApplicationEditParams, body)
            if invalid:
                return invalid
            for key in ("max_instances", "rollout_active_grace_period", "constraints"):
                if key in body:
                    app[key] = body[key]
            app["version"] += 1
        return _ok(app)

    async def _rollouts(self, request: Request) -> JSONResponse:
        rejected, body = await self._gate(request, "rollouts")
        if rejected:
            return rejected
        app = self.applications.get(request.path_params["app_id"])
        if app is None:
            return _error(404, 1404, "APPLICATION_NOT_FOUND")
        problems = shape_problems(RolloutCreateParams, body)
        for step in body.get("steps", []):
            problems.extend(shape_problems(Step, step, in_account=False))
        if "steps" in body and "step_percentage" in body:
            problems.append("specify only one of steps and step_percentage")
        if problems:
            self.shape_errors.extend(problems)
            return _error(400, 1001, "; ".join(problems))
        app["configuration"] = {**app["configuration"], **body["target_configuration"]}
        app["version"] += 1
        rollout = {"id": f"rollout-{next(self._ids)}", "app_id": app["id"], **body}
        self.rollouts.append(rollout)
        return _ok(_rollout_response(rollout, app))

    async def _credentials(self, request: Request) -> JSONResponse:
        rejected, body = await self._gate(request, "credentials")
        if rejected:
            return rejected
        invalid = self._shape(CredentialGenerateParams, body)
        if invalid:
            return invalid
        if request.path_params["domain"] != "registry.cloudflare.com":
            return _error(404, 1404, "IMAGE_REGISTRY_NOT_FOUND")
        self.issued_passwords.append(f"registry-password-{next(self._ids)}")
        return _ok(
            {
                "account_id": ACCOUNT_ID,
                "registry_host": "registry.cloudflare.com",
                "username": self.registry_username,
                "password": self.issued_passwords[-1],
            }
        )


def _application(
    app_id: str,
    *,
    name: str,
    namespace_id: str,
    configuration: dict[str, Any],
    max_instances: int,
    grace: int,
    constraints: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": app_id,
        "account_id": ACCOUNT_ID,
        "name": name,
        "scheduling_policy": "default",
        "configuration": configuration,
        "instances": 0,
        "max_instances": max_instances,
        "durable_objects": {"namespace_id": namespace_id},
        "constraints": constraints or {},
        "rollout_active_grace_period": grace,
        "version": 1,
        "created_at": "2026-11-26T00:00:00Z",
        "updated_at": "2026-11-26T00:00:00Z",
    }


def _rollout_response(rollout: dict[str, Any], app: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": rollout["id"],
        "created_at": "2026-11-26T00:00:00Z",
        "current_configuration": app["configuration"],
        "current_version": app["version"] - 1,
        "description": rollout["description"],
        "health": {"instances": {"healthy": 0, "failed": 0, "starting": 0, "scheduling": 0}},
        "kind": rollout.get("kind", "full_auto"),
        "last_updated_at": "2026-11-26T00:00:00Z",
        "status": "progressing",
        "steps": [],
        "strategy": rollout["strategy"],
        "target_configuration": rollout["target_configuration"],
        "target_version": app["version"],
    }


def _ok(result: Any, **extra: Any) -> JSONResponse:
    return JSONResponse({"success": True, "errors": [], "messages": [], "result": result, **extra})


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"success": False, "errors": [{"code": code, "message": message}], "messages": []},
        status_code=status,
    )


@contextmanager
def serve(fake: FakeContainersApi) -> Iterator[str]:
    """Run the fake on 127.0.0.1 in a thread; yields the base URL to give the SDK."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        fake.app(), log_level="warning", lifespan="off", ws="none", http="h11", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("fake Containers API did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
