"""`send_file` through the web API with the offline model: a memory file becomes the turn's file,
readable by its owner only; paths outside the workspace's sendable files are refused."""

from __future__ import annotations

import hashlib
from functools import partial

import pytest
import suite_support
from starlette.testclient import TestClient
from tools_support import EDGE_TOKEN

from agent.runtime.app import create_app
from agent.runtime.settings import RuntimeSettings
from agent.runtime.tools.send_file import sendable

ALICE = {"X-Agent-Edge-Token": EDGE_TOKEN, "X-Agent-User": "alice@example.com"}
BOB = {"X-Agent-Edge-Token": EDGE_TOKEN, "X-Agent-User": "bob@example.com"}
wait_ready = partial(suite_support.wait_ready, headers=ALICE, attempts=200)


def chat(client: TestClient, message: str) -> dict[str, object]:
    response = client.post(
        "/api/chat", headers=ALICE, json={"message": message, "session_id": "files"}
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_a_memory_file_is_sent_to_the_chat_and_served_to_its_owner_only(
    settings: RuntimeSettings,
) -> None:
    with TestClient(create_app(settings)) as client:
        wait_ready(client)
        chat(client, "remember that the cat is called Tom")
        sent = chat(client, "send me MEMORY.md")
        assert str(sent["reply"]).startswith("[offline model] Here it is: sent MEMORY.md")
        [file] = sent["files"]  # type: ignore[misc]
        memory = (settings.state_dir / "workspace" / "MEMORY.md").read_bytes()
        assert file == {
            "id": hashlib.sha256(memory).hexdigest(),
            "name": "MEMORY.md",
            "type": "text/plain",
            "size": len(memory),
            "transcript": None,
            "transcript_note": None,
        }
        turn = client.get("/api/sessions/files", headers=ALICE).json()["turns"][-1]
        assert [f["name"] for f in turn["files"]] == ["MEMORY.md"]
        served = client.get(f"/api/attachments/{file['id']}", headers=ALICE)
        assert (served.status_code, served.content) == (200, memory)
        assert client.get(f"/api/attachments/{file['id']}", headers=BOB).status_code == 404
        # A file that does not exist is not sent: the tool asks the model to pick another.
        missing = chat(client, "send me memory/2020-01-01.md")
        assert missing["files"] == []


@pytest.mark.parametrize(
    ("path", "ok"),
    [
        ("MEMORY.md", True),
        ("memory/2026-11-26.md", True),
        ("screenshots/files-20261126T101500Z-1a2b3c.png", True),
        ("../MEMORY.md", False),
        ("screenshots/../../attachments/x.png", False),
        ("memory/notes.txt", False),
        ("jobs/abc.json", False),
        ("screenshots/shot.jpg", False),
    ],
)
def test_only_screenshots_and_memory_files_can_be_sent(path: str, ok: bool) -> None:
    assert sendable(path) is ok
