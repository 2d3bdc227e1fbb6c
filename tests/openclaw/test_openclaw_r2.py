"""State sync against the R2 backend (boto3) on moto's S3 server: binary SQLite, restore."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from suite_support import moto_server, s3

from agent.runtime.openclaw.sync import StateSync
from agent.runtime.store.r2 import R2Store

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


def r2(endpoint: str, bucket: str) -> R2Store:
    s3(endpoint).create_bucket(Bucket=bucket)
    return R2Store(
        bucket=bucket,
        endpoint=endpoint,
        access_key_id="testing",
        secret_access_key="testing",
        region="us-east-1",
        prefix="users/alice@example.com/",
    )


@pytest.mark.slow  # over half a second of CPU (make test-cost)
async def test_sync_and_restore_through_r2(moto_endpoint: str, tmp_path: Path) -> None:
    store = r2(moto_endpoint, "oc-state")
    root = tmp_path / "state"
    db = sqlite3.connect(_db_path(root), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE s (id INTEGER PRIMARY KEY, body BLOB)")
    db.execute("INSERT INTO s VALUES (1, randomblob(70000))")
    for n in range(40):
        (root / "workspace" / ".git" / "objects").mkdir(parents=True, exist_ok=True)
        (root / "workspace" / ".git" / "objects" / f"obj{n:02d}").write_bytes(bytes([n]) * 300)
    sync = StateSync(store, root)
    assert await sync.sync_all() == 41
    db.close()

    keys = [info.key for info in await store.list("openclaw/")]
    assert len(keys) == 41
    assert "openclaw/state/openclaw.sqlite" in keys

    fresh = tmp_path / "fresh"
    began = time.monotonic()
    assert await StateSync(store, fresh).restore() == 41
    print(f"restored 41 objects from moto in {time.monotonic() - began:.2f} s")
    copy = sqlite3.connect(_db_path(fresh))
    assert len(copy.execute("SELECT body FROM s").fetchone()[0]) == 70000
    copy.close()
    assert (fresh / "workspace" / ".git" / "objects" / "obj07").read_bytes() == b"\x07" * 300


def _db_path(root: Path) -> Path:
    path = root / "state" / "openclaw.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
