"""Session listing in O(page), exact counts, paged history, migration of the old layout.

Storage reads are counted with a pass-through StateStore, so "O(page)" is a number: a page of
the listing of 5,000 sessions reads about one object per session shown, not 5,000.
"""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import suite_support
from runtime_support import edge_headers
from starlette.testclient import TestClient

from agent.runtime.app import AppDeps, create_app
from agent.runtime.errors import RequestError
from agent.runtime.session_history import latest_seq, read_turns
from agent.runtime.session_index import (
    MIGRATED,
    ORDER_ALL,
    SessionIndex,
    SessionMeta,
    order_name,
    owner_hash,
    owner_key,
)
from agent.runtime.sessions import SessionStore, Turn, turn_key
from agent.runtime.settings import RuntimeSettings
from agent.runtime.store.base import ObjectInfo, StateStore, StoredObject
from agent.runtime.store.local import LocalDirStore

pytestmark = pytest.mark.anyio
T0 = datetime(2026, 11, 1, tzinfo=UTC)


class CountingStore:
    """Delegates to `inner`, counting GETs and LISTs (with the prefixes listed)."""

    def __init__(self, inner: StateStore) -> None:
        self.inner = inner
        self.gets: list[str] = []
        self.lists: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def reset(self) -> None:
        self.gets.clear()
        self.lists.clear()

    async def get(self, key: str) -> StoredObject | None:
        self.gets.append(key)
        return await self.inner.get(key)

    async def list(
        self, prefix: str, *, start_after: str | None = None, max_keys: int | None = None
    ) -> list[ObjectInfo]:
        self.lists.append(prefix)
        return await self.inner.list(prefix, start_after=start_after, max_keys=max_keys)


def draft(prompt: str, user: str, at: datetime, channel: str = "api") -> Turn:
    return Turn(
        seq=1,
        turn_id=f"t-{prompt}",
        user=user,
        channel=channel,
        created_at=at,
        prompt=prompt,
        reply=f"re: {prompt}",
        model="offline",
    )


def write_index_files(root: Path, metas: list[SessionMeta]) -> None:
    """The layout `register` writes, written directly so 5,000 sessions take a second."""
    for meta in metas:
        body = meta.model_dump_json()
        name = order_name(meta)
        for key in (
            owner_key(meta.session_id),
            f"{ORDER_ALL}{name}.json",
            f"session-order/by-owner/{owner_hash(meta.created_by)}/{name}.json",
        ):
            path = root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body)
    (root / MIGRATED).parent.mkdir(parents=True, exist_ok=True)
    (root / MIGRATED).write_text("{}")


def many(count: int) -> list[SessionMeta]:
    users = ["alice@example.com", "bob@example.com"]
    return [
        SessionMeta(
            session_id=f"s{index:05d}",
            title=f"title {index}",
            created_by=users[index % 2],
            created_at=T0 + timedelta(seconds=index),
        )
        for index in range(count)
    ]


@pytest.mark.slow  # seconds of CPU: `make test` runs it, `make test-fast` does not
async def test_a_page_of_5000_sessions_reads_about_the_page(tmp_path: Path) -> None:
    metas = many(5000)
    write_index_files(tmp_path, metas)
    store = CountingStore(LocalDirStore(tmp_path))
    index = SessionIndex(store)  # type: ignore[arg-type]

    page = await index.page(None, None, 50)
    assert [m.session_id for m in page.sessions] == [f"s{i:05d}" for i in range(4999, 4949, -1)]
    assert len(store.lists) == 1
    # The page's entries, the migration marker (once) and the counter (absent: seeded without).
    assert len(store.gets) <= 50 + 2
    store.reset()
    second = await index.page(None, page.next_cursor, 50)
    assert second.sessions[0].session_id == "s04949"
    assert (len(store.lists), len(store.gets)) == (1, 50)

    store.reset()
    restarted = SessionIndex(store)  # type: ignore[arg-type]  # nothing cached
    bob = await restarted.page("Bob@Example.com", None, 20)  # identities compare case-insensitively
    assert {m.created_by for m in bob.sessions} == {"bob@example.com"}
    assert [m.session_id for m in bob.sessions][:2] == ["s04999", "s04997"]
    assert (len(store.lists), len(store.gets)) == (1, 20 + 2)  # + the marker and the counter


@pytest.mark.slow  # seconds of CPU: `make test` runs it, `make test-fast` does not
async def test_the_first_page_is_one_read_of_the_counter(tmp_path: Path) -> None:
    write_index_files(tmp_path, many(5000))
    store = CountingStore(LocalDirStore(tmp_path))
    await SessionIndex(store).count(None)  # type: ignore[arg-type]  # the one recount
    await SessionIndex(store).count("bob@example.com")  # type: ignore[arg-type]
    store.reset()
    index = SessionIndex(store)  # type: ignore[arg-type]  # a fresh start: nothing cached
    page = await index.page(None, None, 50)
    assert [m.session_id for m in page.sessions] == [f"s{i:05d}" for i in range(4999, 4949, -1)]
    assert store.lists == []
    assert store.gets == [MIGRATED, "session-counts/all.json"]
    store.reset()
    second = await index.page(None, page.next_cursor, 50)  # later pages: the listing entries
    assert [m.session_id for m in second.sessions][:1] == ["s04949"]
    assert len(store.lists) == 1
    bob = await index.page("bob@example.com", None, 200)  # larger than the counter carries
    assert [m.session_id for m in bob.sessions][:2] == ["s04999", "s04997"]
    assert len(bob.sessions) == 200


