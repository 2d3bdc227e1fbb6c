"""Voice notes: audio attachments are sniffed, transcribed through a loopback AI Gateway (Workers AI
speech-to-text), cached with the attachment, shown with the turn and described by the offline
model; without a gateway, or over a limit, the agent says why it cannot listen."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from functools import partial

import pytest
import suite_support
from fake_ai_gateway import RUN_TOKEN, FakeAiGateway, fake_ai_gateway
from pydantic import SecretStr
from runtime_support import edge_headers
from starlette.testclient import TestClient

from agent.runtime.app import create_app
from agent.runtime.attachments import owner_of, sniff
from agent.runtime.settings import RuntimeSettings
from agent.runtime.transcription import audio_seconds

ALICE = edge_headers("alice@example.com")
wait_ready = partial(suite_support.wait_ready, headers=ALICE, attempts=200)


def _ogg_page(granule: int, payload: bytes, sequence: int) -> bytes:
    # RFC 3533 section 6: capture pattern, version, flags, granule, serial, sequence, CRC, lacing.
    header = b"OggS" + bytes([0, 0]) + struct.pack("<qIII", granule, 7, sequence, 0)
    return header + bytes([1, len(payload)]) + payload


def ogg_opus(seconds: float, salt: bytes = b"") -> bytes:
    """An Ogg Opus stream whose last page says `seconds` (48 kHz granules, RFC 7845)."""
    head = b"OpusHead" + bytes([1, 1]) + struct.pack("<HIhB", 312, 48_000, 0, 0)
    return (
        _ogg_page(0, head, 0)
        + _ogg_page(0, b"OpusTags" + salt, 1)
        + _ogg_page(int(seconds * 48_000), b"\xfc" * 40, 2)
    )


def wav(seconds: float) -> bytes:
    """8 kHz, 8-bit mono PCM: 8000 bytes a second."""
    data = b"\x80" * int(seconds * 8000)
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 8000, 1, 8)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data))
    return b"RIFF" + struct.pack("<I", 4 + len(chunks) + len(data)) + b"WAVE" + chunks + data


@pytest.fixture
def gateway() -> Iterator[FakeAiGateway]:
    with fake_ai_gateway() as running:
        yield running


def with_gateway(settings: RuntimeSettings, gateway: FakeAiGateway, **update: object) -> TestClient:
    configured = settings.model_copy(
        update={
            "ai_gateway_base_url": gateway.base_url,
            "ai_gateway_token": SecretStr(RUN_TOKEN),
            **update,
        }
    )
    return TestClient(create_app(configured))


def upload(client: TestClient, body: bytes, name: str) -> dict[str, object]:
    response = client.post("/api/attachments", params={"name": name}, content=body, headers=ALICE)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def chat(client: TestClient, session: str, ids: list[object]) -> str:
    response = client.post(
        "/api/chat",
        headers=ALICE,
        json={"message": "listen", "session_id": session, "attachments": ids},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["reply"])


def test_audio_is_sniffed_from_its_content_and_its_length_read_from_the_header() -> None:
    assert sniff(ogg_opus(3)) == "audio/ogg"
    assert sniff(wav(1)) == "audio/wav"
    assert sniff(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01webm") == "audio/webm"
    assert sniff(b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00") == "audio/mp4"
    assert sniff(b"ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb") == "audio/mpeg"
    assert sniff(b"\xff\xfb\x90\x64" + b"\x00" * 32) == "audio/mpeg"
    assert sniff(b"\x00\x00\x00\x20ftypqt  ") is None  # a QuickTime movie is no voice note
    assert audio_seconds(ogg_opus(12.5), "audio/ogg") == 12.5
    assert audio_seconds(wav(2), "audio/wav") == 2.0
    assert audio_seconds(b"ID3...", "audio/mpeg") is None


def test_a_voice_note_is_transcribed_once_shown_with_the_turn_and_described(
    settings: RuntimeSettings, gateway: FakeAiGateway
) -> None:
    note = ogg_opus(4)
    gateway.spoken[note] = "Remind me to water the plants."
    with with_gateway(settings, gateway) as client:
        wait_ready(client)
        info = upload(client, note, "voice.ogg")
        assert (info["type"], "transcript" in info) == ("audio/ogg", False)
        reply = chat(client, "voice", [info["id"]])
        assert (
            f"- voice.ogg (audio/ogg, {len(note)} bytes): a voice note; transcript: "
            "'Remind me to water the plants.'" in reply
        )
        [turn] = client.get("/api/sessions/voice", headers=ALICE).json()["turns"]
        assert turn["attachments"][0]["transcript"] == "Remind me to water the plants."
        # Sent again (another session, or a restored one): the cached transcript, no second call.
        assert "water the plants" in chat(client, "again", [info["id"]])
    [call] = gateway.transcriptions
    assert (call.model, call.audio) == ("@cf/openai/whisper-large-v3-turbo", note)
    assert call.metadata is not None
    assert call.metadata["user"] == "alice@example.com"
    cached = settings.state_dir / "attachments" / owner_of("alice@example.com")
    assert (cached / f"{info['id']}.transcript.json").is_file()


def test_without_a_gateway_the_agent_says_it_cannot_transcribe(settings: RuntimeSettings) -> None:
    with TestClient(create_app(settings)) as client:
        wait_ready(client)
        info = upload(client, wav(1), "memo.wav")
        reply = chat(client, "deaf", [info["id"]])
    assert "audio I could not transcribe: speech-to-text needs AI Gateway" in reply
    assert "AI_GATEWAY_BASE_URL is not set" in reply


def test_limits_and_gateway_failures_become_a_clear_note_and_are_not_cached(
    settings: RuntimeSettings, gateway: FakeAiGateway
) -> None:
    long_note, short_note = ogg_opus(11), ogg_opus(2, salt=b"short")
    gateway.spoken[short_note] = "Call Bob."
    with with_gateway(settings, gateway, agent_transcription_max_seconds=10) as client:
        wait_ready(client)
        long_id = upload(client, long_note, "long.ogg")["id"]
        reply = chat(client, "limits", [long_id])
        assert "the audio is 11 s long, over the 10 s limit (AGENT_TRANSCRIPTION_MAX_SECONDS)" in (
            reply
        )
        assert gateway.transcriptions == []  # refused before anything was paid for

        short_id = upload(client, short_note, "short.ogg")["id"]
        gateway.transcribe_status = 500
        assert "speech-to-text failed: AI Gateway answered HTTP 500" in chat(
            client, "flaky", [short_id]
        )
        gateway.transcribe_status = None
        assert "transcript: 'Call Bob.'" in chat(client, "flaky", [short_id])
    assert len(gateway.transcriptions) == 2  # the failure was not cached
    owner = settings.state_dir / "attachments" / owner_of("alice@example.com")
    assert not (owner / f"{long_id}.transcript.json").exists()


def test_an_audio_file_over_the_size_limit_is_not_sent(
    settings: RuntimeSettings, gateway: FakeAiGateway
) -> None:
    with with_gateway(settings, gateway, agent_transcription_max_bytes=4096) as client:
        wait_ready(client)
        info = upload(client, wav(1), "big.wav")
        reply = chat(client, "big", [info["id"]])
    assert f"the audio is {info['size']} bytes, over the 4096-byte limit" in reply
    assert "AGENT_TRANSCRIPTION_MAX_BYTES" in reply
    assert gateway.transcriptions == []
