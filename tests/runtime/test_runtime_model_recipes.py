"""docs/models.md's one-line recipes, each run against a loopback fake of the provider's HTTP API.

The test reads every `... make dev` line from the page, loads the runtime settings from its
variables (only the host is pointed at the fake), runs a turn, and checks what reached the fake:
the provider's path, its auth header, the model name. A model that cannot answer is reported in
the chat with the URL called and what came back, never a guess, and never a secret.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest.mock import ANY
from urllib.parse import urlsplit

import httpx
import pydantic_ai.models
import pytest
from runtime_support import EDGE_TOKEN, edge_headers
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient
from suite_support import free_port, serve_app, wait_ready

from agent.runtime import ai_gateway
from agent.runtime.app import create_app
from agent.runtime.engine import create_engine
from agent.runtime.engine.deps import AgentDeps
from agent.runtime.sessions import SessionStore
from agent.runtime.settings import RuntimeSettings, load_settings
from agent.runtime.store.local import LocalDirStore

pytestmark = pytest.mark.anyio
DOC = Path(__file__).resolve().parents[2] / "docs" / "models.md"


def recipes() -> dict[str, dict[str, str]]:
    """Each `VAR=value ... make dev` line of docs/models.md, as its variables."""
    found: dict[str, dict[str, str]] = {}
    for line in DOC.read_text().splitlines():
        if line.startswith("AGENT_MODEL=") and line.endswith(" make dev"):
            words = shlex.split(line.removesuffix(" make dev"))
            found[line] = dict(word.split("=", 1) for word in words)
    return found


RECIPES = recipes()


def recipe(**wanted: str) -> dict[str, str]:
    """The one recipe whose variables include `wanted`."""
    [env] = [env for env in RECIPES.values() if wanted.items() <= env.items()]
    return env


@dataclass
class FakeProvider:
    """OpenAI chat completions and Anthropic messages on loopback, streamed like the real ones."""

    seen: list[tuple[str, dict[str, str], dict[str, Any]]] = field(default_factory=list)
    status: int = 200
    error_body: dict[str, Any] = field(default_factory=dict)

    async def handle(self, request: Request) -> Response:
        body = await request.json()
        self.seen.append((request.url.path, dict(request.headers), body))
        if self.status != 200:
            return JSONResponse(self.error_body, self.status)
        text = f"hello from {body['model']}"
        if request.url.path.endswith("/chat/completions"):
            return _sse([_openai_chunk({"role": "assistant", "content": text}, "stop")])
        if request.url.path.endswith("/v1/messages"):
            return _sse(_anthropic_events(body["model"], text), named=True)
        return JSONResponse({"error": {"message": "no such route"}}, 404)


def _sse(events: list[dict[str, Any]], *, named: bool = False) -> Response:
    lines = [
        (f"event: {event['type']}\n" if named else "") + f"data: {json.dumps(event)}\n\n"
        for event in events
    ]
    done = "" if named else "data: [DONE]\n\n"
    return Response("".join(lines) + done, media_type="text/event-stream")


def _openai_chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _anthropic_events(model: str, text: str) -> list[dict[str, Any]]:
    usage = {"input_tokens": 3, "output_tokens": 1}
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": model}
    message |= {"content": [], "stop_reason": None, "stop_sequence": None, "usage": usage}
    return [
        {"type": "message_start", "message": message},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 4},
        },
        {"type": "message_stop"},
    ]


@pytest.fixture
def fake() -> Iterator[tuple[str, FakeProvider]]:
    provider = FakeProvider()
    app = Starlette(routes=[Route("/{path:path}", provider.handle, methods=["POST"])])
    with serve_app(app, "fake model provider") as url:
        yield url, provider


@pytest.fixture(autouse=True)
def loopback_model_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pydantic_ai.models, "ALLOW_MODEL_REQUESTS", True)  # loopback only


def to_fake(url: str, fake_url: str) -> str:
    """`url` with its scheme and host:port replaced by the fake's (path kept)."""
    return fake_url + urlsplit(url).path


