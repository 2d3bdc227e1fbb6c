"""Pairing codes: shape, expiry, the pending cap, one-time approval, allow checks per policy."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from agent.runtime.channels.config import ChannelConfig
from agent.runtime.channels.pairing import (
    CODE_ALPHABET,
    MAX_PENDING,
    PairingBook,
    PairingRequest,
)
from agent.runtime.sessions import now
from agent.runtime.store.local import LocalDirStore

pytestmark = pytest.mark.anyio
PAIRING = ChannelConfig("telegram", True, "ready", policy="pairing", allowlist=frozenset({"1"}))


async def test_codes_are_8_unambiguous_characters_and_stable_while_live(tmp_path: Path) -> None:
    book = PairingBook(LocalDirStore(tmp_path))
    first = await book.request(PAIRING, "42", "Ada", "42")
    again = await book.request(PAIRING, "42", "Ada", "42")
    assert first is not None
    assert again == first
    assert len(first.code) == 8
    assert set(first.code) <= set(CODE_ALPHABET)
    assert not set(first.code) & set("01IO")
    assert timedelta(minutes=59) < first.expires_at - first.created_at <= timedelta(hours=1)


async def test_an_expired_code_is_gone_and_replaced(tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path)
    book = PairingBook(store)
    old = PairingRequest(
        channel="telegram",
        sender="42",
        sender_name="Ada",
        conversation="42",
        code="AAAAAAAA",
        created_at=now() - timedelta(hours=2),
        expires_at=now() - timedelta(hours=1),
    )
    await store.put("channels/pairing/telegram/42.json", old.model_dump_json().encode())
    assert await book.pending() == []
    assert await book.approve("telegram", "AAAAAAAA", "owner@example.com") is None
    fresh = await book.request(PAIRING, "42", "Ada", "42")
    assert fresh is not None
    assert fresh.code != "AAAAAAAA"
    assert [p.code for p in await book.pending("telegram")] == [fresh.code]


async def test_pending_requests_are_capped_per_channel(tmp_path: Path) -> None:
    book = PairingBook(LocalDirStore(tmp_path))
    for sender in range(100, 100 + MAX_PENDING):
        assert await book.request(PAIRING, str(sender), "x", str(sender)) is not None
    assert await book.request(PAIRING, "999", "flood", "999") is None
    assert len(await book.pending("telegram")) == MAX_PENDING
    slack = ChannelConfig("slack", True, "ready", policy="pairing")
    assert await book.request(slack, "U0ADA", "ada", "D0") is not None  # another channel


async def test_allow_checks_per_policy_and_one_time_approval(tmp_path: Path) -> None:
    book = PairingBook(LocalDirStore(tmp_path))
    open_ = ChannelConfig("telegram", True, "ready", policy="open")
    listed = ChannelConfig(
        "telegram", True, "ready", policy="allowlist", allowlist=frozenset({"1"})
    )
    assert await book.is_allowed(open_, "7")
    assert await book.is_allowed(PAIRING, "1")  # the allowlist counts under pairing too
    assert not await book.is_allowed(PAIRING, "7")
    request = await book.request(PAIRING, "7", "Bo", "7")
    assert request is not None
    approval = await book.approve("telegram", request.code.lower(), "owner@example.com")
    assert approval is not None
    assert (approval.sender, approval.approved_by) == ("7", "owner@example.com")
    assert await book.approve("telegram", request.code, "owner@example.com") is None
    assert await book.is_allowed(PAIRING, "7")
    assert not await book.is_allowed(listed, "7")  # approvals do not widen an allowlist
    assert not await book.is_allowed(PAIRING, "../7")  # never a key outside the prefix