@pytest.mark.slow  # over half a second of CPU (make test-cost)
async def test_a_new_session_is_on_the_first_page_at_once(tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path)
    writer, reader = SessionStore(store), SessionIndex(store)  # two runtimes
    for number in range(130):
        at = T0 + timedelta(minutes=number)
        await writer.index.register(f"s{number:03d}", draft(f"s{number:03d}", "a@x.io", at))
    first = await reader.page("a@x.io", None, 30)
    assert [m.session_id for m in first.sessions] == [f"s{n:03d}" for n in range(129, 99, -1)]
    rest: list[str] = []
    cursor = first.next_cursor
    while cursor is not None:
        more = await reader.page("a@x.io", cursor, 30)
        rest += [m.session_id for m in more.sessions]
        cursor = more.next_cursor
    assert rest == [f"s{n:03d}" for n in range(99, -1, -1)]
    await writer.index.register("late", draft("late", "a@x.io", T0 + timedelta(days=1)))
    again = await SessionIndex(store).page("a@x.io", None, 30)
    assert again.sessions[0].session_id == "late"


@pytest.mark.slow  # over half a second of CPU (make test-cost)
async def test_counts_come_from_one_read_after_a_single_recount(tmp_path: Path) -> None:
    write_index_files(tmp_path, many(2000))
    store = CountingStore(LocalDirStore(tmp_path))
    index = SessionIndex(store)  # type: ignore[arg-type]
    assert await index.count(None) == 2000  # no counter yet: one recount of the keys
    assert await index.count("alice@example.com") == 1000
    assert len(store.lists) == 2  # one recount per counter, only when it does not exist yet
    store.reset()
    assert (await index.count(None), await index.count("Alice@example.com")) == (2000, 1000)
    assert store.lists == []
    assert len(store.gets) == 2
    assert all(key.startswith("session-counts/") for key in store.gets)


@pytest.mark.slow  # over half a second of CPU (make test-cost)
async def test_cursor_paging_shows_each_session_once_newest_first_while_others_arrive(
    tmp_path: Path,
) -> None:
    store = LocalDirStore(tmp_path)
    writers = [SessionStore(store), SessionStore(store)]  # two runtimes
    existing = [f"old{i:03d}" for i in range(60)]
    rng = random.Random(7)
    for number, session_id in enumerate(existing):
        at = T0 + timedelta(minutes=number)
        await writers[number % 2].index.register(session_id, draft(session_id, "a@x.io", at))

    reader = SessionIndex(store)
    seen: list[SessionMeta] = []
    cursor: str | None = None
    arrivals = 0
    while True:
        # Sessions created while paging: some newer, some (clock skew) older than the cursor.
        new_ids = [f"new{arrivals + k:03d}" for k in range(3)]
        arrivals += 3
        await asyncio.gather(
            *(
                writers[k % 2].index.register(
                    sid, draft(sid, "a@x.io", T0 + timedelta(minutes=rng.uniform(-5, 90)))
                )
                for k, sid in enumerate(new_ids)
            )
        )
        page = await reader.page("a@x.io", cursor, 7)
        seen.extend(page.sessions)
        cursor = page.next_cursor
        if cursor is None:
            break
    ids = [m.session_id for m in seen]
    assert len(ids) == len(set(ids)), "a session was shown twice"
    assert set(existing) <= set(ids), "a session that existed before paging was skipped"
    orders = [order_name(m) for m in seen]
    assert orders == sorted(orders)  # one consistent newest-first order across pages
    times = [m.created_at for m in seen]
    assert times == sorted(times, reverse=True)
    total = len(existing) + arrivals
    assert await reader.count(None) == total
    assert await reader.count("a@x.io") == total


@pytest.mark.slow  # over half a second of CPU (make test-cost)
async def test_concurrent_first_turns_count_exactly_and_a_retry_counts_once(
    tmp_path: Path,
) -> None:
    store = LocalDirStore(tmp_path)
    a, b = SessionIndex(store), SessionIndex(store)
    users = ["u1@x.io", "u2@x.io", "u3@x.io"]
    await asyncio.gather(
        *(
            (a if n % 2 else b).register(f"c{n}", draft(f"c{n}", users[n % 3], T0))
            for n in range(45)
        )
    )
    # A first turn retried after a failure registers the same session again: still one.
    await a.register("c0", draft("c0", users[0], T0))
    await b.register("c1", draft("c1", users[1], T0))
    fresh = SessionIndex(store)
    assert await fresh.count(None) == 45
    assert [await fresh.count(u) for u in users] == [15, 15, 15]


