"""The StateStore contract, run against the local-directory and R2 (moto) backends alike."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from agent.runtime.errors import PreconditionFailed, StoreError
from agent.runtime.store import ObjectInfo, StateStore
from agent.runtime.store.local import LocalDirStore
from agent.runtime.store.memory import MemoryStore
from agent.runtime.store.periodic import PeriodicSyncStore
from agent.runtime.store.r2 import R2Store

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["local", "r2", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    if request.param == "memory":  # the one tests and benchmarks use must keep the same contract
        yield MemoryStore()
        return
    if request.param == "local":
        yield LocalDirStore(tmp_path / "state", prefix="users/a@b.c/")
        return
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="state-bucket")
        yield R2Store(
            bucket="state-bucket",
            endpoint="https://s3.us-east-1.amazonaws.com",
            access_key_id="testing",
            secret_access_key="testing",
            region="us-east-1",
            prefix="users/a@b.c/",
        )


async def test_put_get_list_delete(store: StateStore) -> None:
    assert await store.get("sessions/x/00000001.json") is None
    etag = await store.put("sessions/x/00000001.json", b"one")
    await store.put("sessions/x/00000002.json", b"two")
    await store.put("sessions/y/00000001.json", b"other")
    got = await store.get("sessions/x/00000001.json")
    assert got is not None
    assert (got.body, got.etag) == (b"one", etag)
    listed = await store.list("sessions/x/")
    assert [info.key for info in listed] == ["sessions/x/00000001.json", "sessions/x/00000002.json"]
    assert [info.size for info in listed] == [3, 3]
    await store.delete("sessions/x/00000001.json")
    await store.delete("sessions/x/00000001.json")  # idempotent
    assert await store.get("sessions/x/00000001.json") is None
    await store.check()


async def test_list_one_page_after_a_key(store: StateStore) -> None:
    for name in ["a", "b", "c", "d", "e"]:
        await store.put(f"order/{name}.json", name.encode())
    await store.put("orderly/z.json", b"z")  # a sibling prefix stays out

    def keys(infos: list[ObjectInfo]) -> list[str]:
        return [info.key for info in infos]

    assert keys(await store.list("order/", max_keys=2)) == ["order/a.json", "order/b.json"]
    page = await store.list("order/", start_after="order/b.json", max_keys=2)
    assert keys(page) == ["order/c.json", "order/d.json"]
    assert keys(await store.list("order/", start_after="order/d.json", max_keys=2)) == [
        "order/e.json"
    ]
    assert await store.list("order/", start_after="order/e.json") == []
    # start_after need not exist: it is a position in key order.
    assert keys(await store.list("order/", start_after="order/bb")) == [
        "order/c.json",
        "order/d.json",
        "order/e.json",
    ]
    assert [i.size for i in await store.list("order/", max_keys=1)] == [1]


async def test_periodic_store_pages_over_buffered_writes(tmp_path: Path) -> None:
    inner = LocalDirStore(tmp_path)
    for name in ["a", "b", "c", "d"]:
        await inner.put(f"order/{name}.json", name.encode())
    store = PeriodicSyncStore(inner, interval=3600)
    await store.delete("order/a.json")
    await store.delete("order/b.json")
    await store.put("order/bb.json", b"bb")
    page = await store.list("order/", max_keys=2)
    assert [i.key for i in page] == ["order/bb.json", "order/c.json"]
    after = await store.list("order/", start_after="order/bb.json", max_keys=5)
    assert [i.key for i in after] == ["order/c.json", "order/d.json"]
    await store.close()


async def test_list_pages_with_start_after_and_max_keys(store: StateStore) -> None:
    for seq in range(1, 8):
        await store.put(f"sessions/x/{seq:08d}.json", b"t")
    await store.put("sessions/xy/00000001.json", b"other session")
    after = await store.list("sessions/x/", start_after="sessions/x/00000004.json")
    assert [i.key for i in after] == [f"sessions/x/{seq:08d}.json" for seq in (5, 6, 7)]
    first = await store.list("sessions/x/", max_keys=1)
    assert [i.key for i in first] == ["sessions/x/00000001.json"]
    page = await store.list("sessions/x/", start_after="sessions/x/00000002.json", max_keys=2)
    assert [i.key for i in page] == ["sessions/x/00000003.json", "sessions/x/00000004.json"]
    assert await store.list("sessions/x/", start_after="sessions/x/00000007.json") == []


async def test_create_only_if_absent(store: StateStore) -> None:
    await store.put("k/a.json", b"first", if_none_match=True)
    with pytest.raises(PreconditionFailed):
        await store.put("k/a.json", b"second", if_none_match=True)
    got = await store.get("k/a.json")
    assert got is not None
    assert got.body == b"first"


async def test_replace_only_the_version_read(store: StateStore) -> None:
    etag = await store.put("k/meta.json", b"v1")
    newer = await store.put("k/meta.json", b"v2", if_match=etag)
    with pytest.raises(PreconditionFailed):
        await store.put("k/meta.json", b"v3", if_match=etag)  # stale etag
    with pytest.raises(PreconditionFailed):
        await store.put("k/missing.json", b"v1", if_match=etag)
    got = await store.get("k/meta.json")
    assert got is not None
    assert (got.body, got.etag) == (b"v2", newer)


async def test_concurrent_creates_have_one_winner(store: StateStore) -> None:
    async def attempt(index: int) -> bool:
        try:
            await store.put("race/00000001.json", str(index).encode(), if_none_match=True)
        except PreconditionFailed:
            return False
        return True

    results = await asyncio.gather(*(attempt(i) for i in range(8)))
    assert sum(results) == 1
    got = await store.get("race/00000001.json")
    assert got is not None
    assert got.body == str(results.index(True)).encode()


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "./a"])
async def test_keys_cannot_escape(store: StateStore, key: str) -> None:
    with pytest.raises(StoreError, match="invalid state key"):
        await store.put(key, b"x")


async def test_prefix_isolates_users(tmp_path: Path) -> None:
    alice = LocalDirStore(tmp_path, prefix="users/alice/")
    bob = LocalDirStore(tmp_path, prefix="users/bob/")
    await alice.put("MEMORY.md", b"alice")
    assert await bob.get("MEMORY.md") is None
    assert await bob.list("") == []
    assert (tmp_path / "users/alice/MEMORY.md").read_bytes() == b"alice"


async def test_periodic_store_holds_writes_until_sync(tmp_path: Path) -> None:
    inner = LocalDirStore(tmp_path)
    store = PeriodicSyncStore(inner, interval=3600)
    await store.put("sessions/s/00000001.json", b"turn", if_none_match=True)
    with pytest.raises(PreconditionFailed):
        await store.put("sessions/s/00000001.json", b"again", if_none_match=True)
    assert [i.key for i in await store.list("sessions/")] == ["sessions/s/00000001.json"]
    assert await inner.get("sessions/s/00000001.json") is None  # acknowledged, not durable
    await store.flush()
    got = await inner.get("sessions/s/00000001.json")
    assert got is not None
    assert got.body == b"turn"
    await store.close()


async def test_r2_unreachable_is_a_store_error() -> None:
    store = R2Store(
        bucket="state-bucket",
        endpoint="http://127.0.0.1:9",
        access_key_id="AKIDSECRETLOOKING",
        secret_access_key="very-secret-value",
    )
    with pytest.raises(StoreError) as caught:
        await store.check()
    assert "very-secret-value" not in str(caught.value)
    await store.close()
