"""The tools wired into the runtime: a model (FunctionModel script, streamed through the native
engine) uses every default tool in one chat turn; then cron ticks run the job it scheduled."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
import suite_support
from starlette.testclient import TestClient
from tools_support import H, LoopbackSite, Script, loopback_site, send

from agent.runtime.app import create_app
from agent.runtime.engine import models
from agent.runtime.settings import RuntimeSettings

pytestmark = pytest.mark.slow

PAGE = "<html><head><title>Hut</title></head><body><p>Open until October</p></body></html>"
wait_ready = partial(suite_support.wait_ready, headers=H, attempts=300)


@pytest.fixture
def site() -> Iterator[LoopbackSite]:
    with loopback_site({"/hut": send(PAGE)}) as running:
        yield running


def tick(client: TestClient, when: datetime) -> dict[str, object]:
    body = {"cron": "* * * * *", "scheduled_time": when.strftime("%Y-%m-%dT%H:%M:%SZ")}
    response = client.post("/internal/cron", headers={**H, **suite_support.INTERNAL}, json=body)
    assert response.status_code == 202
    result: dict[str, object] = response.json()
    return result


def test_one_turn_uses_every_tool_and_the_job_fires_on_a_later_tick(
    settings: RuntimeSettings,
    cdp_url: str,
    site: LoopbackSite,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Far enough ahead that the turn (Chromium, fetch, memory) has scheduled it before it is due,
    # even on a loaded CI machine; the test sleeps only for what remains.
    due = datetime.now(UTC) + timedelta(seconds=20)
    script = Script(
        [
            [("remember", {"note": "The hut is Refuge du Goûter", "long_term": True})],
            [("fetch_url", {"url": f"{site.base}/hut"}), ("search_memory", {"query": "hut"})],
            [("open_page", {"url": f"{site.base}/hut"})],
            [
                ("schedule_job", {"prompt": "Check the hut", "at": due.isoformat()}),
                ("schedule_job", {"prompt": "Weekly weather", "cron": "0 7 * * 6"}),
            ],
        ]
    )
    monkeypatch.setattr(models, "build_model", lambda _settings: script.model())
    configured = settings.model_copy(
        update={"browser_cdp_url": cdp_url, "web_fetch_allowlist": "127.0.0.1"}
    )
    with TestClient(create_app(configured)) as client:
        wait_ready(client)
        reply = client.post("/api/chat", headers=H, json={"message": "plan", "session_id": "trip"})
        assert reply.status_code == 200
        text = reply.json()["reply"]
        assert "remember: remembered in memory/" in text
        assert "fetch_url: URL: http://127.0.0.1" in text
        assert "# Hut\n\nOpen until October" in text
        assert "search_memory: MEMORY.md:1: - The hut is Refuge du Goûter" in text
        assert "open_page: HTTP 200" in text
        assert text.count("schedule_job: scheduled ") == 2, text

        files = client.get("/api/memory", headers=H).json()["files"]
        assert files[0]["path"] == "MEMORY.md"
        jobs = {j["prompt"]: j for j in client.get("/api/jobs", headers=H).json()["jobs"]}
        assert set(jobs) == {"Check the hut", "Weekly weather"}
        assert jobs["Check the hut"]["status"] == "active"
        assert jobs["Check the hut"]["channel"] == "api"
        assert "conversation" not in jobs["Check the hut"]

        requests_before = script.requests
        early = tick(client, datetime.now(UTC))
        assert early["jobs"] == {"due": 0, "ran": 0, "failed": 0, "skipped": 0}
        assert script.requests == requests_before  # an idle tick spends no tokens

        time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 0.1)
        fired = tick(client, due)
        assert fired["jobs"] == {"due": 1, "ran": 1, "failed": 0, "skipped": 0}
        again = tick(client, due)  # the edge redelivers the same tick
        assert again["duplicate"] is True
        assert again["jobs"] == {"due": 0, "ran": 0, "failed": 0, "skipped": 0}
        turns = client.get("/api/sessions/trip", headers=H).json()["turns"]
        hut = jobs["Check the hut"]["id"]
        assert [t["prompt"] for t in turns] == ["plan", f"[scheduled job {hut}] Check the hut"]

        weekly = jobs["Weekly weather"]["id"]
        cancelled = client.delete(f"/api/jobs/{weekly}", headers=H)
        assert cancelled.status_code == 200
        assert cancelled.json()["cancelled"]["status"] == "cancelled"
        assert client.delete("/api/jobs/000000000000", headers=H).status_code == 404
        states = {j["id"]: j["status"] for j in client.get("/api/jobs", headers=H).json()["jobs"]}
        assert states == {hut: "done", weekly: "cancelled"}
