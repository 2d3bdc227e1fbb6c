"""Memory: readable Markdown files in the state store, and the tools that use them.

Layout (below the sandbox's state prefix), as OpenClaw users know it:

    workspace/MEMORY.md               long-term facts, curated by the user and the agent
    workspace/memory/YYYY-MM-DD.md    daily notes, appended by `remember`

Every write is conditional (If-Match on the version read, If-None-Match for a new file), so an edit
in the UI and a note from the agent never silently overwrite each other. Search goes through the
FTS5 index in `memory_index`, restored from its stored snapshot (`memory_snapshot`) on the first
search after a start and synced from the store's listing before each search.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import Field
from pydantic_ai import FunctionToolset, ModelRetry, RunContext

from agent.runtime.engine.deps import AgentDeps
from agent.runtime.errors import PreconditionFailed, StoreError
from agent.runtime.store.base import StateStore
from agent.runtime.tools.limits import TOOL_RETRIES
from agent.runtime.tools.memory_index import Hit, MemoryIndex
from agent.runtime.tools.memory_snapshot import IndexSnapshots

WORKSPACE = "workspace/"
LONG_TERM = "MEMORY.md"
MAX_FILE_BYTES = 256 * 1024
MAX_RECALL_CHARS = 20_000
_APPEND_TRIES = 8
_LOAD_CONCURRENCY = 16  # parallel reads when (re)building the index from R2
PATH_PATTERN = re.compile(r"^(MEMORY\.md|memory/[A-Za-z0-9][A-Za-z0-9_-]{0,63}\.md)$")
PATH_EXAMPLE = "MEMORY.md or memory/2026-11-26.md"


class MemoryPathError(ValueError):
    """A path that is not a memory file."""

    def __init__(self, path: str) -> None:
        super().__init__(f"{path!r} is not a memory file path; use {PATH_EXAMPLE}")


class MemoryTooLarge(ValueError):
    """Content over the per-file limit."""

    def __init__(self, size: int) -> None:
        super().__init__(f"memory file of {size} bytes is over the {MAX_FILE_BYTES}-byte limit")


@dataclass(frozen=True, slots=True)
class MemoryFile:
    """A listing entry."""

    path: str
    size: int
    etag: str


@dataclass(frozen=True, slots=True)
class MemoryText:
    """A file's content and the etag to send back with an edit."""

    path: str
    content: str
    etag: str


def check_path(path: str) -> str:
    """`path` if it names a memory file, else MemoryPathError."""
    if not PATH_PATTERN.fullmatch(path):
        raise MemoryPathError(path)
    return path


class MemoryBook:
    """The memory files of one sandbox and their search index."""

    def __init__(
        self, store: StateStore, timezone: str, *, snapshots: IndexSnapshots | None = None
    ) -> None:
        self._store = store
        self._zone = ZoneInfo(timezone)
        self._index: MemoryIndex | None = None  # restored on the first search
        self._sync_lock = asyncio.Lock()
        self.snapshots = snapshots if snapshots is not None else IndexSnapshots(store)

    def local_now(self) -> datetime:
        """Now, in the configured time zone."""
        return datetime.now(self._zone)

    def today_path(self, when: datetime | None = None) -> str:
        """The daily notes file for `when` (default now) in the configured time zone."""
        local = (when or self.local_now()).astimezone(self._zone)
        return f"memory/{local:%Y-%m-%d}.md"

    async def list_files(self) -> list[MemoryFile]:
        """Every memory file, MEMORY.md first, then daily notes newest first."""
        found = await self._listing()
        return sorted(found, key=lambda f: (f.path != LONG_TERM, _reverse_key(f.path)))

    async def read(self, path: str) -> MemoryText | None:
        """The file, or None if it does not exist."""
        obj = await self._store.get(WORKSPACE + check_path(path))
        if obj is None:
            return None
        return MemoryText(path, obj.body.decode("utf-8", errors="replace"), obj.etag)

    async def write(self, path: str, content: str, etag: str | None) -> str:
        """Replace the version `etag` (or create the file when `etag` is None); new etag.

        Raises PreconditionFailed when the file changed since `etag` was read, or already exists.
        """
        body = _encode(content)
        key = WORKSPACE + check_path(path)
        new_etag = await self._store.put(
            key, body, if_none_match=etag is None, if_match=etag if etag is not None else None
        )
        if self._index is not None:
            self._index.replace(path, new_etag, content)
            self.snapshots.changed(self._index.dump)
        return new_etag

    async def append(self, path: str, text: str) -> str:
        """Append `text` to the file (creating it), retrying when another writer got there first."""
        for _ in range(_APPEND_TRIES):
            current = await self.read(path)
            base = current.content if current is not None else ""
            if base and not base.endswith("\n"):
                base += "\n"
            try:
                return await self.write(
                    path, base + text, current.etag if current is not None else None
                )
            except PreconditionFailed:
                continue
        raise StoreError(f"memory file {path!r} kept changing; {_APPEND_TRIES} appends lost")

    async def search(self, query: str, limit: int = 20) -> list[Hit]:
        """Matching lines across all memory files, best first."""
        index = await self._sync()
        return index.search(query, limit)

    async def _listing(self) -> list[MemoryFile]:
        infos = await self._store.list(WORKSPACE)
        files = [
            MemoryFile(info.key.removeprefix(WORKSPACE), info.size, info.etag) for info in infos
        ]
        return [f for f in files if PATH_PATTERN.fullmatch(f.path)]

    async def _sync(self) -> MemoryIndex:
        async with self._sync_lock:
            if self._index is None:
                self._index = await self.snapshots.restore()
            index = self._index
            listed = {f.path: f.etag for f in await self._listing()}
            gone = set(index.etags) - set(listed)
            for path in gone:
                index.drop(path)
            stale = [path for path, etag in listed.items() if index.etags.get(path) != etag]
            gate = asyncio.Semaphore(_LOAD_CONCURRENCY)

            async def load(path: str) -> tuple[str, MemoryText | None]:
                async with gate:
                    return path, await self.read(path)

            for path, text in await asyncio.gather(*(load(path) for path in stale)):
                if text is None:
                    index.drop(path)
                else:
                    index.replace(path, text.etag, text.content)
            if gone or stale:
                self.snapshots.changed(index.dump)
            return index

    async def close(self) -> None:
        """Save the index snapshot if it changed, then release the index."""
        try:
            await self.snapshots.close()
        finally:
            if self._index is not None:
                self._index.close()