def settings_for(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> RuntimeSettings:
    for name in list(RuntimeSettings.model_fields):
        monkeypatch.delenv(name.upper(), raising=False)
    base = {"AGENT_TENANT": "acme", "AGENT_EDGE_TOKEN": EDGE_TOKEN, "STATE_BACKEND": "local"}
    for name, value in {**base, **env, "STATE_DIR": str(tmp_path)}.items():
        monkeypatch.setenv(name, value)
    return load_settings()


async def one_turn(settings: RuntimeSettings, tmp_path: Path) -> str:
    engine = create_engine(settings)
    store = LocalDirStore(tmp_path)
    try:
        async with httpx.AsyncClient() as http, SessionStore(store).open("s") as window:
            deps = AgentDeps(settings, store, http, "s", "u", "api", "r")
            events = [event async for event in engine.turn(window, "hi", deps)]
    finally:
        await engine.close()
    return events[-1].reply  # type: ignore[union-attr]


def test_the_page_has_every_recipe() -> None:
    models_named = sorted(env["AGENT_MODEL"].split(":")[0] for env in RECIPES.values())
    assert models_named == ["anthropic", "openai", "openai", "openai", "openai", "openai"]
    local = [
        env["AGENT_MODEL_BASE_URL"] for env in RECIPES.values() if "AGENT_MODEL_BASE_URL" in env
    ]
    assert local == [
        "http://127.0.0.1:11434/v1",  # Ollama
        "http://127.0.0.1:8080/v1",  # llama.cpp
        "http://127.0.0.1:8000/v1",  # vLLM
    ]


@pytest.mark.parametrize(
    ("provider", "path", "auth"),
    [
        ("openai", "/v1/chat/completions", ("authorization", "Bearer sk-proj-your-key")),
        # The pinned Anthropic SDK sends the key as a bearer token (anthropic/_client.py).
        ("anthropic", "/v1/messages", ("authorization", "Bearer sk-ant-your-key")),
    ],
)
@pytest.mark.slow  # over half a second of CPU (make test-cost)
async def test_a_provider_key_goes_straight_to_the_provider(
    provider: str,
    path: str,
    auth: tuple[str, str],
    fake: tuple[str, FakeProvider],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = [
        env
        for env in RECIPES.values()
        if env["AGENT_MODEL"].startswith(f"{provider}:") and "AGENT_MODEL_API_KEY" in env
    ]
    [env] = env
    fake_url, seen = fake
    real = ai_gateway.PROVIDER_URLS[provider]
    assert real.startswith("https://api.")
    monkeypatch.setitem(ai_gateway.PROVIDER_URLS, provider, to_fake(real, fake_url))
    settings = settings_for(env, tmp_path, monkeypatch)
    reply = await one_turn(settings, tmp_path)
    model = env["AGENT_MODEL"].split(":", 1)[1]
    assert reply == f"hello from {model}"
    [(called, headers, body)] = seen.seen
    assert called == path
    assert headers[auth[0]] == auth[1]
    assert ai_gateway.AI_GATEWAY_AUTH_HEADER not in headers
    assert body["model"] == model


@pytest.mark.parametrize("port", ["11434", "8080", "8000"])
async def test_a_local_openai_compatible_server(
    port: str, fake: tuple[str, FakeProvider], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    [env] = [e for e in RECIPES.values() if f":{port}/" in e.get("AGENT_MODEL_BASE_URL", "")]
    fake_url, seen = fake
    env = env | {"AGENT_MODEL_BASE_URL": to_fake(env["AGENT_MODEL_BASE_URL"], fake_url)}
    settings = settings_for(env, tmp_path, monkeypatch)
    model = env["AGENT_MODEL"].split(":", 1)[1]
    assert await one_turn(settings, tmp_path) == f"hello from {model}"
    [(called, headers, body)] = seen.seen
    assert called == "/v1/chat/completions"
    assert body["model"] == model
    assert ai_gateway.AI_GATEWAY_AUTH_HEADER not in headers


async def test_ai_gateway(
    fake: tuple[str, FakeProvider], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = recipe(AI_GATEWAY_TOKEN="your-gateway-token")
    fake_url, seen = fake
    gateway = env["AI_GATEWAY_BASE_URL"]
    assert gateway.startswith("https://gateway.ai.cloudflare.com/v1/")
    env = env | {"AI_GATEWAY_BASE_URL": to_fake(gateway, fake_url)}
    settings = settings_for(env, tmp_path, monkeypatch)
    assert await one_turn(settings, tmp_path) == "hello from gpt-5-mini"
    [(called, headers, _body)] = seen.seen
    assert called == "/v1/ACCOUNT_ID/GATEWAY_ID/openai/chat/completions"
    assert headers[ai_gateway.AI_GATEWAY_AUTH_HEADER] == "Bearer your-gateway-token"
    assert headers["authorization"] == f"Bearer {ai_gateway.AI_GATEWAY_HELD_KEY}"  # BYOK


def chat_error(settings: RuntimeSettings) -> dict[str, Any]:
    """The error the chat shows (the UI's WebSocket frame), checked equal to the HTTP API's."""
    with TestClient(create_app(settings)) as client:
        wait_ready(client, headers=edge_headers(), attempts=200)
        response = client.post(
            "/api/chat", headers=edge_headers(), json={"message": "hi", "session_id": "s1"}
        )
        with client.websocket_connect("/ws", headers=edge_headers()) as socket:
            socket.send_json({"type": "chat", "message": "hi", "session_id": "s2"})
            frame = socket.receive_json()
    assert response.status_code == 502
    body: dict[str, Any] = response.json()
    assert frame == {"type": "error", "status": 502, **body, "session_id": "s2", "turn_id": ANY}
    return body


@pytest.mark.slow  # waits seconds of real time
def test_an_unreachable_local_server_is_named_with_the_connection_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1"
    with_password = closed.replace("//", "//ollama:s3cret-password@")
    env = recipe(AGENT_MODEL="openai:llama3.2") | {"AGENT_MODEL_BASE_URL": with_password}
    body = chat_error(settings_for(env, tmp_path, monkeypatch))
    assert "s3cret" not in json.dumps(body)
    assert body["error"].startswith(
        f"the model openai:llama3.2 at {closed}/chat/completions could not be reached: "
    )
    assert re.search(r"(?i)connect", body["error"]), body
    assert body["error"].endswith("; the turn was not saved")
    assert body["hint"] == "start the model server at that URL, or fix AGENT_MODEL_BASE_URL"
    assert "Gateway" not in json.dumps(body)


def test_a_refused_key_is_named_with_the_status_and_never_shown(
    fake: tuple[str, FakeProvider], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_url, provider = fake
    provider.status = 401
    provider.error_body = {
        "error": {"message": "Incorrect API key provided: sk-proj-your-key", "type": "invalid"}
    }
    env = recipe(AGENT_MODEL="openai:gpt-5-mini", AGENT_MODEL_API_KEY="sk-proj-your-key")
    monkeypatch.setitem(ai_gateway.PROVIDER_URLS, "openai", fake_url + "/v1")
    body = chat_error(settings_for(env, tmp_path, monkeypatch))
    assert body["error"] == (
        f"the model openai:gpt-5-mini at {fake_url}/v1/chat/completions answered HTTP 401: "
        "Incorrect API key provided: [redacted]; the turn was not saved"
    )
    assert body["hint"] == "check AGENT_MODEL_API_KEY"
    assert "your-key" not in json.dumps(body)


def test_a_gateway_refusal_points_at_the_gateway(
    fake: tuple[str, FakeProvider], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_url, provider = fake
    provider.status = 404
    provider.error_body = {"error": {"message": "The model `gpt-9` does not exist"}}
    env = recipe(AI_GATEWAY_TOKEN="your-gateway-token") | {"AGENT_MODEL": "openai:gpt-9"}
    env["AI_GATEWAY_BASE_URL"] = to_fake(env["AI_GATEWAY_BASE_URL"], fake_url)
    body = chat_error(settings_for(env, tmp_path, monkeypatch))
    assert body["error"].startswith(
        f"the model openai:gpt-9 at {fake_url}/v1/ACCOUNT_ID/GATEWAY_ID/openai/chat/completions "
        "answered HTTP 404: The model `gpt-9` does not exist"
    )
    assert body["hint"].startswith("check the model name in AGENT_MODEL and AI_GATEWAY_BASE_URL")
    assert "AI Gateway > Logs" in body["hint"]
    assert "your-gateway-token" not in json.dumps(body)
