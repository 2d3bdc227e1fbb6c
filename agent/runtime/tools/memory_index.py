"""Full-text search over the memory files: an in-process SQLite FTS5 index, one row per line.

The state store is the truth; this index is a cache of it. It is built lazily on the first search
after a start (the state restore), and every search first compares the store's listing etags with
the indexed ones, so a file written by this process, by the API, or by another runtime is indexed
before it can be missed.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

MAX_SNIPPET_CHARS = 200
_TOKEN = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Hit:
    """One matching line of a memory file (line numbers start at 1)."""

    path: str
    line: int
    snippet: str


def fts_query(text: str) -> str | None:
    """An FTS5 query matching any word of `text` as a prefix; None when it has no words.

    Every token is quoted, so FTS5 operators typed by a user or a model are searched as words.
    """
    tokens = [token.replace('"', "") for token in _TOKEN.findall(text)][:16]
    if not tokens:
        return None
    return " OR ".join(f'"{token}"*' for token in tokens)


class MemoryIndex:
    """Lines of every memory file in an FTS5 table, with the etag each file was indexed at."""

    def __init__(self) -> None:
        self._db = sqlite3.connect(":memory:")
        self._db.execute(
            "CREATE VIRTUAL TABLE lines USING fts5("
            "path UNINDEXED, line UNINDEXED, text, tokenize='unicode61 remove_diacritics 2')"
        )
        self.etags: dict[str, str] = {}

    def replace(self, path: str, etag: str, content: str) -> None:
        """Index `content` as the version `etag` of `path`."""
        with self._db:
            self._db.execute("DELETE FROM lines WHERE path = ?", (path,))
            self._db.executemany(
                "INSERT INTO lines (path, line, text) VALUES (?, ?, ?)",
                [
                    (path, number, text)
                    for number, text in enumerate(content.splitlines(), start=1)
                    if text.strip()
                ],
            )
        self.etags[path] = etag

    def drop(self, path: str) -> None:
        """Forget a deleted file."""
        with self._db:
            self._db.execute("DELETE FROM lines WHERE path = ?", (path,))
        self.etags.pop(path, None)

    def search(self, text: str, limit: int) -> list[Hit]:
        """The best matching lines, best first (bm25)."""
        query = fts_query(text)
        if query is None:
            return []
        rows = self._db.execute(
            "SELECT path, line, text FROM lines WHERE lines MATCH ? ORDER BY rank, path, line "
            "LIMIT ?",
            (query, limit),
        ).fetchall()
        return [Hit(path, int(line), _snippet(body)) for path, line, body in rows]

    def close(self) -> None:
        """Release the database."""
        self._db.close()


def _snippet(line: str) -> str:
    line = line.strip()
    return line if len(line) <= MAX_SNIPPET_CHARS else line[: MAX_SNIPPET_CHARS - 1] + "…"
