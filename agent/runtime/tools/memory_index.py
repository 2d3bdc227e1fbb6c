"""Full-text search over the memory files: an in-process SQLite FTS5 index, one row per line.

The state store is the truth; this index is a cache of it. Beside the lines it keeps a manifest
(the etag each file was indexed at), and the whole database can be dumped to bytes and loaded
back, so a start can resume from a stored snapshot (see `memory_snapshot`). Every search first
compares the store's listing etags with the manifest, so a file written by this process, by the
API, or by another runtime is indexed before it can be missed, whatever the snapshot's age.
"""

from __future__ import annotations

import re
import sqlite3
import zlib
from dataclasses import dataclass

MAX_SNIPPET_CHARS = 200
# A snapshot's database may not exceed this once decompressed (a bound on a hostile or broken
# object, far above 1,000 daily notes).
MAX_SNAPSHOT_BYTES = 256 * 1024 * 1024
_TOKEN = re.compile(r"\w+", re.UNICODE)
_FORMAT = "edgeagent-memory-index-1"
_SCHEMA = (
    "CREATE VIRTUAL TABLE lines USING fts5("
    "path UNINDEXED, line UNINDEXED, text, tokenize='unicode61 remove_diacritics 2')",
    "CREATE TABLE files (path TEXT PRIMARY KEY, etag TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE format (name TEXT NOT NULL)",
)


class SnapshotError(ValueError):
    """Bytes that are not a usable index snapshot (corrupt, foreign, or another format)."""


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


def _connect() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    # A loaded snapshot is data, never code: no schema-defined functions run, and page cells are
    # bounds-checked (https://www.sqlite.org/security.html, "Untrusted SQLite Database Files").
    db.execute("PRAGMA trusted_schema = OFF")
    db.execute("PRAGMA cell_size_check = ON")
    return db


def _schema_of(db: sqlite3.Connection) -> list[tuple[str, str, str]]:
    return sorted(db.execute("SELECT type, name, coalesce(sql, '') FROM sqlite_master"))


def _fresh() -> sqlite3.Connection:
    db = _connect()
    with db:
        for statement in _SCHEMA:
            db.execute(statement)
        db.execute("INSERT INTO format (name) VALUES (?)", (_FORMAT,))
    return db


_EXPECTED_SCHEMA = _schema_of(_fresh())


class MemoryIndex:
    """Lines of every memory file in an FTS5 table, with the etag each file was indexed at."""

    def __init__(self, db: sqlite3.Connection | None = None) -> None:
        self._db = db if db is not None else _fresh()
        self.etags: dict[str, str] = dict(self._db.execute("SELECT path, etag FROM files"))

    @classmethod
    def load(cls, snapshot: bytes) -> MemoryIndex:
        """The index `dump` wrote; SnapshotError unless it is intact and in this format."""
        try:
            inflate = zlib.decompressobj()
            raw = inflate.decompress(snapshot, MAX_SNAPSHOT_BYTES)
            if inflate.unconsumed_tail or not inflate.eof:
                raise SnapshotError("snapshot is truncated or over the size limit")
            db = _connect()
            db.deserialize(raw)
            # Exactly our tables and nothing else (no trigger or view rides along), intact pages,
            # an intact full-text index, and our format marker.
            if _schema_of(db) != _EXPECTED_SCHEMA:
                raise SnapshotError("snapshot has a different schema")
            if db.execute("PRAGMA quick_check").fetchall() != [("ok",)]:
                raise SnapshotError("snapshot database is damaged")
            db.execute("INSERT INTO lines (lines) VALUES ('integrity-check')")
            if db.execute("SELECT name FROM format").fetchall() != [(_FORMAT,)]:
                raise SnapshotError("snapshot is in another format")
        except (zlib.error, sqlite3.Error, OverflowError) as error:
            raise SnapshotError(f"snapshot is not a memory index: {error}") from None
        return cls(db)

    def dump(self) -> bytes:
        """The whole index (lines and manifest) as compressed bytes for `load`.

        Raises SnapshotError when the database is over the size `load` accepts.
        """
        raw = self._db.serialize()
        if len(raw) > MAX_SNAPSHOT_BYTES:
            raise SnapshotError(f"index of {len(raw)} bytes is over {MAX_SNAPSHOT_BYTES}")
        return zlib.compress(raw, 6)

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
            self._db.execute("REPLACE INTO files (path, etag) VALUES (?, ?)", (path, etag))
        self.etags[path] = etag

    def drop(self, path: str) -> None:
        """Forget a deleted file."""
        with self._db:
            self._db.execute("DELETE FROM lines WHERE path = ?", (path,))
            self._db.execute("DELETE FROM files WHERE path = ?", (path,))
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
