"""The runtime's OpenAPI description: generated from the routes, behind the edge token, and a
schemathesis run against it (in-process ASGI, bounded examples) finds no 5xx and no response that
breaks it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
import schemathesis
import suite_support
from hypothesis import HealthCheck, given, settings
from runtime_support import EDGE_TOKEN, edge_headers
from schemathesis.checks import positive_data_acceptance
from schemathesis.config import SchemathesisConfig
from starlette.routing import Route
from starlette.testclient import TestClient

from agent.runtime.app import create_app
from agent.runtime.routes.openapi import OPENAPI_PATH, OPERATIONS
from agent.runtime.settings import RuntimeSettings

H = edge_headers()
TOKEN = {"X-Agent-Edge-Token": EDGE_TOKEN}
wait_ready = partial(suite_support.wait_ready, headers=H, attempts=200)
EXAMPLES_PER_OPERATION = 25
NOT_HTTP_API = {"/ws", "/", "/ui", "/usage", "/_agent", "/_agent/"}
# Rules OpenAPI cannot state, so a schema-valid request may still be refused there: the webhook's
# X-Agent-Channel header must equal its {channel} path segment (400 otherwise).
# Webhooks are signed; an upload's type is read from its bytes (an executable is refused, 415).
UNDESCRIBABLE = {
    "POST /webhooks/{channel}": [positive_data_acceptance],
    "POST /api/attachments": [positive_data_acceptance],
}


@pytest.fixture
def client(settings: RuntimeSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        wait_ready(test_client)
        yield test_client


def test_the_description_is_behind_the_edge_token(client: TestClient) -> None:
    assert client.get(OPENAPI_PATH).status_code == 401
    assert client.get(OPENAPI_PATH, headers={"X-Agent-Edge-Token": "wrong"}).status_code == 401
    doc = client.get(OPENAPI_PATH, headers=TOKEN).json()
    assert doc["openapi"] == "3.1.0"
    assert doc["components"]["securitySchemes"]["edgeToken"]["name"] == "x-agent-edge-token"
    chat = doc["paths"]["/api/chat"]["post"]
    assert chat["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ChatRequest"
    }
    assert doc["components"]["schemas"]["ChatRequest"]["properties"]["message"]["maxLength"]
    assert doc["paths"]["/api/memory/{path}"]["put"]["parameters"][0]["name"] == "path"


def test_every_http_route_is_described_and_nothing_else(client: TestClient) -> None:
    doc = client.get(OPENAPI_PATH, headers=TOKEN).json()
    described = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    routed = {
        (method, route.path.replace(":path}", "}"))
        for route in client.app.routes  # type: ignore[attr-defined]
        if isinstance(route, Route) and route.path not in NOT_HTTP_API
        for method in (route.methods or set()) - {"HEAD"}
    }
    assert described == routed == set(OPERATIONS)


@pytest.mark.slow  # seconds of CPU: `make test` runs it, `make test-fast` does not
def test_schemathesis_finds_no_server_error_and_no_schema_violation(tmp_path: Path) -> None:
    settings_ = RuntimeSettings(
        agent_tenant="acme",
        agent_edge_token=EDGE_TOKEN,
        state_backend="local",
        state_dir=tmp_path / "state",
    )
    app = create_app(settings_)
    # The token through the document's own security scheme, so schemathesis also checks that
    # each operation refuses a request without it.
    config = SchemathesisConfig.from_dict(
        {"auth": {"openapi": {"edgeToken": {"api_key": EDGE_TOKEN}}}}
    )
    schema = schemathesis.openapi.from_asgi(OPENAPI_PATH, app, config=config, headers=TOKEN)
    # Schemathesis runs the app's lifespan itself (once per app): wait until it is ready.
    readyz = schema["/readyz"]["GET"]
    for _ in range(200):
        if readyz.Case().call().status_code == 200:
            break
        time.sleep(0.01)
    failures: list[str] = []
    calls: dict[str, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            settings.get_profile("edgeagent"),
            max_examples=EXAMPLES_PER_OPERATION,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:
            calls[case.operation.label] = calls.get(case.operation.label, 0) + 1
            case.call_and_validate(excluded_checks=UNDESCRIBABLE.get(case.operation.label, []))

        try:
            check()
        except Exception as error:  # collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {error}")
    assert failures == []
    exercised = {tuple(label.split(" ", 1)) for label in calls}
    # Every operation was called (schemathesis leaves out the document it was loaded from).
    assert exercised == set(OPERATIONS) - {("GET", OPENAPI_PATH)}


def test_the_description_states_the_attachment_limit_in_force(client: TestClient) -> None:
    doc = client.get(OPENAPI_PATH, headers=TOKEN).json()
    listed = doc["components"]["schemas"]["ChatRequest"]["properties"]["attachments"]
    limit = client.app.state.runtime.settings.agent_attachment_max_per_message  # type: ignore[attr-defined]
    assert listed["maxItems"] == limit == 4
    assert listed["items"]["pattern"] == "^[0-9a-f]{64}$"
