"""A runtime killed with SIGKILL mid-stream neither drops nor doubles a channel reply.

Every third update carries a file (photo, document or voice note, rotating): once its webhook
is acknowledged, the file is in the store, however soon after the kill comes.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
import suite_support
from channels_support import (
    EDGE_TOKEN,
    OGG,
    PDF,
    PNG,
    TG_TOKEN,
    Failure,
    FakePlatforms,
    telegram_update,
)
from suite_support import HANG_S, HTTP, free_port

from agent.runtime.attachments import owner_of

pytestmark = pytest.mark.slow  # two runtime child processes, one SIGKILLed mid-stream

REPO = Path(__file__).resolve().parents[2]
UPDATES = 20


def spawn(tmp: Path, fakes: FakePlatforms, port: int) -> subprocess.Popen[bytes]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AGENT_", "STATE_", "TELEGRAM_"))
    }
    env.update(
        {
            "AGENT_TENANT": "acme",
            "AGENT_EDGE_TOKEN": EDGE_TOKEN,
            "STATE_BACKEND": "local",
            "STATE_DIR": str(tmp / "state"),
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "AGENT_LOG_LEVEL": "warning",
            "TELEGRAM_BOT_TOKEN": TG_TOKEN,
            "TELEGRAM_API_BASE_URL": fakes.url,
            "TELEGRAM_DM_POLICY": "open",
        }
    )
    with open(tmp / f"runtime-{port}.log", "ab") as log:  # the child keeps its own copy
        return subprocess.Popen(
            [sys.executable, "-m", "agent.runtime"], env=env, cwd=REPO, stdout=log, stderr=log
        )


def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + HANG_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, "runtime exited early"
        try:
            if HTTP.get(f"{url}/readyz", headers={"X-Agent-Edge-Token": EDGE_TOKEN}).is_success:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError("runtime not ready")


def media(fakes: FakePlatforms, update_id: int) -> dict[str, object] | None:
    """A photo, a document or a voice note for every third update; distinct bytes each."""
    if update_id % 3:
        return None
    kind = ("photo", "document", "voice")[update_id // 3 % 3]
    body = {"photo": PNG, "document": PDF, "voice": OGG}[kind] + f"#{update_id}".encode()
    ref = f"file-{update_id}"
    fakes.files[ref] = body
    if kind == "photo":
        return {"photo": [{"file_id": ref, "width": 640, "height": 480}]}
    return {kind: {"file_id": ref, "file_size": len(body)}}


def stored_file(state: Path, update_id: int, fakes: FakePlatforms) -> bool:
    body = fakes.files[f"file-{update_id}"]
    user = f"telegram:{1000 + update_id % 4}"
    return (state / "attachments" / owner_of(user) / hashlib.sha256(body).hexdigest()).is_file()


def post(url: str, update_id: int, rid: str, fakes: FakePlatforms) -> int:
    update = telegram_update(
        update_id, f"msg-{update_id}", user=1000 + update_id % 4, media=media(fakes, update_id)
    )
    response = HTTP.post(
        f"{url}/webhooks/telegram",
        headers={
            "X-Agent-Edge-Token": EDGE_TOKEN,
            **suite_support.INTERNAL,
            "X-Agent-User": "channel:telegram",
            "X-Agent-Channel": "telegram",
            "X-Request-Id": rid,
        },
        json=update,
        timeout=HANG_S,  # a hang guard: each update also downloads its file first
    )
    return response.status_code


def test_sigkill_mid_stream_then_restart_answers_each_update_exactly_once(
    tmp_path: Path, fakes: FakePlatforms
) -> None:
    # Telegram is down while the first runtime works, so replies pile up in the outbox and the
    # kill lands between recording, turns, outbox writes and delivery attempts.
    fakes.fail("telegram", Failure(503, {"ok": False, "description": "Service Unavailable"}), 10**6)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first = spawn(tmp_path, fakes, port)
    try:
        wait_ready(url, first)
        for update_id in range(1, UPDATES + 1):
            assert post(url, update_id, f"a-{update_id}", fakes) == 202  # recorded: acknowledged
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    assert fakes.sent == []
    with_files = [u for u in range(1, UPDATES + 1) if u % 3 == 0]
    # Acknowledged implies stored: every acknowledged file survived the kill.
    assert all(stored_file(tmp_path / "state", u, fakes) for u in with_files)
    fetched_before_restart = len(fakes.fetched)
    fakes.clear_failures()
    second = spawn(tmp_path, fakes, port)
    try:
        wait_ready(url, second)
        for update_id in (1, 7, 9, UPDATES):  # Telegram redelivers some after the outage
            assert post(url, update_id, f"b-{update_id}", fakes) == 202
        fakes.wait_for(lambda: len(fakes.sent) >= UPDATES, timeout=60)
        time.sleep(1.0)  # room for any double to show up
        second.send_signal(signal.SIGTERM)
        second.wait(15)
    finally:
        if second.poll() is None:
            second.kill()
    answered = Counter(
        int(m.group(1)) for s in fakes.sent if (m := re.search(r"'msg-(\d+)'", s.text))
    )
    assert answered == Counter(range(1, UPDATES + 1))  # each once: none dropped, none doubled
    state = tmp_path / "state"
    turns = list((state / "sessions").rglob("*.json"))
    assert len(turns) == UPDATES
    # Each turn of an update with a file names it; the redelivered one was stored once.
    named = sum(1 for p in turns if '"attachments":[{' in p.read_text().replace(" ", ""))
    assert named == len(with_files)
    assert len(fakes.fetched) - fetched_before_restart <= 1  # only update 9, if not yet claimed
    assert list((state / "inbox" / "telegram").glob("*.json")) == []
    # (a `.tmp-` file is a write the SIGKILL interrupted: never listed by the store)
    pending = [
        p for p in (state / "outbox" / "pending").iterdir() if not p.name.startswith(".tmp-")
    ]
    assert pending == []
