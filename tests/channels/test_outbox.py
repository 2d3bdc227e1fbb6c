"""The outbox on its own: idempotent, durable, retried, resumable, leased."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from agent.runtime.channels.base import DeliveryError
from agent.runtime.outbox import Outbox, OutboxError, message_id
from agent.runtime.store.base import StoredObject
from agent.runtime.store.local import LocalDirStore

pytestmark = pytest.mark.anyio
HANG = "hang"


class Platform:
    """A deliverer that follows a script of outcomes, then succeeds; records what went out."""

    max_chars = 10

    def __init__(self, *script: DeliveryError | str) -> None:
        self.script = list(script)
        self.delivered: list[tuple[str, str]] = []
        self.calls: list[float] = []
        self.called = asyncio.Condition()

    async def wait_calls(self, count: int) -> None:
        async with self.called:
            await asyncio.wait_for(self.called.wait_for(lambda: len(self.calls) >= count), 10)

    async def deliver(self, conversation: str, text: str) -> None:
        self.calls.append(time.monotonic())
        async with self.called:
            self.called.notify_all()
        if self.script:
            outcome = self.script.pop(0)
            if outcome == HANG:
                await asyncio.sleep(3600)
            assert isinstance(outcome, DeliveryError)
            raise outcome
        self.delivered.append((conversation, text))


def busy(retry_after: float | None = None) -> DeliveryError:
    return DeliveryError("busy", retryable=True, retry_after=retry_after)


async def settle(outbox: Outbox) -> None:
    await asyncio.wait_for(outbox.idle(), 10)


def store_at(tmp_path: Path) -> LocalDirStore:
    return LocalDirStore(tmp_path / "state")


async def test_send_is_idempotent_per_key(tmp_path: Path) -> None:
    platform = Platform()
    outbox = Outbox(store_at(tmp_path), {"chat": platform})
    await outbox.send("chat", "c1", "hello", idempotency_key="k1")
    await outbox.send("chat", "c1", "hello", idempotency_key="k1")
    await settle(outbox)
    await outbox.send("chat", "c1", "hello", idempotency_key="k1")  # after it was sent
    await settle(outbox)
    assert platform.delivered == [("c1", "hello")]
    record = await outbox.get("k1")
    assert record is not None
    assert (record.status, record.attempts, record.sent_parts) == ("sent", 1, 1)
    assert list((tmp_path / "state" / "outbox" / "pending").iterdir()) == []


async def test_web_is_a_no_op_and_unknown_channels_are_refused(tmp_path: Path) -> None:
    outbox = Outbox(store_at(tmp_path), {"chat": Platform()})
    await outbox.send("web", "s1", "already in the session", idempotency_key="w")
    assert not (tmp_path / "state" / "outbox").exists()
    with pytest.raises(OutboxError, match="channel 'irc' is not enabled; see GET /api/channels"):
        await outbox.send("irc", "x", "hi", idempotency_key="i")


async def test_retry_waits_for_retry_after_then_backs_off(tmp_path: Path) -> None:
    platform = Platform(busy(retry_after=0.4), busy())
    outbox = Outbox(store_at(tmp_path), {"chat": platform}, base_delay=0.05)
    await outbox.send("chat", "c", "hi", idempotency_key="k")
    await settle(outbox)
    first, second, third = platform.calls
    assert second - first >= 0.4  # the platform's retry_after beats the 0.05 s backoff
    assert 0.1 <= third - second < 0.4  # then exponential backoff: 0.05 * 2
    assert platform.delivered == [("c", "hi")]


async def test_a_retry_never_repeats_a_part_that_went_out(tmp_path: Path) -> None:
    platform = Platform()
    outbox = Outbox(store_at(tmp_path), {"chat": platform}, base_delay=0.01)
    original = platform.deliver
    failed = False

    async def flaky(conversation: str, text: str) -> None:
        nonlocal failed
        if len(platform.delivered) == 1 and not failed:
            failed = True
            raise busy()
        await original(conversation, text)

    platform.deliver = flaky  # type: ignore[method-assign]
    await outbox.send("chat", "c", "aaaa bbbb cccc", idempotency_key="parts")
    await settle(outbox)
    assert [text for _c, text in platform.delivered] == ["aaaa bbbb", "cccc"]
    record = await outbox.get("parts")
    assert record is not None
    assert (record.attempts, record.sent_parts, len(record.parts)) == (2, 2, 2)


async def test_permanent_failure_and_attempt_limit_give_up(tmp_path: Path) -> None:
    refused = Platform(DeliveryError("HTTP 400: chat not found", retryable=False))
    flaky = Platform(busy(), busy(), busy())
    outbox = Outbox(store_at(tmp_path), {"a": refused, "b": flaky}, base_delay=0.01, max_attempts=3)
    await outbox.send("a", "c", "x", idempotency_key="perm")
    await outbox.send("b", "c", "y", idempotency_key="limit")
    await settle(outbox)
    perm, limit = await outbox.get("perm"), await outbox.get("limit")
    assert perm is not None
    assert limit is not None
    assert (perm.status, perm.attempts, perm.last_error) == (
        "failed",
        1,
        "HTTP 400: chat not found",
    )
    assert (limit.status, limit.attempts) == ("failed", 3)
    assert len(flaky.calls) == 3
    assert outbox.last_error == {"a": "HTTP 400: chat not found", "b": "busy"}
    assert list((tmp_path / "state" / "outbox" / "pending").iterdir()) == []


async def test_a_new_outbox_resumes_pending_messages(tmp_path: Path) -> None:
    down = Platform(*[busy()] * 50)
    # A short lease: if the stop lands inside a store write, the lease cannot be released.
    first = Outbox(store_at(tmp_path), {"chat": down}, base_delay=0.02, lease=1.0)
    await first.send("chat", "c", "later", idempotency_key="r")
    await down.wait_calls(2)
    await first.close()
    up = Platform()
    second = Outbox(store_at(tmp_path), {"chat": up})
    assert await second.start() == 1
    await settle(second)
    assert up.delivered == [("c", "later")]
    assert await second.start() == 0


async def test_a_leased_message_is_not_sent_twice_by_an_overlapping_runtime(
    tmp_path: Path,
) -> None:
    stuck = Platform(HANG)
    old = Outbox(store_at(tmp_path), {"chat": stuck}, lease=0.5)
    await old.send("chat", "c", "once", idempotency_key="lease")
    await stuck.wait_calls(1)
    new_platform = Platform()
    new = Outbox(store_at(tmp_path), {"chat": new_platform}, lease=0.5)
    started = time.monotonic()
    await new.start()
    await asyncio.sleep(0.2)
    assert new_platform.delivered == []  # the old runtime holds the lease
    await settle(new)
    assert time.monotonic() - started >= 0.4  # taken over only once the lease ran out
    assert new_platform.delivered == [("c", "once")]
    await old.close()
    assert stuck.delivered == []


async def test_a_marker_without_a_message_is_dropped(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    await store.put(f"outbox/pending/{message_id('ghost')}", b"")  # crash between the two writes
    outbox = Outbox(store, {"chat": Platform()})
    assert await outbox.start() == 1
    await settle(outbox)
    assert await store.list("outbox/") == []


@pytest.mark.slow  # waits seconds of real time
async def test_two_runtimes_sending_the_same_key_deliver_once(tmp_path: Path) -> None:
    platform = Platform()
    a = Outbox(store_at(tmp_path), {"chat": platform})
    b = Outbox(store_at(tmp_path), {"chat": platform})
    await asyncio.gather(
        a.send("chat", "c", "hi", idempotency_key="same"),
        b.send("chat", "c", "hi", idempotency_key="same"),
    )
    await asyncio.gather(settle(a), settle(b))
    assert platform.delivered == [("c", "hi")]


class SlowRecordStore(LocalDirStore):
    """Holds the write of a message record until released (the window between send's writes).

    `looked` is set once someone found the record missing, `dropped` once a marker is deleted.
    """

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reached = asyncio.Event()
        self.release = asyncio.Event()
        self.looked = asyncio.Event()
        self.dropped = asyncio.Event()

    async def get(self, key: str) -> StoredObject | None:
        found = await super().get(key)
        if key.startswith("outbox/messages/") and found is None:
            self.looked.set()
        return found

    async def delete(self, key: str) -> None:
        await super().delete(key)
        if key.startswith("outbox/pending/"):
            self.dropped.set()

    async def put(
        self, key: str, body: bytes, *, if_none_match: bool = False, if_match: str | None = None
    ) -> str:
        if key.startswith("outbox/messages/") and if_none_match:
            self.reached.set()
            await self.release.wait()
        return await super().put(key, body, if_none_match=if_none_match, if_match=if_match)


async def test_a_resume_meeting_a_send_between_its_writes_keeps_the_message(
    tmp_path: Path,
) -> None:
    store = SlowRecordStore(tmp_path / "state")
    stuck = Platform(HANG)
    outbox = Outbox(store, {"chat": stuck})
    sending = asyncio.create_task(outbox.send("chat", "c", "late", idempotency_key="race"))
    await asyncio.wait_for(store.reached.wait(), 10)  # marker written, message not yet
    assert await outbox.start() == 1  # the resume lists that marker
    await asyncio.wait_for(store.looked.wait(), 10)  # the resumed task found no message yet
    # Give a wrong resume ample time to take the marker for a crash leftover and delete it.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(store.dropped.wait(), 0.5)
    assert not store.dropped.is_set()
    store.release.set()
    await asyncio.wait_for(sending, 10)
    await stuck.wait_calls(1)
    assert len(stuck.calls) == 1  # one delivery task, not one per start and send
    await outbox.close()  # shut down mid-delivery: the marker must survive for the next start
    assert [info.key for info in await store.list("outbox/pending/")] == [
        f"outbox/pending/{message_id('race')}"
    ]
    platform = Platform()
    resumed = Outbox(LocalDirStore(tmp_path / "state"), {"chat": platform})
    assert await resumed.start() == 1
    await settle(resumed)
    assert platform.delivered == [("c", "late")]