async def test_two_identities_racing_for_a_new_session_one_owns_it(tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path)
    first, second = SessionStore(store), SessionStore(store)

    async def first_turn(sessions: SessionStore, user: str) -> str:
        async with sessions.open("contested"):
            try:
                await sessions.append("contested", draft(user, user, T0))
            except RequestError as error:
                return f"refused {error.status}"
            return "stored"

    results = await asyncio.gather(
        first_turn(first, "alice@example.com"), first_turn(second, "bob@example.com")
    )
    assert sorted(results) == ["refused 404", "stored"]
    turns = await SessionStore(store).read("contested")
    owner = await SessionIndex(store).meta("contested")
    assert owner is not None
    assert [t.user for t in turns] == [owner.created_by]


async def test_old_layout_sessions_are_migrated_once(tmp_path: Path) -> None:
    old = many(30)
    for meta in old:
        path = tmp_path / f"session-index/{meta.session_id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(meta.model_dump_json())
    store = CountingStore(LocalDirStore(tmp_path))
    # A single old session opened before any listing is indexed on the spot.
    spot = await SessionIndex(store).meta("s00003")  # type: ignore[arg-type]
    assert spot is not None
    assert spot.created_by == "bob@example.com"

    index = SessionIndex(store)  # type: ignore[arg-type]
    page = await index.page("alice@example.com", None, 100)
    assert [m.session_id for m in page.sessions] == [f"s{i:05d}" for i in range(28, -1, -2)]
    assert await index.count(None) == 30
    marker = json.loads((tmp_path / MIGRATED).read_text())
    assert marker["migrated"] == 30

    store.reset()
    again = SessionIndex(store)  # type: ignore[arg-type]  # another start: marker seen, no rerun
    assert len((await again.page(None, None, 100)).sessions) == 30
    assert "session-index/" not in store.lists
    assert await again.count(None) == 30  # the migration did not count anything twice


@pytest.mark.slow  # over half a second of CPU (make test-cost)
async def test_history_pages_read_only_their_turns(tmp_path: Path) -> None:
    for seq in range(1, 1201):
        turn = draft(f"m{seq}", "a@x.io", T0).model_copy(update={"seq": seq})
        path = tmp_path / turn_key("long", seq)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(turn.model_dump_json())
    store = CountingStore(LocalDirStore(tmp_path))
    assert await latest_seq(store, "long") == 1200  # type: ignore[arg-type]
    assert len(store.lists) <= 2 * 12  # O(log n) one-key listings
    assert store.gets == []

    store.reset()
    newest = await read_turns(store, "long", None, 50)  # type: ignore[arg-type]
    assert [t.seq for t in newest.turns] == list(range(1151, 1201))
    assert newest.older == 1151
    assert len(store.gets) == 50
    store.reset()
    older = await read_turns(store, "long", newest.older, 50)  # type: ignore[arg-type]
    assert [t.seq for t in older.turns] == list(range(1101, 1151))
    assert (len(store.gets), store.lists) == (50, [])
    first = await read_turns(store, "long", 31, 50)  # type: ignore[arg-type]
    assert [t.seq for t in first.turns] == list(range(1, 31))
    assert first.older is None
    assert await latest_seq(LocalDirStore(tmp_path), "absent") == 0
    for size in [1, 2, 3, 7, 8, 9]:
        (tmp_path / turn_key(f"n{size}", size)).parent.mkdir(parents=True)
        for seq in range(1, size + 1):
            (tmp_path / turn_key(f"n{size}", seq)).write_text("{}")
        assert await latest_seq(LocalDirStore(tmp_path), f"n{size}") == size


@pytest.mark.slow  # seconds of CPU: `make test` runs it, `make test-fast` does not
def test_the_http_listing_of_5000_sessions_reads_one_page(
    tmp_path: Path, settings: RuntimeSettings
) -> None:
    write_index_files(settings.state_dir, many(5000))
    store = CountingStore(LocalDirStore(settings.state_dir))
    app = create_app(settings, AppDeps(store=store))  # type: ignore[arg-type]
    with TestClient(app) as client:
        suite_support.wait_ready(client, headers=edge_headers(), attempts=200)
        store.reset()
        first = client.get("/api/sessions", headers=edge_headers(), params={"limit": 50}).json()
        assert len(first["sessions"]) == 50
        assert {s["created_by"] for s in first["sessions"]} == {"alice@example.com"}
        # + the migration marker and the (absent) counter
        assert (len(store.lists), len(store.gets)) == (1, 50 + 2)
        store.reset()
        query = {"limit": 50, "cursor": first["next_cursor"]}
        second = client.get("/api/sessions", headers=edge_headers(), params=query).json()
        assert second["sessions"][0]["session_id"] == "s04898"
        assert (len(store.lists), len(store.gets)) == (1, 50)
