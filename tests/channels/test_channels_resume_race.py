"""Startup resume meets a webhook accepted meanwhile: the record is still processed once."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from functools import partial
from pathlib import Path

import pytest
import suite_support
from channels_support import EDGE_TOKEN, FakePlatforms, channel_settings, slack_event
from starlette.testclient import TestClient

from agent.runtime.app import AppDeps, create_app
from agent.runtime.store.base import ObjectInfo, StoredObject
from agent.runtime.store.local import LocalDirStore

wait_ready = partial(
    suite_support.wait_ready, headers={"X-Agent-Edge-Token": EDGE_TOKEN}, attempts=500
)
_INBOX = "inbox/slack/"
_CLAIMS = "channels/events/slack/"


class OverlappingStore(LocalDirStore):
    """Forces the interleaving that load made rare, and counts the event claims.

    The startup resume lists the Slack inbox only once the webhook's record is in it, and the
    first read of that record (the accepted task's) waits up to `hold` seconds for a second
    reader, so two tasks on one record, if the hub allows them, always overlap.
    """

    def __init__(self, root: Path, hold: float = 1.0) -> None:
        super().__init__(root)
        self.hold = hold
        self.record_reads = 0
        self.claims = 0
        self.recorded = asyncio.Event()
        self.second_read = asyncio.Event()

    async def list(
        self, prefix: str, *, start_after: str | None = None, max_keys: int | None = None
    ) -> list[ObjectInfo]:
        if prefix == _INBOX:
            await asyncio.wait_for(self.recorded.wait(), 10)
        return await super().list(prefix, start_after=start_after, max_keys=max_keys)

    async def get(self, key: str) -> StoredObject | None:
        if key.startswith(_INBOX):
            self.record_reads += 1
            if self.record_reads == 2:
                self.second_read.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.second_read.wait(), self.hold)
        return await super().get(key)

    async def put(
        self, key: str, body: bytes, *, if_none_match: bool = False, if_match: str | None = None
    ) -> str:
        if key.startswith(_CLAIMS):
            self.claims += 1
        etag = await super().put(key, body, if_none_match=if_none_match, if_match=if_match)
        if key.startswith(_INBOX):
            self.recorded.set()
        return etag


@pytest.mark.slow  # waits seconds of real time
def test_record_listed_by_resume_while_accepted_is_processed_once(
    tmp_path: Path, fakes: FakePlatforms
) -> None:
    settings = channel_settings(tmp_path, fakes, slack_dm_policy="pairing")
    store = OverlappingStore(tmp_path)
    headers = {
        "X-Agent-Edge-Token": EDGE_TOKEN,
        **suite_support.INTERNAL,
        "X-Agent-User": "channel:slack",
        "X-Agent-Channel": "slack",
        "X-Request-Id": uuid.uuid4().hex,
    }
    app = create_app(settings, AppDeps(store=store))
    with TestClient(app) as client:
        wait_ready(client)
        event = slack_event("EvRace", "hello", user="U0NEW")
        assert client.post("/webhooks/slack", headers=headers, json=event).status_code == 202
        fakes.wait_for(lambda: len(fakes.sent) == 1)
        assert client.portal is not None
        client.portal.call(app.state.runtime.channels.idle)
    assert store.claims == 1  # one task claimed the event: the resume left it to the accepted one
    assert len(fakes.sent) == 1
    assert "pairing code" in fakes.sent[0].text
    assert [k.name for k in (tmp_path / "outbox" / "pending").glob("*")] == []
    assert list((tmp_path / "inbox" / "slack").glob("*")) == []
