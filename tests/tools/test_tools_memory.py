"""Memory: Markdown files in the store, etag-checked edits, FTS5 search, tools, and the HTTP API."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import httpx
import pytest
import suite_support
from starlette.testclient import TestClient
from tools_support import H, Script, deps_for, run_script

from agent.runtime.app import create_app
from agent.runtime.errors import PreconditionFailed
from agent.runtime.settings import RuntimeSettings
from agent.runtime.store.local import LocalDirStore
from agent.runtime.tools.memory import MemoryBook, MemoryPathError, memory_toolset
from agent.runtime.tools.memory_index import fts_query

wait_ready = partial(suite_support.wait_ready, headers=H, attempts=300)

pytestmark = pytest.mark.anyio


async def test_write_read_and_conditional_edits(store: LocalDirStore) -> None:
    book = MemoryBook(store, "UTC")
    etag = await book.write("MEMORY.md", "- likes tea\n", None)
    assert (await store.get("workspace/MEMORY.md")) is not None
    with pytest.raises(PreconditionFailed):  # no etag means create: an existing file is kept
        await book.write("MEMORY.md", "overwrite", None)
    new = await book.write("MEMORY.md", "- likes tea\n- hates mud\n", etag)
    with pytest.raises(PreconditionFailed):  # a stale etag loses
        await book.write("MEMORY.md", "stale edit", etag)
    text = await book.read("MEMORY.md")
    assert text is not None
    assert (text.content, text.etag) == ("- likes tea\n- hates mud\n", new)
    for bad in ["../x.md", "memory/../../etc.md", "notes.txt", "memory/a/b.md", "/MEMORY.md"]:
        with pytest.raises(MemoryPathError):
            await book.read(bad)


async def test_append_survives_a_concurrent_writer(store: LocalDirStore) -> None:
    ours, theirs = MemoryBook(store, "UTC"), MemoryBook(store, "UTC")
    await ours.append("memory/2026-11-26.md", "- one\n")
    await theirs.append("memory/2026-11-26.md", "- two\n")
    await ours.append("memory/2026-11-26.md", "- three\n")  # its cached view is stale: re-reads
    text = await ours.read("memory/2026-11-26.md")
    assert text is not None
    assert text.content == "- one\n- two\n- three\n"


async def test_search_indexes_lazily_and_sees_writes_from_elsewhere(
    store: LocalDirStore,
) -> None:
    await store.put("workspace/MEMORY.md", b"# Facts\n- dentist is Dr Mallet, Rue Cler\n")
    await store.put("workspace/memory/2026-11-25.md", b"- 09:00 booked the dentist for Friday\n")
    await store.put("workspace/screenshots/x.png", b"dentist dentist")  # not a memory file
    book = MemoryBook(store, "UTC")  # a fresh start: the index is built on the first search
    hits = await book.search("dentist")
    assert {(h.path, h.line) for h in hits} == {("MEMORY.md", 2), ("memory/2026-11-25.md", 1)}
    # Another runtime (or the UI through another process) edits a file: the next search sees it.
    other = MemoryBook(store, "UTC")
    text = await other.read("MEMORY.md")
    assert text is not None
    await other.write("MEMORY.md", "# Facts\n- dentist moved to Rue Bac\n", text.etag)
    await store.delete("workspace/memory/2026-11-25.md")
    hits = await book.search("dentist")
    assert [(h.path, h.line, h.snippet) for h in hits] == [
        ("MEMORY.md", 2, "- dentist moved to Rue Bac")
    ]
    assert await book.search("Mallet") == []
    assert [h.path for h in await book.search("den")] == ["MEMORY.md"]  # prefix match


async def test_search_treats_fts_syntax_as_words(store: LocalDirStore) -> None:
    book = MemoryBook(store, "UTC")
    await book.write("MEMORY.md", '- the "NEAR" OR AND thing\n- café crème\n', None)
    assert fts_query('NEAR(a b) OR "x" *') == '"NEAR"* OR "a"* OR "b"* OR "OR"* OR "x"*'
    assert fts_query("  ** ") is None
    assert [h.line for h in await book.search('NEAR("')] == [1]
    assert [h.line for h in await book.search("cafe creme")] == [2]  # diacritics folded
    assert await book.search("!!!") == []


async def test_tools_remember_recall_and_search_through_a_model(
    settings: RuntimeSettings, store: LocalDirStore, http: httpx.AsyncClient
) -> None:
    book = MemoryBook(store, settings.agent_timezone)
    script = Script(
        [
            [("remember", {"note": "Parking is on level -2", "long_term": False})],
            [("remember", {"note": "Alice prefers  window seats", "long_term": True})],
            [("recall", {})],
            [("search_memory", {"query": "parking level"})],
            [("recall", {"path": "../../secrets"})],
            [("recall", {"path": "memory/1999-01-01.md"})],
        ]
    )
    await run_script(script, [memory_toolset(book)], deps_for(settings, store, http))
    today = book.today_path()
    assert script.seen[0] == f"remember: remembered in {today}"
    assert script.seen[1] == f"remember: remembered in {today} and MEMORY.md"
    assert script.seen[2] == "recall: - Alice prefers window seats\n"
    assert script.seen[3].startswith(f"search_memory: {today}:1: - ")
    assert script.seen[3].endswith("Parking is on level -2")
    assert script.seen[4].startswith("RETRY recall: '../../secrets' is not a memory file path")
    assert script.seen[5] == (
        f"recall: memory/1999-01-01.md does not exist. Memory files: MEMORY.md, {today}"
    )
    daily = await book.read(today)
    assert daily is not None
    lines = daily.content.splitlines()
    assert len(lines) == 2
    assert lines[1].endswith("Alice prefers window seats")


@pytest.fixture
def client(settings: RuntimeSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        wait_ready(test_client)
        yield test_client


def test_memory_api_edit_with_etags(client: TestClient) -> None:
    assert client.get("/api/memory", headers=H).json() == {"files": []}
    assert client.get("/api/memory").status_code == 401  # the edge token is required
    missing = client.get("/api/memory/MEMORY.md", headers=H)
    assert missing.status_code == 404
    assert "PUT" in missing.json()["hint"]
    created = client.put("/api/memory/MEMORY.md", headers=H, json={"content": "- tea\n"})
    assert created.status_code == 200
    etag = created.json()["etag"]
    assert created.json() == {"path": "MEMORY.md", "etag": etag}
    again = client.put("/api/memory/MEMORY.md", headers=H, json={"content": "x"})
    assert again.status_code == 409
    assert again.json()["error"] == "MEMORY.md already exists"
    got = client.get("/api/memory/MEMORY.md", headers=H).json()
    assert got == {"path": "MEMORY.md", "content": "- tea\n", "etag": etag}
    edited = client.put(
        "/api/memory/MEMORY.md", headers=H, json={"content": "- tea\n- jazz\n", "etag": etag}
    )
    assert edited.status_code == 200
    stale = client.put("/api/memory/MEMORY.md", headers=H, json={"content": "lost", "etag": etag})
    assert stale.status_code == 409
    assert stale.json()["error"] == "MEMORY.md was changed by someone else"
    assert stale.json()["fields"][0]["message"] == f"current etag is {edited.json()['etag']}"
    client.put("/api/memory/memory/2026-11-26.md", headers=H, json={"content": "- 10:00 jazz"})
    listing = client.get("/api/memory", headers=H).json()["files"]
    assert [(f["path"], f["size"]) for f in listing] == [
        ("MEMORY.md", 13),
        ("memory/2026-11-26.md", 12),
    ]
    assert set(listing[0]) == {"path", "size", "updated_at", "etag"}
    hits = client.get("/api/memory/search", headers=H, params={"q": "jazz"}).json()["hits"]
    assert sorted((h["path"], h["line"]) for h in hits) == [
        ("MEMORY.md", 2),
        ("memory/2026-11-26.md", 1),
    ]
    assert hits[0]["snippet"] in {"- jazz", "- 10:00 jazz"}


def test_memory_api_rejects_bad_input(client: TestClient) -> None:
    bad_path = client.get("/api/memory/secrets/keys.md", headers=H)
    assert bad_path.status_code == 422
    assert "not a memory file path" in bad_path.json()["error"]
    # Encoded separators never reach the route: the edge-auth middleware refuses the path itself.
    traversal = client.put("/api/memory/memory/..%2F..%2Fx.md", headers=H, json={"content": "x"})
    assert traversal.status_code == 400
    assert traversal.json()["error"].startswith("path refused: encoded separator")
    no_body = client.put("/api/memory/MEMORY.md", headers=H, json={"text": "x"})
    assert no_body.status_code == 422
    assert "content" in no_body.json()["error"]
    odd_etag = client.put(
        "/api/memory/MEMORY.md", headers=H, json={"content": "x", "etag": '"a"\r\nX-Evil: 1'}
    )
    assert odd_etag.status_code == 422
    assert "etag" in odd_etag.json()["error"]
    too_big = client.put("/api/memory/MEMORY.md", headers=H, json={"content": "é" * 200_000})
    assert too_big.status_code == 413
    assert client.get("/api/memory/search", headers=H).status_code == 422
    assert client.get("/api/memory/search?q=x&limit=0", headers=H).status_code == 422


async def test_remember_into_a_full_file_asks_the_model_to_tidy(
    settings: RuntimeSettings, store: LocalDirStore, http: httpx.AsyncClient
) -> None:
    book = MemoryBook(store, settings.agent_timezone)
    await book.write(book.today_path(), "x" * (256 * 1024 - 10), None)
    script = Script([[("remember", {"note": "one more thing to keep"})]])
    await run_script(script, [memory_toolset(book)], deps_for(settings, store, http))
    assert script.seen[0].startswith("RETRY remember: memory file of 262")
    assert "over the 262144-byte limit; tell the user memory needs tidying" in script.seen[0]
