"""WhatsApp: webhook -> turn -> Graph API reply via the outbox, against a loopback fake Graph."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import suite_support
from channels_support import EDGE_TOKEN, OGG, PNG, FakePlatforms, channel_settings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient
from suite_support import serve_app, wait_until

from agent.runtime.app import create_app
from agent.runtime.channels.base import DeliveryError, Ignored, InboundMessage
from agent.runtime.channels.config import load_channel_configs
from agent.runtime.channels.whatsapp import WhatsAppChannel
from agent.runtime.settings import RuntimeSettings

WA_TOKEN = "EAAGfakeWhatsAppAccessToken0123456789"
PHONE_ID = "106540352242922"
ALICE = "15551234567"
OWNER = {"X-Agent-Edge-Token": EDGE_TOKEN, "X-Agent-User": "owner@example.com"}
wait_ready = partial(suite_support.wait_ready, headers=OWNER, attempts=500)


@dataclass
class FakeGraph:
    """`POST /<version>/<phone-number-id>/messages`, recording what it accepts."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    failures: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    url: str = ""
    # Media a message names by id: GET /<media-id> answers its URL, GET /media/<id> the bytes.
    media: dict[str, bytes] = field(default_factory=dict)
    media_fetches: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def messages(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {WA_TOKEN}":
            error = {
                "message": "Invalid OAuth access token.",
                "type": "OAuthException",
                "code": 190,
            }
            return JSONResponse({"error": error}, 401)
        if request.path_params["phone"] != PHONE_ID:
            return JSONResponse(
                {"error": {"message": "Unsupported post request", "code": 100}}, 400
            )
        body = await request.json()
        with self._lock:
            self.attempts += 1
            if self.failures:
                status, answer = self.failures.pop(0)
                return JSONResponse(answer, status)
            if body.get("messaging_product") != "whatsapp" or len(body["text"]["body"]) > 4096:
                return JSONResponse({"error": {"message": "Invalid parameter", "code": 100}}, 400)
            self.sent.append(body)
        wamid = f"wamid.out-{len(self.sent)}"
        return JSONResponse({"messaging_product": "whatsapp", "messages": [{"id": wamid}]})

    async def media_url(self, request: Request) -> JSONResponse:
        # https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media#retrieve-media-url
        data = self.media.get(request.path_params["media_id"])
        if request.headers.get("authorization") != f"Bearer {WA_TOKEN}" or data is None:
            return JSONResponse({"error": {"message": "Unsupported get request", "code": 100}}, 400)
        media_id = request.path_params["media_id"]
        return JSONResponse(
            {"messaging_product": "whatsapp", "url": f"{self.url.rsplit('/', 1)[0]}/media/"
             f"{media_id}", "mime_type": "audio/ogg; codecs=opus", "file_size": len(data),
             "id": media_id}
        )  # fmt: skip

    async def media_bytes(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {WA_TOKEN}":
            return Response(b"unauthorized", 401)
        with self._lock:
            self.media_fetches.append(request.path_params["media_id"])
        return Response(self.media[request.path_params["media_id"]])

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v21.0/{phone}/messages", self.messages, methods=["POST"]),
                Route("/v21.0/{media_id}", self.media_url, methods=["GET"]),
                Route("/media/{media_id}", self.media_bytes, methods=["GET"]),
            ]
        )

    def wait_for(self, predicate: Any) -> None:
        wait_until(predicate, lambda: f"sent so far: {self.sent}")


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    fake = FakeGraph()
    with serve_app(fake.app(), "fake graph", ws="none") as url:
        fake.url = f"{url}/v21.0"
        yield fake


