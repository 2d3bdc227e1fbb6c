"""Sessions are private to the identity that created them: list, read, append, turn-id replay
and the WebSocket all answer another identity with 404; admins read everything, audit-logged."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import suite_support
from runtime_support import edge_headers
from starlette.testclient import TestClient

from agent.runtime.app import AppDeps, create_app
from agent.runtime.settings import RuntimeSettings
from agent.runtime.store.local import LocalDirStore

ALICE, BOB, ADMIN = "alice@example.com", "bob@example.com", "ops@example.com"
A, B, OPS = edge_headers(ALICE), edge_headers(BOB), edge_headers(ADMIN)
wait_ready = partial(suite_support.wait_ready, headers=A, attempts=200)


@pytest.fixture
def private(settings: RuntimeSettings) -> RuntimeSettings:
    return settings.model_copy(update={"agent_admin_emails": "Ops@Example.com"})


@pytest.fixture
def client(private: RuntimeSettings) -> Iterator[TestClient]:
    with TestClient(create_app(private)) as test_client:
        wait_ready(test_client)
        yield test_client


def chat(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    return client.post("/api/chat", headers=headers, json=body)


def ids(client: TestClient, headers: dict[str, str], **query: Any) -> list[str]:
    response = client.get("/api/sessions", headers=headers, params=query)
    assert response.status_code == 200
    return [s["session_id"] for s in response.json()["sessions"]]


def ws_turn(client: TestClient, headers: dict[str, str], frame: dict[str, Any]) -> dict[str, Any]:
    with client.websocket_connect("/ws", headers=headers) as socket:
        socket.send_json({"type": "chat", **frame})
        while True:
            reply: dict[str, Any] = socket.receive_json()
            if reply["type"] != "delta":
                return reply


def test_another_identity_gets_404_everywhere(client: TestClient, private: RuntimeSettings) -> None:
    first = chat(client, A, message="my secret plan", session_id="alice-s", turn_id="a-1")
    assert first.status_code == 200
    chat(client, B, message="bob's own", session_id="bob-s")

    assert ids(client, A) == ["alice-s"]
    assert ids(client, B) == ["bob-s"]
    read = client.get("/api/sessions/alice-s", headers=B)
    absent = client.get("/api/sessions/no-such-session", headers=B)
    assert (read.status_code, absent.status_code) == (404, 404)
    assert read.json()["error"] == "no session 'alice-s'"  # the same answer as a missing one
    assert absent.json()["error"] == "no session 'no-such-session'"
    assert "secret" not in read.text

    append = chat(client, B, message="let me in", session_id="alice-s")
    assert append.status_code == 404
    replay = chat(client, B, message="x", session_id="alice-s", turn_id="a-1")
    assert replay.status_code == 404
    assert "secret" not in replay.text
    upper = edge_headers("BOB@example.com")  # another spelling of the same identity is still Bob
    assert chat(client, upper, message="x", session_id="alice-s").status_code == 404

    frame = ws_turn(client, B, {"message": "via ws", "session_id": "alice-s", "turn_id": "a-1"})
    assert (frame["type"], frame["status"]) == ("error", 404)
    assert "secret" not in json.dumps(frame)

    turns = client.get("/api/sessions/alice-s", headers=A).json()["turns"]
    assert [t["prompt"] for t in turns] == ["my secret plan"]  # nothing of Bob's got in
    assert client.get("/api/state", headers=B).json()["counts"]["sessions"] == 1
    # The owner keeps working in every way, the WebSocket included.
    assert ws_turn(client, A, {"message": "more", "session_id": "alice-s"})["seq"] == 2
    again = chat(client, A, message="my secret plan", session_id="alice-s", turn_id="a-1")
    assert again.json()["seq"] == 1


def test_admin_lists_and_reads_all_and_is_audit_logged(
    client: TestClient, private: RuntimeSettings, caplog: pytest.LogCaptureFixture
) -> None:
    chat(client, A, message="alice one", session_id="alice-s")
    chat(client, B, message="bob one", session_id="bob-s")
    chat(client, OPS, message="admin's own", session_id="ops-s")
    caplog.set_level(logging.INFO, logger="agent.runtime.audit")

    assert set(ids(client, OPS)) == {"alice-s", "bob-s", "ops-s"}
    assert client.get("/api/state", headers=OPS).json()["counts"]["sessions"] == 3
    read = client.get("/api/sessions/alice-s", headers=OPS)
    assert read.status_code == 200
    assert read.json()["turns"][0]["prompt"] == "alice one"
    client.get("/api/sessions/ops-s", headers=OPS)  # its own: not an audit event

    records = [
        json.loads(r.getMessage()) for r in caplog.records if r.name == "agent.runtime.audit"
    ]
    reads = [r for r in records if r["audit"] == "read_session"]
    assert reads == [
        {"audit": "read_session", "admin": ADMIN, "session_id": "alice-s", "owner": ALICE}
    ]
    listed = [r for r in records if r["audit"] == "list_sessions"]
    assert len(listed) == 1
    assert set(listed[0]["sessions"].split(",")) == {"alice-s", "bob-s"}
    stored = sorted((private.state_dir / "audit").rglob("*.json"))
    assert {json.loads(p.read_text())["audit"] for p in stored} == {"read_session", "list_sessions"}

    # Reading is not writing: an admin's turn in someone else's session is refused.
    refused = chat(client, OPS, message="admin writes", session_id="alice-s")
    assert refused.status_code == 403
    assert "not write" in refused.json()["hint"]


def test_listing_pages_with_a_cursor_over_http(client: TestClient) -> None:
    for index in range(7):
        chat(client, A, message=f"m{index}", session_id=f"p{index}")
    chat(client, B, message="bob", session_id="bob-s")
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        query = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/sessions", headers=A, params=query).json()
        pages.append([s["session_id"] for s in body["sessions"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == [["p6", "p5", "p4"], ["p3", "p2", "p1"], ["p0"]]
    for bad in ["nope", "../x", "1-x"]:
        response = client.get("/api/sessions", headers=A, params={"cursor": bad})
        assert response.status_code == 422
        assert "cursor" in response.json()["error"]
        assert "next_cursor" in response.json()["hint"]
    for name, value in [("limit", "0"), ("limit", "x"), ("before", "0")]:
        response = client.get("/api/sessions/p0", headers=A, params={name: value})
        assert response.status_code == 422
        assert name in response.json()["error"]


def test_history_pages_over_http(client: TestClient) -> None:
    for index in range(12):
        chat(client, A, message=f"m{index}", session_id="long")
    newest = client.get("/api/sessions/long", headers=A, params={"limit": 5}).json()
    assert [t["seq"] for t in newest["turns"]] == [8, 9, 10, 11, 12]
    older = client.get(
        "/api/sessions/long", headers=A, params={"limit": 5, "before": newest["older_before"]}
    ).json()
    assert [t["seq"] for t in older["turns"]] == [3, 4, 5, 6, 7]
    oldest = client.get(
        "/api/sessions/long", headers=A, params={"limit": 5, "before": older["older_before"]}
    ).json()
    assert ([t["seq"] for t in oldest["turns"]], oldest["older_before"]) == ([1, 2], None)
    assert client.get("/api/sessions/long", headers=B, params={"before": 5}).status_code == 404


def test_channel_chats_stay_shared_by_their_senders(private: RuntimeSettings) -> None:
    """A chat-platform session takes turns from every sender of that chat (a group)."""
    from agent.runtime.service import TurnRequest

    store = LocalDirStore(private.state_dir)
    with TestClient(create_app(private, AppDeps(store=store))) as client:
        wait_ready(client)
        service = client.app.state.runtime.service  # type: ignore[attr-defined]

        async def group_turns() -> list[int]:
            seqs = []
            for sender in ["telegram:1", "telegram:2"]:
                request = TurnRequest("telegram-g", f"hi from {sender}", sender, "telegram", "r")
                seqs.append((await service.turn(request)).seq)
            return seqs

        assert client.portal.call(group_turns) == [1, 2]  # type: ignore[union-attr]
        # Web identities other than admins do not see it; the admin does.
        assert client.get("/api/sessions/telegram-g", headers=A).status_code == 404
        assert client.get("/api/sessions/telegram-g", headers=OPS).status_code == 200


def test_old_layout_sessions_stay_private_after_migration(
    private: RuntimeSettings, tmp_path: Path
) -> None:
    root = private.state_dir
    for sid, owner in [("legacy-a", ALICE), ("legacy-b", BOB)]:
        meta = {
            "session_id": sid,
            "title": sid,
            "created_by": owner,
            "created_at": "2026-01-01T00:00:00Z",
        }
        (root / "session-index").mkdir(parents=True, exist_ok=True)
        (root / f"session-index/{sid}.json").write_text(json.dumps(meta))
    with TestClient(create_app(private)) as client:
        wait_ready(client)
        assert client.get("/api/sessions/legacy-a", headers=B).status_code == 404
        assert chat(client, B, message="x", session_id="legacy-a").status_code == 404
        assert chat(client, A, message="resume", session_id="legacy-a").status_code == 200
        assert ids(client, A) == ["legacy-a"]
        assert ids(client, B) == ["legacy-b"]
        assert client.get("/api/state", headers=OPS).json()["counts"]["sessions"] == 2


def test_one_new_session_claimed_by_two_identities_at_once(private: RuntimeSettings) -> None:
    """Both first turns start before either is stored: the session lock and the conditional
    owner record leave exactly one owner, and the other identity's turn is never written."""
    import asyncio

    from agent.runtime.errors import RequestError
    from agent.runtime.service import TurnRequest

    with TestClient(create_app(private)) as client:
        wait_ready(client)
        service = client.app.state.runtime.service  # type: ignore[attr-defined]

        async def both() -> list[str]:
            async def one(user: str) -> str:
                try:
                    await service.turn(TurnRequest("fresh", f"hi from {user}", user, "api", "r"))
                except RequestError as error:
                    return str(error.status)
                return user

            return list(await asyncio.gather(one(ALICE), one(BOB)))

        outcome = client.portal.call(both)  # type: ignore[union-attr]
        assert "404" in outcome
        winner = next(user for user in outcome if user != "404")
        turns = client.get("/api/sessions/fresh", headers=edge_headers(winner)).json()["turns"]
        assert [t["user"] for t in turns] == [winner]
