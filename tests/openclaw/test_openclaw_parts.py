"""The engine's parts in-process: SQLite snapshots, state sync, CDP relay, restart backoff."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import sqlite3
import sys
import threading
import time
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from suite_support import until
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from agent.runtime.openclaw import sync as sync_module
from agent.runtime.openclaw.cdp_relay import CdpRelay
from agent.runtime.openclaw.supervisor import OpenClawSupervisor, SupervisorPolicy
from agent.runtime.openclaw.sync import (
    SKIP_TOP,
    StateSync,
    persisted,
    persisted_files,
    snapshot_sqlite,
)
from agent.runtime.store.local import LocalDirStore

pytestmark = pytest.mark.anyio


def wal_db(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")
    db.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER PRIMARY KEY, pad TEXT)")
    return db


def count_rows(body: bytes, tmp: Path) -> int:
    copy = tmp / f"check-{time.monotonic_ns()}.sqlite"
    copy.write_bytes(body)
    db = sqlite3.connect(copy)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return int(db.execute("SELECT count(*) FROM t").fetchone()[0])
    finally:
        db.close()
        copy.unlink()


@pytest.mark.slow  # over half a second of CPU (make test-cost)
def test_snapshots_of_a_busy_wal_database_are_consistent(tmp_path: Path) -> None:
    source = tmp_path / "live" / "db.sqlite"
    db = wal_db(source)
    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set():
            db.execute("BEGIN")
            for _ in range(20):  # each transaction adds 20 rows: a torn copy shows a remainder
                n += 1
                db.execute("INSERT INTO t VALUES (?, ?)", (n, "x" * 500))
            db.execute("COMMIT")
            # Paced, so the database stays small: unpaced, on tmpfs (no fsync cost) the writer
            # grew the uncheckpointed WAL by gigabytes while the copies below got ever slower.
            stop.wait(0.002)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        counts = []
        for _ in range(15):
            time.sleep(0.02)
            counts.append(count_rows(snapshot_sqlite(source), tmp_path))
    finally:
        stop.set()
        thread.join()
    assert all(c % 20 == 0 for c in counts), counts
    assert counts[-1] > counts[0]  # the writer made progress during the copies
    assert (source.parent / "db.sqlite-wal").stat().st_size > 0  # data was still in the WAL


def test_what_is_persisted() -> None:
    keep = ["state/openclaw.sqlite", "workspace/MEMORY.md", "credentials/telegram/a.json"]
    drop = [
        "openclaw.json",
        "state/openclaw.sqlite-wal",
        "state/openclaw.sqlite-shm",
        "tmp/openclaw-0/gateway.lock",
        "cache/control-ui-assets/app.js",
        "agents/main/agent/x.reindex-lock.sqlite",
        "agents/main/agent/openclaw-agent.generation-3.sqlite",
    ]
    assert [p for p in keep if persisted(PurePosixPath(p))] == keep
    assert [p for p in drop if persisted(PurePosixPath(p))] == []


def test_the_scan_never_walks_the_skipped_trees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "state"
    kept = ["state/openclaw.sqlite", "workspace/memory/2026-12-01.md", "credentials/t.json"]
    dropped = ["openclaw.json", "state/openclaw.sqlite-wal", "workspace/x.tmp"]
    skipped = [f"{top}/pkg/node_modules/m{i}/index.js" for top in SKIP_TOP for i in range(3)]
    for rel in kept + dropped + skipped:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel)
    (root / "workspace" / "link.md").symlink_to(root / "workspace" / "memory" / "2026-12-01.md")
    opened: list[Path] = []
    real_scandir = os.scandir

    def scandir(path: Path) -> Any:
        opened.append(Path(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    found = sorted(str(rel) for rel in persisted_files(root))
    assert found == sorted([*kept, "workspace/link.md"])  # a linked file is a file, as before
    assert sorted(str(rel) for rel in persisted_files(root, PurePosixPath("workspace"))) == [
        "workspace/link.md",
        "workspace/memory/2026-12-01.md",
    ]
    assert persisted_files(root, PurePosixPath("npm/pkg")) == set()
    entered = {path.relative_to(root).parts[:1] for path in opened if path != root}
    assert entered == {("state",), ("workspace",), ("credentials",)}


async def wait_for_uploads(sync: StateSync, count: int) -> None:
    await until(lambda: sync.uploads >= count, lambda: f"{sync.uploads} uploads, not {count}")
    assert sync.uploads == count


async def test_sync_uploads_changes_within_the_debounce_and_restores(tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path / "store")
    root = tmp_path / "state"
    # No periodic rescan during the test: after the start-up scan only the file watcher uploads.
    sync = StateSync(store, root, debounce_s=0.5, rescan_s=3600)
    assert await sync.restore() == 0
    sync.start()
    try:
        db = wal_db(root / "state" / "openclaw.sqlite")
        db.execute("INSERT INTO t VALUES (1, 'a')")
        (root / "workspace").mkdir()
        (root / "workspace" / "SOUL.md").write_text("be kind\n")
        # Count the sync's own uploads, not the objects in the store: an upload is counted after
        # its put returns, so the store can hold both files a moment before the count says so.
        await wait_for_uploads(sync, 2)
        stored = await store.get("openclaw/state/openclaw.sqlite")
        assert stored is not None
        assert count_rows(stored.body, tmp_path) == 1
        assert await store.get("openclaw/workspace/SOUL.md") is not None
        await asyncio.sleep(0.8)  # longer than the debounce: the watcher's events came and went
        assert sync.uploads == 2  # nothing changed: nothing re-sent
        (root / "workspace" / "SOUL.md").write_text("be kinder\n")
        await wait_for_uploads(sync, 3)  # the watcher's batch, not a rescan
        soul = await store.get("openclaw/workspace/SOUL.md")
        assert soul is not None
        assert soul.body == b"be kinder\n"
        (root / "workspace" / "SOUL.md").unlink()
        db.execute("INSERT INTO t VALUES (2, 'b')")
        db.close()
    finally:
        await sync.stop()
    assert await sync.sync_all() >= 1
    assert await store.get("openclaw/workspace/SOUL.md") is None  # deletions propagate
    fresh_root = tmp_path / "fresh"
    (fresh_root / "state").mkdir(parents=True)
    (fresh_root / "state" / "openclaw.sqlite-wal").write_bytes(b"stale wal from another life")
    fresh = StateSync(store, fresh_root)
    assert await fresh.restore() == 1
    assert not (fresh_root / "state" / "openclaw.sqlite-wal").exists()
    assert count_rows((fresh_root / "state" / "openclaw.sqlite").read_bytes(), tmp_path) == 2


async def test_a_write_within_the_same_mtime_tick_is_not_missed(tmp_path: Path) -> None:
    # A rewrite that keeps the size and lands in the kernel's coarse mtime tick of our last read
    # leaves size and mtime as they were; the file is still re-read until its mtime has settled.
    store = LocalDirStore(tmp_path / "store")
    root = tmp_path / "state"
    (root / "workspace").mkdir(parents=True)
    note = root / "workspace" / "NOTE.md"
    rel = PurePosixPath("workspace/NOTE.md")
    sync = StateSync(store, root)
    note.write_text("first\n")
    assert await sync.sync_paths([rel]) == 1
    before = note.stat()
    note.write_text("again\n")  # same size
    os.utime(note, ns=(before.st_atime_ns, before.st_mtime_ns))  # same tick
    assert await sync.sync_paths([rel]) == 1
    stored = await store.get("openclaw/workspace/NOTE.md")
    assert stored is not None
    assert stored.body == b"again\n"


async def test_a_settled_unchanged_file_is_not_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalDirStore(tmp_path / "store")
    root = tmp_path / "state"
    (root / "workspace").mkdir(parents=True)
    note = root / "workspace" / "NOTE.md"
    rel = PurePosixPath("workspace/NOTE.md")
    note.write_text("old news\n")
    an_hour_ago = time.time_ns() - 3600 * 10**9
    os.utime(note, ns=(an_hour_ago, an_hour_ago))
    sync = StateSync(store, root)
    assert await sync.sync_paths([rel]) == 1
    reads: list[Path] = []
    real_read = sync_module._read
    monkeypatch.setattr(sync_module, "_read", lambda path: reads.append(path) or real_read(path))
    assert await sync.sync_paths([rel]) == 0
    assert reads == []  # the stat alone proved it unchanged


async def test_cdp_relay_adds_the_bearer_header(tmp_path: Path) -> None:
    seen: list[str | None] = []

    async def browser(connection: ServerConnection) -> None:
        seen.append(connection.request.headers.get("Authorization") if connection.request else None)
        async for message in connection:
            await connection.send(json.dumps({"echo": json.loads(message)}))

    async with serve(browser, "127.0.0.1", 0) as upstream:
        port = upstream.sockets[0].getsockname()[1]
        relay = CdpRelay(f"ws://127.0.0.1:{port}/devtools/browser", "br-token")
        await relay.start()
        try:
            assert relay.url.startswith("ws://127.0.0.1:")
            async with connect(relay.url) as cdp:
                await cdp.send(json.dumps({"id": 1, "method": "Browser.getVersion"}))
                assert json.loads(await cdp.recv()) == {
                    "echo": {"id": 1, "method": "Browser.getVersion"}
                }
        finally:
            await relay.close()
    assert seen == ["Bearer br-token"]


@pytest.mark.slow  # waits seconds of real time
async def test_crash_loop_restarts_with_growing_backoff(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    script = tmp_path / "crash.py"
    script.write_text(
        "import sys, time, pathlib\n"
        f"pathlib.Path({str(tmp_path / 'starts')!r}).open('a').write(f'{{time.monotonic()}}\\n')\n"
        "sys.exit(7)\n"
    )
    policy = SupervisorPolicy(backoff_initial_s=0.2, backoff_max_s=0.8, poll_interval_s=0.05)
    supervisor = OpenClawSupervisor(
        [sys.executable, str(script)], {}, port=1, token="t", policy=policy
    )
    supervisor.start()
    starts = tmp_path / "starts"

    def started() -> list[str]:
        return starts.read_text().split() if starts.exists() else []

    await until(lambda: len(started()) >= 5, started)
    await supervisor.stop()
    assert not supervisor.ready
    stamps = [float(x) for x in starts.read_text().split()]
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    # 0.2, 0.4, 0.8, 0.8 s of backoff (plus interpreter start-up)
    assert [gap >= floor for gap, floor in zip(gaps, [0.2, 0.4, 0.8, 0.8], strict=False)] == [
        True
    ] * 4, gaps
    announced = re.findall(r"restarting in ([\d.]+) s", caplog.text)
    assert announced[:4] == ["0.2", "0.4", "0.8", "0.8"]  # doubling, capped at backoff_max_s
    assert supervisor.reason == "stopped"
    assert "OpenClaw gateway exited with code 7; restarting in 0.4 s" in caplog.text


async def test_stop_escalates_to_sigkill_for_the_whole_group(tmp_path: Path) -> None:
    script = tmp_path / "stubborn.py"
    pids = tmp_path / "pids"
    script.write_text(
        "import os, signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        "time.sleep(60)\n"
    )
    policy = SupervisorPolicy(stop_grace_s=0.5)
    supervisor = OpenClawSupervisor(
        [sys.executable, str(script)], {}, port=1, token="t", policy=policy
    )
    supervisor.start()
    await until(lambda: pids.exists() and " " in pids.read_text(), lambda: "no pids written")
    _parent, worker = (int(p) for p in pids.read_text().split())
    code = await supervisor.stop()
    assert code == -9
    await asyncio.sleep(0.2)
    stat = Path(f"/proc/{worker}/stat")
    state = await asyncio.to_thread(
        lambda: stat.read_text().split()[2] if stat.exists() else "gone"
    )
    assert state in {"gone", "Z"}  # the worker died with its group


async def test_a_missing_binary_is_reported_and_retried(tmp_path: Path) -> None:
    policy = SupervisorPolicy(backoff_initial_s=0.05, backoff_max_s=0.1)
    missing = str(tmp_path / "no-such-openclaw")
    supervisor = OpenClawSupervisor(
        [missing, "gateway", "run"], {}, port=1, token="t", policy=policy
    )
    supervisor.start()
    await asyncio.sleep(0.5)
    reason = supervisor.reason
    await supervisor.stop()
    assert supervisor.starts == 0
    assert f"cannot start {missing!r}" in reason
    assert "check OPENCLAW_BIN" in reason


@pytest.mark.slow  # waits seconds of real time
async def test_sustained_writes_upload_once_per_debounce_interval(tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path / "store")
    root = tmp_path / "state"
    db = wal_db(root / "state" / "busy.sqlite")
    sync = StateSync(store, root, debounce_s=0.5)
    sync.start()
    try:
        await asyncio.sleep(0.3)
        before = sync.uploads
        began = time.monotonic()
        n = 0
        while time.monotonic() - began < 2.0:  # a busy turn: a commit every 20 ms
            n += 1
            db.execute("INSERT INTO t VALUES (?, 'x')", (n,))
            await asyncio.sleep(0.02)
        uploads = sync.uploads - before
        await asyncio.sleep(0.8)
    finally:
        await sync.stop()
        db.close()
    assert 2 <= uploads <= 6, uploads  # ~2 s / 0.5 s, not one per commit (~100)
    stored = await store.get("openclaw/state/busy.sqlite")
    assert stored is not None
    assert count_rows(stored.body, tmp_path) == n  # the last batch after the writes stopped
