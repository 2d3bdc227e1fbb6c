"""Retention: finished chat records expire after the retention, pending ones never, any prefix."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from starlette.testclient import TestClient
from suite_support import EDGE_TOKEN, INTERNAL, wait_ready

from agent.runtime.app import create_app
from agent.runtime.channels.base import DeliveryError
from agent.runtime.channels.inbox import ChannelHub, event_marker
from agent.runtime.outbox import Outbox, OutboxMessage, message_id
from agent.runtime.retention import Retention, done_key, mark_done
from agent.runtime.service import ChatService
from agent.runtime.settings import RuntimeSettings
from agent.runtime.store.local import LocalDirStore

pytestmark = pytest.mark.anyio
HEADERS = {"X-Agent-Edge-Token": EDGE_TOKEN, "X-Agent-User": "alice@example.com"}
T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
DAYS = 30


class Clock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


class Platform:
    """Delivers everything, or refuses everything (a channel that is down)."""

    max_chars = 100

    def __init__(self, *, down: bool = False) -> None:
        self.down = down
        self.delivered: list[str] = []

    async def deliver(self, conversation: str, text: str) -> None:
        if self.down:
            raise DeliveryError("down", retryable=True)
        self.delivered.append(text)


def record_key(key: str) -> str:
    return f"outbox/messages/{message_id(key)}.json"


def wired(store: LocalDirStore, outbox: Outbox, clock: Clock, batch: int = 100) -> Retention:
    """A retention with the guards the channel hub registers (the hub's other parts unused)."""
    retention = Retention(store, days=DAYS, clock=clock, batch=batch)
    ChannelHub(store, cast(ChatService, None), outbox, {}, {}, retention)
    return retention


async def sent_message(store: LocalDirStore, clock: Clock, key: str = "telegram:1") -> Outbox:
    outbox = Outbox(store, {"telegram": Platform()}, clock=clock)
    await outbox.send("telegram", "chat-1", "hello", idempotency_key=key)
    await asyncio.wait_for(outbox.idle(), 10)
    message = await outbox.get(key)
    assert message is not None
    assert message.status == "sent"
    return outbox


@pytest.mark.parametrize("prefix", ["", "users/alice@example.com/"])
async def test_a_sent_message_expires_after_the_retention_and_not_before(
    tmp_path: Path, prefix: str
) -> None:
    store = LocalDirStore(tmp_path, prefix=prefix)
    clock = Clock(T0)
    outbox = await sent_message(store, clock)
    on_disk = tmp_path / prefix / record_key("telegram:1")
    index = tmp_path / prefix / done_key(record_key("telegram:1"), T0)
    assert on_disk.is_file()
    assert index.is_file()
    retention = wired(store, outbox, clock)

    clock.moment = T0 + timedelta(days=DAYS - 1)
    assert (await retention.sweep()).deleted == 0
    assert on_disk.is_file()

    clock.moment = T0 + timedelta(days=DAYS + 1)
    report = await retention.sweep()
    assert (report.deleted, report.kept_pending) == (1, 0)
    assert not on_disk.exists()
    assert not index.exists()
    assert await store.list("") == []


@pytest.mark.parametrize("prefix", ["", "users/alice@example.com/"])
async def test_a_pending_message_older_than_the_retention_survives_and_is_delivered(
    tmp_path: Path, prefix: str
) -> None:
    store = LocalDirStore(tmp_path, prefix=prefix)
    clock = Clock(T0)
    down = Platform(down=True)
    outbox = Outbox(store, {"telegram": down}, clock=clock, base_delay=3600, max_attempts=1000)
    await outbox.send("telegram", "chat-1", "still owed", idempotency_key="telegram:2")
    for _ in range(100):  # the first attempt fails and schedules the next one an hour later
        message = await outbox.get("telegram:2")
        if message is not None and message.attempts:
            break
        await asyncio.sleep(0.01)
    await outbox.close()  # the sandbox goes to sleep with the message pending
    # A finished record of another kind is indexed the same day, with a later key: it expires.
    await mark_done(store, event_marker("telegram", "9"), T0)

    clock.moment = T0 + timedelta(days=3 * DAYS)
    retention = wired(store, outbox, clock)
    await retention.sweep()
    assert (tmp_path / prefix / record_key("telegram:2")).is_file()
    assert [i.key for i in await store.list("outbox/pending/")] == [
        f"outbox/pending/{message_id('telegram:2')}"
    ]

    up = Platform()  # the sandbox wakes up with the channel working again
    woken = Outbox(store, {"telegram": up}, clock=clock)
    assert await woken.start() == 1
    await asyncio.wait_for(woken.idle(), 10)
    assert up.delivered == ["still owed"]


async def test_a_pending_record_with_a_stale_index_entry_is_never_deleted(tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path, prefix="users/bob/")
    clock = Clock(T0)
    outbox = Outbox(store, {"telegram": Platform(down=True)}, clock=clock, base_delay=3600)
    await outbox.send("telegram", "chat-1", "owed", idempotency_key="telegram:3")
    await outbox.close()
    await mark_done(store, record_key("telegram:3"), T0)  # wrongly indexed: the guard decides

    clock.moment = T0 + timedelta(days=DAYS + 5)
    report = await wired(store, outbox, clock).sweep()
    assert (report.deleted, report.kept_pending) == (0, 1)
    message = await outbox.get("telegram:3")
    assert message is not None
    assert message.status == "pending"


async def test_an_event_marker_expires_only_once_its_inbox_record_is_gone(tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path)
    clock = Clock(T0 + timedelta(days=DAYS + 2))
    marker = event_marker("telegram", "42")
    body: dict[str, Any] = {"inbox": "inbox/telegram/tg-42.json", "event_id": "42"}
    await store.put(marker, json.dumps(body).encode())
    await store.put("inbox/telegram/tg-42.json", b"{}")
    await mark_done(store, marker, T0)
    retention = wired(store, Outbox(store, {}), clock)

    assert (await retention.sweep()).kept_pending == 1
    assert await store.get(marker) is not None

    await store.delete("inbox/telegram/tg-42.json")
    assert (await retention.sweep()).deleted == 1
    assert await store.list("") == []


async def test_a_sweep_is_bounded_and_resumes_oldest_first(tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path)
    clock = Clock(T0)
    outbox = Outbox(store, {"telegram": Platform()}, clock=clock)
    for day in range(5):
        clock.moment = T0 + timedelta(days=day)
        await outbox.send("telegram", "c", f"m{day}", idempotency_key=f"telegram:{day}")
        await asyncio.wait_for(outbox.idle(), 10)
    clock.moment = T0 + timedelta(days=DAYS + 10)
    retention = wired(store, outbox, clock, batch=2)

    assert (await retention.sweep()).deleted == 2
    assert await outbox.get("telegram:0") is None
    assert await outbox.get("telegram:1") is None
    assert await outbox.get("telegram:2") is not None
    assert (await retention.sweep()).deleted == 2
    assert (await retention.sweep()).deleted == 1
    assert await store.list("") == []


async def test_sweep_due_runs_at_most_once_an_interval(tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path)
    clock = Clock(T0)
    retention = Retention(store, days=DAYS, clock=clock, interval=timedelta(hours=1))
    assert await retention.sweep_due() is not None
    clock.moment += timedelta(minutes=59)
    assert await retention.sweep_due() is None
    clock.moment += timedelta(minutes=2)
    assert await retention.sweep_due() is not None


def test_the_cron_tick_sweeps_a_per_user_sandbox(tmp_path: Path) -> None:
    settings = RuntimeSettings(
        agent_tenant="acme",
        agent_edge_token=EDGE_TOKEN,
        state_backend="local",
        state_dir=tmp_path,
        agent_user="alice@example.com",
        channel_record_retention_days=7,
    )
    root = tmp_path / "users/alice@example.com"
    old = datetime.now(UTC) - timedelta(days=8)
    (root / "outbox/messages").mkdir(parents=True)
    for name, status in (("a", "sent"), ("b", "pending")):
        record = OutboxMessage(
            id=name,
            idempotency_key=name,
            channel="telegram",
            conversation="c",
            parts=["hi"],
            status=status,  # type: ignore[arg-type]
            next_attempt_at=old,
            created_at=old,
            updated_at=old,
        )
        (root / f"outbox/messages/{name}.json").write_text(record.model_dump_json())
    for name in ("a", "b"):
        entry = root / done_key(f"outbox/messages/{name}.json", old)
        entry.parent.mkdir(parents=True, exist_ok=True)
        entry.write_bytes(b"")

    tick = {"cron": "*/5 * * * *", "scheduled_time": "2026-11-26T21:00:00Z"}
    with TestClient(create_app(settings)) as client:
        wait_ready(client, headers=HEADERS, attempts=200)
        assert (
            client.post("/internal/cron", headers={**HEADERS, **INTERNAL}, json=tick).status_code
            == 202
        )
    assert not (root / "outbox/messages/a.json").exists()
    assert (root / "outbox/messages/b.json").is_file()
