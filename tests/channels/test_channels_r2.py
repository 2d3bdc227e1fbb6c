"""The channel flow on the production backend: R2's S3 API (moto on loopback)."""

from __future__ import annotations

import uuid
from functools import partial
from pathlib import Path

import pytest
import suite_support
from channels_support import (
    EDGE_TOKEN,
    Failure,
    FakePlatforms,
    channel_settings,
    slack_event,
    telegram_update,
)
from starlette.testclient import TestClient

from agent.runtime.app import create_app

wait_ready = partial(
    suite_support.wait_ready, headers={"X-Agent-Edge-Token": EDGE_TOKEN}, attempts=1000
)


def post(client: TestClient, channel: str, payload: dict[str, object]) -> int:
    headers = {
        "X-Agent-Edge-Token": EDGE_TOKEN,
        **suite_support.INTERNAL,
        "X-Agent-User": f"channel:{channel}",
        "X-Agent-Channel": channel,
        "X-Request-Id": uuid.uuid4().hex,
    }
    return client.post(f"/webhooks/{channel}", headers=headers, json=payload).status_code


@pytest.mark.slow  # over half a second of CPU (make test-cost)
def test_dedupe_outbox_and_restart_on_r2(
    tmp_path: Path, fakes: FakePlatforms, moto_endpoint: str
) -> None:
    bucket = f"state-{uuid.uuid4().hex[:12]}"
    s3 = suite_support.s3(moto_endpoint)
    s3.create_bucket(Bucket=bucket)
    settings = channel_settings(
        tmp_path,
        fakes,
        state_backend="r2",
        state_bucket=bucket,
        state_endpoint=moto_endpoint,
        state_access_key_id="testing",
        state_secret_access_key="testing",
        state_region="us-east-1",
        slack_dm_policy="pairing",
    )
    fakes.fail("telegram", Failure(502, {"ok": False, "description": "Bad Gateway"}), times=1000)
    with TestClient(create_app(settings)) as client:
        wait_ready(client)
        assert post(client, "telegram", telegram_update(1, "on r2")) == 202
        assert post(client, "telegram", telegram_update(1, "on r2")) == 202  # redelivered
        assert post(client, "slack", slack_event("EvR2", "stranger", user="U0NEW")) == 202
        fakes.wait_for(lambda: fakes.attempts["telegram"] >= 1 and len(fakes.sent) == 1)
        assert "pairing code" in fakes.sent[0].text
        pairings = client.get(
            "/api/pairings", headers={"X-Agent-Edge-Token": EDGE_TOKEN, "X-Agent-User": "o@x.io"}
        ).json()["pairings"]
        assert [(p["channel"], p["sender"]) for p in pairings] == [("slack", "U0NEW")]

        def inbox_keys() -> list[str]:
            listed = s3.list_objects_v2(Bucket=bucket, Prefix="inbox/").get("Contents", [])
            return [o["Key"] for o in listed]

        # The inbox record goes once its reply is in the outbox and its done-marker is written.
        fakes.wait_for(lambda: inbox_keys() == [])
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert len([k for k in keys if k.startswith("outbox/pending/")]) == 1  # the Telegram reply
    assert [k for k in keys if k.startswith("inbox/")] == []
    fakes.clear_failures()
    with TestClient(create_app(settings)) as client:
        wait_ready(client)
        fakes.wait_for(lambda: len(fakes.texts("telegram")) == 1)

        def pending() -> list[str]:
            listed = s3.list_objects_v2(Bucket=bucket, Prefix="outbox/pending/")
            return [o["Key"] for o in listed.get("Contents", [])]

        # Delivered, then recorded: once nothing is pending, nothing can be sent again.
        fakes.wait_for(lambda: pending() == [])
    assert len(fakes.texts("telegram")) == 1
    assert "on r2" in fakes.texts("telegram")[0]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert len([k for k in keys if k.startswith("sessions/telegram-4242/")]) == 1


def test_channel_files_dedupe_and_expire_on_r2(moto_endpoint: str) -> None:
    """Content-addressed saves and the expiry sweep against S3 semantics (conditional creates,
    one-key listings), under a per-user prefix as in `per-user` isolation."""
    import asyncio
    import hashlib
    from datetime import UTC, datetime, timedelta

    from channels_support import OGG

    from agent.runtime.attachment_retention import attachment_retention
    from agent.runtime.attachments import expired, owner_of, save
    from agent.runtime.store.r2 import R2Store

    bucket = f"state-{uuid.uuid4().hex[:12]}"
    s3 = suite_support.s3(moto_endpoint)
    s3.create_bucket(Bucket=bucket)
    store = R2Store(
        bucket=bucket, endpoint=moto_endpoint, access_key_id="testing",
        secret_access_key="testing", region="us-east-1", prefix="users/u1/",
    )  # fmt: skip
    day0 = datetime(2026, 1, 1, tzinfo=UTC)
    user = "telegram:4242"

    async def scenario() -> tuple[bool, int, bool]:
        first = await save(store, user, "voice.ogg", OGG, at=day0)
        again = await save(store, user, "voice.ogg", OGG, at=day0)  # a redelivery: same object
        assert first == again
        kept = not await expired(store, user, first.id)
        later = day0 + timedelta(days=91)
        report = await attachment_retention(store, days=90, clock=lambda: later).sweep()
        return kept, report.deleted, await expired(store, user, first.id)

    def keys() -> list[str]:
        return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))

    base = f"users/u1/attachments/{owner_of(user)}/{hashlib.sha256(OGG).hexdigest()}"
    asyncio.run(save(store, user, "voice.ogg", OGG, at=day0))
    assert keys() == sorted(
        [base, f"{base}.json", f"users/u1/done-attachments/2026-01-01/{base[9:]}.json"]
    )
    assert asyncio.run(scenario()) == (True, 1, True)
    assert keys() == []  # bytes, description and expiry entry all gone