def _encode(content: str) -> bytes:
    body = content.encode("utf-8")
    if len(body) > MAX_FILE_BYTES:
        raise MemoryTooLarge(len(body))
    return body


def _reverse_key(path: str) -> tuple[int, ...]:
    return tuple(-ord(char) for char in path)


Note = Annotated[str, Field(min_length=1, max_length=2000)]
Query = Annotated[str, Field(min_length=1, max_length=200)]


def memory_toolset(book: MemoryBook) -> FunctionToolset[AgentDeps]:
    """remember / recall / search_memory over `book`."""
    toolset: FunctionToolset[AgentDeps] = FunctionToolset(id="memory", max_retries=TOOL_RETRIES)

    @toolset.tool
    async def remember(ctx: RunContext[AgentDeps], note: Note, long_term: bool = False) -> str:
        """Write a note to today's memory file; with long_term=True also to MEMORY.md.

        Args:
            note: the fact or event to remember, one line of Markdown.
            long_term: true for lasting facts (preferences, people, standing instructions).
        """
        line = " ".join(note.split())
        stamp = book.local_now().strftime("%H:%M")
        daily = book.today_path()
        try:
            await book.append(daily, f"- {stamp} {line}\n")
            if long_term:
                await book.append(LONG_TERM, f"- {line}\n")
        except MemoryTooLarge as error:
            raise ModelRetry(f"{error}; tell the user memory needs tidying") from None
        return f"remembered in {daily} and {LONG_TERM}" if long_term else f"remembered in {daily}"

    @toolset.tool
    async def recall(ctx: RunContext[AgentDeps], path: str = LONG_TERM) -> str:
        """Read one memory file: MEMORY.md (long-term) or memory/YYYY-MM-DD.md (daily notes).

        Args:
            path: the file to read; call without it for MEMORY.md.
        """
        try:
            text = await book.read(path)
        except MemoryPathError as error:
            raise ModelRetry(str(error)) from None
        if text is None:
            files = ", ".join(f.path for f in await book.list_files()) or "none yet"
            return f"{path} does not exist. Memory files: {files}"
        content = text.content or "(empty)"
        if len(content) > MAX_RECALL_CHARS:
            content = content[:MAX_RECALL_CHARS] + "\n…(truncated; use search_memory)"
        return content

    @toolset.tool
    async def search_memory(ctx: RunContext[AgentDeps], query: Query) -> str:
        """Search every memory file for lines containing these words.

        Args:
            query: words to look for, e.g. 'dentist appointment'.
        """
        hits = await book.search(query, limit=20)
        if not hits:
            return f"no memory line matches {query!r}"
        return "\n".join(f"{hit.path}:{hit.line}: {hit.snippet}" for hit in hits)

    return toolset