def delivery(wamid: str, text: str, timestamp: int, sender: str = ALICE) -> dict[str, Any]:
    """A `messages` webhook as Meta sends it (one text message)."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_ID},
        "contacts": [{"profile": {"name": "Alice"}, "wa_id": sender}],
        "messages": [
            {"from": sender, "id": wamid, "timestamp": str(timestamp), "type": "text",
             "text": {"body": text}}
        ],
    }  # fmt: skip
    change = {"field": "messages", "value": value}
    return {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [change]}]}


# --- the adapter against the fake Graph, with an injected clock --------------------------------


def adapter(graph: FakeGraph, clock: list[float]) -> tuple[WhatsAppChannel, httpx.AsyncClient]:
    http = httpx.AsyncClient()
    return WhatsAppChannel(WA_TOKEN, PHONE_ID, graph.url, http, now=lambda: clock[0]), http


def test_parse_text_and_ignore_the_rest(graph: FakeGraph) -> None:
    channel, http = adapter(graph, [1_764_000_000.0])
    parsed = channel.parse(delivery("wamid.A", " hello ", 1_764_000_000))
    assert parsed == InboundMessage(
        event_id="wamid.A", sender=ALICE, sender_name="Alice", conversation=ALICE, thread=ALICE,
        text="hello", direct=True, home=ALICE,
    )  # fmt: skip
    image = delivery("wamid.B", "x", 1_764_000_000)
    image["entry"][0]["changes"][0]["value"]["messages"][0] |= {"type": "image", "text": None}
    assert isinstance(channel.parse(image), Ignored)
    status = {"id": "wamid.A", "status": "read"}
    change = {"field": "messages", "value": {"statuses": [status]}}
    statuses = {"object": "whatsapp_business_account", "entry": [{"changes": [change]}]}
    assert channel.parse(statuses) == Ignored("no message (statuses or other notifications)")
    other_number = delivery("wamid.C", "hi", 1_764_000_000)
    other_number["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999999"
    assert isinstance(channel.parse(other_number), Ignored)
    assert isinstance(channel.parse({"object": "page"}), Ignored)
    asyncio.run(http.aclose())


def test_reply_inside_the_window_then_refused_outside_it(graph: FakeGraph) -> None:
    clock = [1_764_000_000.0]
    channel, http = adapter(graph, clock)

    async def scenario() -> None:
        channel.parse(delivery("wamid.A", "hi", int(clock[0]) - 60))
        await channel.deliver(ALICE, "hello back")
        assert graph.sent[-1] == {
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": ALICE,
            "type": "text", "text": {"preview_url": False, "body": "hello back"},
        }  # fmt: skip
        clock[0] += 24 * 3600  # the person's message is now more than 24 hours old
        attempts = graph.attempts
        with pytest.raises(DeliveryError) as refused:
            await channel.deliver(ALICE, "too late")
        assert not refused.value.retryable
        assert "24-hour customer-service window" in str(refused.value)
        assert graph.attempts == attempts  # refused before any call to Graph
        await http.aclose()

    asyncio.run(scenario())


def test_graph_errors_map_to_retry_or_a_stated_failure(graph: FakeGraph) -> None:
    channel, http = adapter(graph, [1_764_000_000.0])  # nothing parsed: window not known

    async def scenario() -> None:
        reengage = {"message": "Re-engagement message", "code": 131047}
        graph.failures.append((400, {"error": reengage}))
        with pytest.raises(DeliveryError) as outside:
            await channel.deliver(ALICE, "hi")
        assert not outside.value.retryable
        assert "24-hour customer-service window" in str(outside.value)
        graph.failures.append((400, {"error": {"message": "Throughput", "code": 130429}}))
        with pytest.raises(DeliveryError) as throttled:
            await channel.deliver(ALICE, "hi")
        assert throttled.value.retryable
        graph.failures.append((400, {"error": {"message": "bad number", "code": 131026}}))
        with pytest.raises(DeliveryError) as final:
            await channel.deliver(ALICE, "hi")
        assert not final.value.retryable
        await http.aclose()
        async with httpx.AsyncClient() as other:
            bad = WhatsAppChannel("EAAGwrong-token-0123456789", PHONE_ID, graph.url, other)
            with pytest.raises(DeliveryError) as denied:
                await bad.deliver(ALICE, "hi")
        assert "EAAGwrong" not in str(denied.value)
        assert "code 190" in str(denied.value)

    asyncio.run(scenario())


# --- configuration -------------------------------------------------------------------------------


def test_config_names_the_bad_variable(tmp_path: Path) -> None:
    base = {"agent_tenant": "acme", "agent_edge_token": EDGE_TOKEN, "state_backend": "local",
            "state_dir": tmp_path}  # fmt: skip
    off = load_channel_configs(RuntimeSettings(**base))["whatsapp"]  # type: ignore[arg-type]
    assert off.status == "not configured: set WHATSAPP_ACCESS_TOKEN to enable"
    no_number = RuntimeSettings(**base, whatsapp_access_token=WA_TOKEN)  # type: ignore[arg-type]
    status = load_channel_configs(no_number)["whatsapp"].status
    assert status.startswith("disabled: WHATSAPP_PHONE_NUMBER_ID must be the numeric phone number")
    bad_list = RuntimeSettings(
        **base, whatsapp_access_token=WA_TOKEN, whatsapp_phone_number_id=PHONE_ID,  # type: ignore[arg-type]
        whatsapp_dm_policy="allowlist", whatsapp_allowlist="+15551234567",
    )  # fmt: skip
    assert "WHATSAPP_ALLOWLIST has entries" in load_channel_configs(bad_list)["whatsapp"].status
    ok = RuntimeSettings(
        **base, whatsapp_access_token=WA_TOKEN, whatsapp_phone_number_id=PHONE_ID,  # type: ignore[arg-type]
        whatsapp_dm_policy="allowlist", whatsapp_allowlist=ALICE,
    )  # fmt: skip
    ready = load_channel_configs(ok)["whatsapp"]
    assert (ready.enabled, ready.allowlist, ready.phone_number_id) == (True, {ALICE}, PHONE_ID)


# --- the whole runtime: webhook -> turn -> outbox -> fake Graph ----------------------------------


def webhook(client: TestClient, payload: dict[str, Any]) -> Any:
    headers = {
        "X-Agent-Edge-Token": EDGE_TOKEN,
        **suite_support.INTERNAL,
        "X-Agent-User": "channel:whatsapp",
        "X-Agent-Channel": "whatsapp",
        "X-Request-Id": uuid.uuid4().hex,
    }
    return client.post("/webhooks/whatsapp", headers=headers, json=payload)


@pytest.fixture
def wa_client(tmp_path: Path, graph: FakeGraph) -> Iterator[tuple[TestClient, Path]]:
    unused = FakePlatforms()
    unused.url = "http://127.0.0.1:9"  # the other channels are configured but never called
    settings = channel_settings(
        tmp_path / "state", unused, whatsapp_access_token=WA_TOKEN,
        whatsapp_phone_number_id=PHONE_ID, whatsapp_api_base_url=graph.url,
        whatsapp_dm_policy="open",
    )  # fmt: skip
    with TestClient(create_app(settings)) as client:
        wait_ready(client)
        yield client, settings.state_dir


def outbox_records(state: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((state / "outbox").rglob("*.json"))]


def test_message_gets_one_reply_even_when_meta_retries(
    wa_client: tuple[TestClient, Path], graph: FakeGraph
) -> None:
    client, _state = wa_client
    now = int(time.time())  # the message's own (signed) time: inside the window
    assert webhook(client, delivery("wamid.flow-1", "hello agent", now)).status_code == 202
    graph.wait_for(lambda: len(graph.sent) == 1)
    reply = graph.sent[0]
    assert reply["to"] == ALICE
    assert "hello agent" in reply["text"]["body"]
    # Meta redelivers the same message (same wamid): answered once.
    assert webhook(client, delivery("wamid.flow-1", "hello agent", now)).status_code == 202
    assert webhook(client, delivery("wamid.flow-2", "second", now)).status_code == 202
    graph.wait_for(lambda: len(graph.sent) == 2)
    time.sleep(0.3)
    assert "hello agent" in graph.sent[0]["text"]["body"]
    assert "second" in graph.sent[1]["text"]["body"]
    assert len(graph.sent) == 2


def test_reply_outside_the_window_is_recorded_as_failed_with_the_reason(
    wa_client: tuple[TestClient, Path], graph: FakeGraph
) -> None:
    client, state = wa_client
    two_days_ago = int(time.time()) - 2 * 24 * 3600
    assert webhook(client, delivery("wamid.old-1", "still there?", two_days_ago)).status_code == 202

    def failed() -> list[dict[str, Any]]:
        return [r for r in outbox_records(state) if r.get("status") == "failed"]

    graph.wait_for(lambda: bool(failed()))
    assert graph.attempts == 0  # nothing was sent that Meta would refuse
    assert "24-hour customer-service window" in failed()[0]["last_error"]
    channels = client.get("/api/channels", headers=OWNER).json()["channels"]
    status = next(c["status"] for c in channels if c["channel"] == "whatsapp")
    assert status.startswith("delivery failing: whatsapp: not sent to 15551234567: outside the 24")


def media_delivery(wamid: str, timestamp: int, kind: str, media: dict[str, Any]) -> dict[str, Any]:
    """A media message: `type` names the field holding the media id (and caption)."""
    payload = delivery(wamid, "", timestamp)
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    del message["text"]
    message.update({"type": kind, kind: media})
    return payload


def test_voice_note_and_image_are_stored_before_the_ack_and_reach_the_model(
    wa_client: tuple[TestClient, Path], graph: FakeGraph, caplog: pytest.LogCaptureFixture
) -> None:
    client, state = wa_client
    graph.media.update({"m-voice": OGG, "m-photo": PNG})
    now = int(time.time())
    voice = {"id": "m-voice", "mime_type": "audio/ogg; codecs=opus", "voice": True}
    assert webhook(client, media_delivery("wamid.v1", now, "audio", voice)).status_code == 202
    # Acknowledged, so stored: the bytes are in the state before any turn ran.
    assert [p.read_bytes() for p in (state / "attachments").rglob("*") if p.suffix == ""
            and p.is_file()] == [OGG]  # fmt: skip
    photo = {"id": "m-photo", "mime_type": "image/png", "caption": "what is this?"}
    assert webhook(client, media_delivery("wamid.p1", now, "image", photo)).status_code == 202
    graph.wait_for(lambda: len(graph.sent) == 2)
    voice_reply, photo_reply = (m["text"]["body"] for m in graph.sent)
    assert "voice.ogg (audio/ogg" in voice_reply
    assert "'what is this?'" in photo_reply
    assert "image/png" in photo_reply
    # Meta redelivers the voice note: nothing fetched or answered again.
    assert webhook(client, media_delivery("wamid.v1", now, "audio", voice)).status_code == 202
    time.sleep(0.3)
    assert graph.media_fetches == ["m-voice", "m-photo"]
    assert len(graph.sent) == 2
    assert WA_TOKEN not in caplog.text
    stored = [p.read_bytes() for p in state.rglob("*") if p.is_file() and "inbox" not in p.parts]
    assert all(WA_TOKEN.encode() not in body for body in stored)
