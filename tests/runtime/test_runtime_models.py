"""The model factory: AGENT_MODEL to a pydantic-ai model behind AI Gateway, checked on the wire."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pydantic_ai.models
import pytest
import uvicorn
from runtime_support import EDGE_TOKEN, free_port
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agent.runtime.ai_gateway import AI_GATEWAY_AUTH_HEADER, model_endpoint
from agent.runtime.engine import create_engine
from agent.runtime.engine.deps import AgentDeps
from agent.runtime.engine.models import build_model
from agent.runtime.sessions import SessionStore
from agent.runtime.settings import RuntimeSettings
from agent.runtime.store.local import LocalDirStore

pytestmark = pytest.mark.anyio
GATEWAY = "https://gateway.ai.cloudflare.com/v1/acct/gw"


def remote(tmp_path: Path, model: str, **extra: Any) -> RuntimeSettings:
    return RuntimeSettings(
        agent_tenant="acme",
        agent_edge_token=EDGE_TOKEN,
        state_backend="local",
        state_dir=tmp_path,
        agent_model=model,
        **extra,
    )


@pytest.mark.parametrize(
    ("model", "suffix"),
    [
        ("openai:gpt-5-mini", "/openai"),
        ("compat:openai/gpt-5-mini", "/compat"),
        ("workers-ai:@cf/meta/llama-3.3-70b-instruct-fp8-fast", "/workers-ai/v1"),
        ("anthropic:claude-sonnet-4-5", "/anthropic"),
    ],
)
@pytest.mark.slow  # over half a second of CPU (make test-cost)
def test_gateway_url_and_auth_header(tmp_path: Path, model: str, suffix: str) -> None:
    settings = remote(
        tmp_path, model, ai_gateway_base_url=GATEWAY + "/", ai_gateway_token="gw-token-123"
    )
    base, headers = model_endpoint(settings)
    assert base == GATEWAY + suffix
    assert headers == {AI_GATEWAY_AUTH_HEADER: "Bearer gw-token-123"}
    built = build_model(settings)
    assert built.model_name == model.split(":", 1)[1]
    client: Any = built.client  # type: ignore[attr-defined]
    assert str(client.base_url).rstrip("/") == GATEWAY + suffix
    assert client.default_headers[AI_GATEWAY_AUTH_HEADER] == "Bearer gw-token-123"


def test_direct_endpoint_never_gets_the_gateway_token(tmp_path: Path) -> None:
    settings = remote(
        tmp_path,
        "openai:llama3",
        agent_model_base_url="http://127.0.0.1:1/v1",
        ai_gateway_base_url=GATEWAY,
        ai_gateway_token="gw-token-123",
    )
    assert model_endpoint(settings) == ("http://127.0.0.1:1/v1", {})


class FakeGateway:
    """An OpenAI-compatible endpoint on loopback that records what it was sent."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], dict[str, Any]]] = []

    async def completions(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append((request.url.path, dict(request.headers), body))
        if not body.get("stream"):
            return JSONResponse(_completion("hello from the gateway"))
        chunks = [
            _chunk({"role": "assistant", "content": "hello "}, None),
            _chunk({"content": "from the gateway"}, "stop"),
        ]
        sse = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        return Response(sse, media_type="text/event-stream")


def _completion(text: str) -> dict[str, Any]:
    return {
        "id": "c1",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-5-mini",
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    }


def _chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "gpt-5-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


@pytest.fixture
def fake_gateway() -> Iterator[tuple[str, FakeGateway]]:
    fake = FakeGateway()
    app = Starlette(
        routes=[Route("/v1/acct/gw/openai/chat/completions", fake.completions, methods=["POST"])]
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}/v1/acct/gw", fake
    server.should_exit = True
    thread.join(5)


async def test_a_turn_goes_through_the_gateway_with_its_token(
    tmp_path: Path, fake_gateway: tuple[str, FakeGateway], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, fake = fake_gateway
    monkeypatch.setattr(pydantic_ai.models, "ALLOW_MODEL_REQUESTS", True)  # loopback only
    settings = remote(
        tmp_path, "openai:gpt-5-mini", ai_gateway_base_url=base, ai_gateway_token="gw-token-123"
    )
    engine = create_engine(settings)
    sessions = SessionStore(LocalDirStore(tmp_path))
    async with httpx.AsyncClient() as http, sessions.open("s") as window:
        deps = AgentDeps(
            settings=settings,
            store=LocalDirStore(tmp_path),
            http=http,
            session_id="s",
            user="u",
            channel="api",
            request_id="r",
        )
        events = [event async for event in engine.turn(window, "hi", deps)]
    await engine.close()
    assert events[-1].reply == "hello from the gateway"  # type: ignore[union-attr]
    path, headers, body = fake.requests[0]
    assert path == "/v1/acct/gw/openai/chat/completions"
    assert headers[AI_GATEWAY_AUTH_HEADER] == "Bearer gw-token-123"
    assert body["model"] == "gpt-5-mini"
    assert body["messages"][-1] == {"role": "user", "content": "hi"}
    assert not engine.offline


def test_model_requests_are_disabled_in_tests() -> None:
    assert pydantic_ai.models.ALLOW_MODEL_REQUESTS is False
