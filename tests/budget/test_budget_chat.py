"""Attribution, a reached spend limit, fallbacks and the job model, through the real app and the
fake AI Gateway on loopback (real model clients, real sockets)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import suite_support
from budget_support import edge_headers, gateway_settings
from fake_ai_gateway import SPEND_LIMIT_BODY, FakeAiGateway
from starlette.testclient import TestClient

from agent.runtime.app import create_app
from agent.runtime.settings import RuntimeSettings

ALICE = edge_headers("alice@example.com")
wait_ready = partial(suite_support.wait_ready, headers=ALICE, attempts=500)


@pytest.fixture
def client(settings: RuntimeSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        wait_ready(test_client)
        yield test_client


def chat(client: TestClient, message: str, session: str = "trip") -> Any:
    return client.post("/api/chat", headers=ALICE, json={"message": message, "session_id": session})


@pytest.mark.slow  # over half a second of CPU (make test-cost)
def test_every_call_carries_who_where_and_which_engine(
    client: TestClient, gateway: FakeAiGateway
) -> None:
    reply = chat(client, "hello")
    assert reply.status_code == 200, reply.text
    assert reply.json()["reply"] == "reply from gpt-5-mini"
    [call] = gateway.calls
    assert (call.path, call.model) == ("openai", "gpt-5-mini")
    assert call.metadata == {
        "tenant": "acme",
        "user": "alice@example.com",
        "session": "trip",
        "channel": "api",
        "engine": "native",
    }


@pytest.mark.slow  # waits seconds of real time
def test_a_reached_spend_limit_is_a_plain_429_once_and_nothing_is_stored(
    client: TestClient, gateway: FakeAiGateway
) -> None:
    assert chat(client, "first").status_code == 200
    gateway.spend_limit = SPEND_LIMIT_BODY
    refused = chat(client, "second")
    assert refused.status_code == 429
    assert refused.json()["error"] == "Today's budget of $5.00 is used; it resets at 00:00 UTC."
    # The SDK did not retry into the wall: one call for the refused turn.
    assert [c.status for c in gateway.calls] == [200, 429]
    turns = client.get("/api/sessions/trip", headers=ALICE).json()["turns"]
    assert [t["prompt"] for t in turns] == ["first"]  # the refused turn was not stored


@pytest.mark.slow  # over half a second of CPU (make test-cost)
def test_a_plain_rate_limit_is_still_retried(client: TestClient, gateway: FakeAiGateway) -> None:
    gateway.rate_limited = 1
    reply = chat(client, "hello")
    assert reply.status_code == 200
    assert [c.status for c in gateway.calls] == [429, 200]


def test_the_budget_message_reaches_the_websocket_as_text(
    client: TestClient, gateway: FakeAiGateway
) -> None:
    gateway.spend_limit = SPEND_LIMIT_BODY
    with client.websocket_connect("/ws", headers=ALICE) as socket:
        socket.send_text(json.dumps({"type": "chat", "message": "hi", "session_id": "trip"}))
        frames = [socket.receive_json()]
        while frames[-1]["type"] not in {"reply", "error"}:
            frames.append(socket.receive_json())
    assert frames[-1]["type"] == "error"
    assert frames[-1]["status"] == 429
    assert frames[-1]["error"] == "Today's budget of $5.00 is used; it resets at 00:00 UTC."


def test_fallbacks_are_called_by_route_name_and_the_answering_model_is_recorded(
    tmp_path: Path, gateway: FakeAiGateway
) -> None:
    gateway.routes["agent"] = ["gpt-5-mini", "claude-haiku-4-5"]
    gateway.failing.add("gpt-5-mini")
    settings = gateway_settings(tmp_path / "state", gateway, agent_model_route="agent")
    with TestClient(create_app(settings)) as client:
        wait_ready(client)
        reply = chat(client, "hello")
        assert reply.status_code == 200, reply.text
        assert reply.json()["model"] == "claude-haiku-4-5"
        turns = client.get("/api/sessions/trip", headers=ALICE).json()["turns"]
        assert [t["model"] for t in turns] == ["claude-haiku-4-5"]
    [call] = gateway.calls
    assert (call.path, call.model) == ("compat", "dynamic/agent")


def test_compaction_uses_the_job_model_and_carries_the_turns_metadata(
    tmp_path: Path, gateway: FakeAiGateway
) -> None:
    settings = gateway_settings(
        tmp_path / "state",
        gateway,
        agent_job_model="openai:gpt-5-nano",
        agent_context_tokens=1000,
    )
    with TestClient(create_app(settings)) as client:
        wait_ready(client)
        for n in range(8):
            assert chat(client, f"note {n}: " + "x" * 900).status_code == 200
            if "gpt-5-nano" in gateway.models_called():
                break
        turns = client.get("/api/sessions/trip", headers=ALICE).json()["turns"]
    summaries = [c for c in gateway.calls if c.model == "gpt-5-nano"]
    assert summaries, gateway.models_called()
    assert summaries[0].metadata == {
        "tenant": "acme",
        "user": "alice@example.com",
        "session": "trip",
        "channel": "api",
        "engine": "native",
    }
    # Replies still come from the chat model.
    assert {t["model"] for t in turns} == {"openai:gpt-5-mini"}
