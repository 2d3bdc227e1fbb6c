"""Attachment expiry (ATTACHMENT_RETENTION_DAYS) and the audio types voice notes arrive as."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from agent.runtime.attachment_retention import attachment_retention
from agent.runtime.attachments import expired, owner_of, save, sniff
from agent.runtime.retention import ATTACHMENTS_DONE_PREFIX
from agent.runtime.store.memory import MemoryStore

DAY0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
USER = "telegram:4242"
OGG = b"OggS\x00\x02" + bytes(range(1, 60))


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (OGG, "audio/ogg"),  # Telegram and WhatsApp voice notes (Opus in OGG)
        (b"ID3\x04\x00" + bytes(20), "audio/mpeg"),
        (b"\xff\xfb\x90\x64" + bytes(20), "audio/mpeg"),  # an MP3 frame without ID3
        (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00", "audio/mp4"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "audio/wav"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "audio/webm"),
        (b"\x89ZIP" + bytes(20), None),
    ],
)
def test_audio_is_sniffed_from_its_first_bytes(head: bytes, kind: str | None) -> None:
    assert sniff(head) == kind


def keys(store: MemoryStore) -> list[str]:
    return sorted(info.key for info in asyncio.run(store.list("")))


def sweep(store: MemoryStore, at: datetime) -> tuple[int, int]:
    report = asyncio.run(attachment_retention(store, days=90, clock=lambda: at).sweep())
    return report.deleted, report.kept_pending


def test_an_attachment_expires_days_after_it_was_last_stored() -> None:
    store = MemoryStore()
    info = asyncio.run(save(store, USER, "voice.ogg", OGG, at=DAY0))
    assert info.type == "audio/ogg"
    base = f"attachments/{owner_of(USER)}/{info.id}"
    entry = f"{ATTACHMENTS_DONE_PREFIX}2026-01-01/{base}.json"
    assert keys(store) == sorted([base, f"{base}.json", entry])
    assert sweep(store, DAY0 + timedelta(days=89)) == (0, 0)
    transcript = f"{base}.transcript.json"  # agent/runtime/transcription.py stores it here
    asyncio.run(store.put(transcript, b'{"text": "hello"}'))
    # Sent again on day 50: the entry moves to that day, and the 90 days count from there.
    asyncio.run(save(store, USER, "voice.ogg", OGG, at=DAY0 + timedelta(days=50)))
    moved = f"{ATTACHMENTS_DONE_PREFIX}2026-02-20/{base}.json"
    assert keys(store) == sorted([base, f"{base}.json", transcript, moved])
    assert sweep(store, DAY0 + timedelta(days=91)) == (0, 0)
    assert not asyncio.run(expired(store, USER, info.id))
    assert sweep(store, DAY0 + timedelta(days=141)) == (1, 0)
    assert keys(store) == []  # bytes, transcript, description and entry
    assert asyncio.run(expired(store, USER, info.id))


def test_an_entry_left_by_a_crash_is_kept_while_the_file_is_in_use_then_cleared() -> None:
    store = MemoryStore()
    info = asyncio.run(save(store, USER, "voice.ogg", OGG, at=DAY0 + timedelta(days=50)))
    meta = f"attachments/{owner_of(USER)}/{info.id}.json"
    # A crash between writing a new entry and deleting the old one leaves the old one behind.
    asyncio.run(store.put(f"{ATTACHMENTS_DONE_PREFIX}2026-01-01/{meta}", b""))
    assert sweep(store, DAY0 + timedelta(days=91)) == (0, 1)  # the newer use decides
    assert not asyncio.run(expired(store, USER, info.id))
    assert sweep(store, DAY0 + timedelta(days=141)) == (2, 0)
    assert keys(store) == []
