"""The state store's key validation, fuzzed, and the local backend's refusal of symbolic links:
no key, however spelled, reaches outside the store's directory; no link in it is followed."""

from __future__ import annotations

import asyncio
import os
import posixpath
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.runtime.errors import PreconditionFailed, RequestError, StoreError
from agent.runtime.sessions import check_session_id
from agent.runtime.store.base import check_key
from agent.runtime.store.local import LocalDirStore, SymlinkRefused
from agent.runtime.tools.memory import MemoryPathError, check_path

# Text that path handling gets wrong: separators, dots, NUL and other controls, lone surrogates,
# look-alike slashes, very long segments, the local store's own file names.
TRICKY = [
    "/",
    ".",
    "..",
    ".lock",
    ".tmp-1",
    "\x00",
    "\n",
    "\\",
    "%2f",
    "\u2215",
    "\ud800",
    "~",
    " ",
    "a" * 300,
]
keys = st.lists(
    st.sampled_from(TRICKY) | st.text(min_size=0, max_size=12), min_size=1, max_size=6
).map("".join)


@given(key=keys)
def test_an_accepted_key_stays_below_its_root(key: str) -> None:
    try:
        check_key(key)
    except StoreError:
        return
    joined = posixpath.join("/root", key)
    assert posixpath.normpath(joined) == joined
    assert joined.startswith("/root/")
    assert key.isprintable() or not any(ord(c) < 0x20 for c in key)
    assert len(key.encode()) <= 1024


@settings(max_examples=60)
@given(key=keys, prefix=st.sampled_from(["", "users/a@b.c/"]))
def test_the_local_store_writes_exactly_where_the_key_says(key: str, prefix: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "state"
        store = LocalDirStore(root, prefix=prefix)
        try:
            asyncio.run(store.put(key, b"body"))
        except StoreError:
            assert not any(p.is_file() for p in Path(scratch).rglob("*") if p.name != ".lock")
            return
        written = [p for p in Path(scratch).rglob("*") if p.is_file() and p.name != ".lock"]
        assert written == [root / (prefix + key)]
        got = asyncio.run(store.get(key))
        assert got is not None
        assert got.body == b"body"
        assert [info.key for info in asyncio.run(store.list(""))] == [key]


@given(candidate=keys)
def test_an_accepted_session_id_is_one_safe_key_segment(candidate: str) -> None:
    try:
        check_session_id(candidate)
    except Exception:  # the property is about what is accepted
        return
    check_key(f"sessions/{candidate}/00000001.json")
    assert "/" not in candidate


@pytest.mark.parametrize("check", [check_session_id, check_path])
def test_a_trailing_newline_is_refused(check: object) -> None:
    valid = "trip-planning" if check is check_session_id else "MEMORY.md"
    with pytest.raises((MemoryPathError, RequestError)):
        check(valid + "\n")  # type: ignore[operator]


@given(candidate=keys)
def test_an_accepted_memory_path_is_a_memory_file_key(candidate: str) -> None:
    try:
        check_path(candidate)
    except MemoryPathError:
        return
    assert candidate == "MEMORY.md" or candidate.startswith("memory/")
    assert candidate.rstrip("\n").endswith(".md")


# --- symbolic links in the local state directory ---------------------------------------------

pytestmark = pytest.mark.anyio


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to the state directory, holding a secret the store must never reach."""
    target = tmp_path / "outside"
    target.mkdir()
    (target / "00000001.json").write_text("secret")
    return target


KEY = "sessions/s/00000001.json"


@pytest.mark.parametrize(
    "link_at", ["users", "users/a@b.c", "users/a@b.c/sessions", "users/a@b.c/sessions/s"]
)
async def test_a_directory_link_anywhere_in_the_path_is_refused(
    tmp_path: Path, outside: Path, link_at: str
) -> None:
    root = tmp_path / "state"
    store = LocalDirStore(root, prefix="users/a@b.c/")
    link = root / link_at
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside, target_is_directory=True)
    with pytest.raises(SymlinkRefused, match="symbolic link"):
        await store.get(KEY)
    with pytest.raises(SymlinkRefused):
        await store.put(KEY, b"planted", if_none_match=True)
    with pytest.raises(SymlinkRefused):
        await store.delete(KEY)
    assert await store.list("sessions/") == []
    assert await store.list("") == []
    assert sorted(os.listdir(outside)) == ["00000001.json"]
    assert (outside / "00000001.json").read_text() == "secret"


async def test_a_link_to_a_directory_inside_the_store_is_refused_too(tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path / "state")
    await store.put("sessions/real/00000001.json", b"mine")
    (tmp_path / "state/sessions/alias").symlink_to(tmp_path / "state/sessions/real")
    with pytest.raises(SymlinkRefused):
        await store.get("sessions/alias/00000001.json")
    assert [i.key for i in await store.list("sessions/")] == ["sessions/real/00000001.json"]


async def test_a_file_link_is_never_read_or_written_through(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "state"
    store = LocalDirStore(root)
    (root / "sessions/s").mkdir(parents=True)
    (root / KEY).symlink_to(outside / "00000001.json")
    with pytest.raises(SymlinkRefused):
        await store.get(KEY)
    with pytest.raises(SymlinkRefused):
        await store.put(KEY, b"edit", if_match='"any"')
    with pytest.raises(PreconditionFailed):
        await store.put(KEY, b"create", if_none_match=True)  # the name is taken, by the link
    assert await store.list("sessions/") == []
    await store.delete(KEY)  # removes the link itself
    assert not os.path.lexists(root / KEY)  # noqa: ASYNC240
    assert (outside / "00000001.json").read_text() == "secret"
    await store.put(KEY, b"fresh")
    assert not (root / KEY).is_symlink()
    assert (outside / "00000001.json").read_text() == "secret"


async def test_a_plain_put_replaces_a_file_link_without_writing_through(
    tmp_path: Path, outside: Path
) -> None:
    root = tmp_path / "state"
    (root / "sessions/s").mkdir(parents=True)
    (root / KEY).symlink_to(outside / "00000001.json")
    store = LocalDirStore(root)
    await store.put(KEY, b"replaced")
    assert (root / KEY).read_bytes() == b"replaced"
    assert not (root / KEY).is_symlink()
    assert (outside / "00000001.json").read_text() == "secret"


async def test_a_lock_file_link_is_refused(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "state"
    root.mkdir()
    (root / ".lock").symlink_to(outside / "00000001.json")
    with pytest.raises(OSError, match="symbolic links"):
        await LocalDirStore(root).put(KEY, b"x")
    assert (outside / "00000001.json").read_text() == "secret"
