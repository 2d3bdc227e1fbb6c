"""Email: the Worker's event -> turn of the thread -> outbox -> reply via a loopback fake relay."""

from __future__ import annotations

import asyncio
import base64
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
from channels_support import EDGE_TOKEN, FakePlatforms, channel_settings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from suite_support import serve_app, wait_until

from agent.runtime.app import create_app
from agent.runtime.attachments import Attachment, AttachmentInfo
from agent.runtime.channels.base import DeliveryError, Ignored, InboundMessage
from agent.runtime.channels.config import load_channel_configs, relay_credential
from agent.runtime.channels.email import (
    MAX_FILE_BYTES,
    RELAY_HEADER,
    EmailChannel,
    ReplyAddress,
)
from agent.runtime.channels.inbox import session_for
from agent.runtime.settings import RuntimeSettings

OWNER_MAIL = "me@example.org"
AGENT = "agent@example.com"
OWNER = {"X-Agent-Edge-Token": EDGE_TOKEN, "X-Agent-User": "owner@example.com"}
wait_ready = partial(suite_support.wait_ready, headers=OWNER, attempts=500)


@dataclass
class FakeRelay:
    """The Worker's `POST /webhooks/email` (agent/edge/src/email_reply.ts), recording replies."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    failures: list[int] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def relay(self, request: Request) -> JSONResponse:
        if request.headers.get(RELAY_HEADER) != relay_credential(EDGE_TOKEN):
            return JSONResponse({"error": "invalid email relay credential", "hint": ""}, 401)
        body = await request.json()
        with self._lock:
            self.attempts += 1
            if self.failures:
                refused = {"error": "send_email refused", "hint": ""}
                return JSONResponse(refused, self.failures.pop(0))
            self.sent.append(body)
            return JSONResponse({"sent": f"<r{len(self.sent)}@example.com>"}, 202)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/webhooks/email", self.relay, methods=["POST"])])

    def wait_for(self, predicate: Any) -> None:
        wait_until(predicate, lambda: f"sent so far: {self.sent}")


@pytest.fixture
def relay() -> Iterator[FakeRelay]:
    fake = FakeRelay()
    with serve_app(fake.app(), "fake email relay", ws="none") as url:
        fake.url = f"{url}/webhooks/email"
        yield fake


def event(
    message_id: str,
    text: str,
    *,
    references: list[str] | None = None,
    subject: str = "Plans for Friday",
    sender: str = OWNER_MAIL,
) -> dict[str, Any]:
    """What the Worker forwards for one admitted message (InboundEmail in email.ts)."""
    refs = references or []
    return {
        "message_id": message_id, "from": sender, "from_name": "Me", "to": AGENT,
        "subject": subject, "text": text, "truncated": False,
        "in_reply_to": refs[-1] if refs else None, "references": refs,
        "thread": refs[0] if refs else message_id,
    }  # fmt: skip


# --- the adapter ----------------------------------------------------------------------------------


def test_parse_makes_a_turn_of_the_thread_with_a_reply_address() -> None:
    channel = EmailChannel("http://127.0.0.1:9/webhooks/email", "c" * 64, httpx.AsyncClient())
    parsed = channel.parse(event("<m2@example.org>", " Agenda? ", references=["<m1@example.org>"]))
    assert isinstance(parsed, InboundMessage)
    assert (parsed.event_id, parsed.sender, parsed.thread) == (
        "<m2@example.org>", OWNER_MAIL, "<m1@example.org>",
    )  # fmt: skip
    assert parsed.text == "Subject: Plans for Friday\n\nAgenda?"
    assert ReplyAddress.model_validate_json(parsed.conversation) == ReplyAddress(
        to=OWNER_MAIL, subject="Re: Plans for Friday", in_reply_to="<m2@example.org>",
        references=["<m1@example.org>", "<m2@example.org>"],
    )  # fmt: skip
    again = channel.parse(event("<m3@example.org>", "x", subject="RE: Plans"))
    assert isinstance(again, InboundMessage)
    assert ReplyAddress.model_validate_json(again.conversation).subject == "RE: Plans"
    assert channel.parse(event("<m4@example.org>", "  ")) == Ignored(
        "email without text (attachments are not handled yet)"
    )
    assert channel.parse({"from": OWNER_MAIL}) == Ignored("malformed email event")


def test_long_reference_chains_keep_the_root() -> None:
    channel = EmailChannel("http://127.0.0.1:9/webhooks/email", "c" * 64, httpx.AsyncClient())
    chain = [f"<r{i}@example.org>" for i in range(30)]
    parsed = channel.parse(event("<last@example.org>", "hi", references=chain))
    assert isinstance(parsed, InboundMessage)
    refs = ReplyAddress.model_validate_json(parsed.conversation).references
    assert len(refs) == 20
    assert refs[0] == "<r0@example.org>"
    assert refs[-2:] == ["<r29@example.org>", "<last@example.org>"]


def test_relay_errors_map_to_retry_or_failure(relay: FakeRelay) -> None:
    async def scenario() -> None:
        async with httpx.AsyncClient() as http:
            channel = EmailChannel(relay.url, relay_credential(EDGE_TOKEN), http)
            address = ReplyAddress(to=OWNER_MAIL, subject="Re: x", in_reply_to="<a@b>",
                                   references=["<a@b>"]).model_dump_json()  # fmt: skip
            relay.failures.append(502)
            with pytest.raises(DeliveryError) as down:
                await channel.deliver(address, "hi")
            assert down.value.retryable
            relay.failures.append(403)
            with pytest.raises(DeliveryError) as refused:
                await channel.deliver(address, "hi")
            assert not refused.value.retryable
            wrong = EmailChannel(relay.url, "f" * 64, http)
            with pytest.raises(DeliveryError) as denied:
                await wrong.deliver(address, "hi")
            assert "f" * 64 not in str(denied.value)
            assert "HTTP 401" in str(denied.value)
            await channel.deliver(address, "finally")
            assert relay.sent == [{"to": OWNER_MAIL, "subject": "Re: x", "text": "finally",
                                   "in_reply_to": "<a@b>", "references": ["<a@b>"],
                                   "attachment": None}]  # fmt: skip
            png = b"\x89PNG\r\n\x1a\n" + bytes(range(40))
            info = AttachmentInfo(id="a" * 64, name="chart.png", type="image/png", size=len(png))
            await channel.deliver_file(address, Attachment(info=info, body=png))
            assert relay.sent[-1]["text"] == "Attached: chart.png"
            assert relay.sent[-1]["attachment"] == {
                "name": "chart.png", "type": "image/png",
                "content": base64.b64encode(png).decode(),
            }  # fmt: skip
            big = Attachment(info=info, body=b"x" * (MAX_FILE_BYTES + 1))
            with pytest.raises(DeliveryError) as too_big:
                await channel.deliver_file(address, big)
            assert not too_big.value.retryable
            assert len(relay.sent) == 2

    asyncio.run(scenario())


# --- configuration --------------------------------------------------------------------------------


def test_config_names_the_bad_variable(tmp_path: Path) -> None:
    base: dict[str, Any] = {"agent_tenant": "acme", "agent_edge_token": EDGE_TOKEN,
                            "state_backend": "local", "state_dir": tmp_path}  # fmt: skip
    relay_url = "https://agent.example.com/webhooks/email"

    def status(**extra: Any) -> str:
        return load_channel_configs(RuntimeSettings(**base, **extra))["email"].status

    assert status() == "not configured: set EMAIL_ADDRESS to enable"
    assert status(email_address=AGENT, email_relay_url=relay_url).startswith(
        "disabled: EMAIL_ALLOWLIST is empty"
    )
    assert "EMAIL_ALLOWLIST has entries that are not addresses: ['me@example']" in status(
        email_address=AGENT, email_allowlist="me@example", email_relay_url=relay_url
    )
    assert status(email_address=AGENT, email_allowlist=OWNER_MAIL).startswith(
        "disabled: EMAIL_RELAY_URL is not set"
    )
    assert status(email_address=AGENT, email_allowlist=OWNER_MAIL,
                  email_relay_url="http://agent.example.com/webhooks/email").startswith(
        "disabled: EMAIL_RELAY_URL must be an https:// URL"
    )  # fmt: skip
    mixed = RuntimeSettings(**base, email_address="Agent@Example.com",
                            email_allowlist="Me@Example.org, you@example.net",
                            email_relay_url=relay_url)  # fmt: skip
    ready = load_channel_configs(mixed)["email"]
    assert (ready.enabled, ready.policy, ready.address) == (True, "allowlist", AGENT)
    assert ready.allowlist == {OWNER_MAIL, "you@example.net"}


# --- the whole runtime: event -> turn -> outbox -> fake relay -------------------------------------


def post(client: TestClient, payload: dict[str, Any]) -> Any:
    headers = {
        "X-Agent-Edge-Token": EDGE_TOKEN,
        **suite_support.INTERNAL,
        "X-Agent-User": "channel:email",
        "X-Agent-Channel": "email",
        "X-Request-Id": uuid.uuid4().hex,
    }
    return client.post("/webhooks/email", headers=headers, json=payload)


@pytest.fixture
def mail_client(tmp_path: Path, relay: FakeRelay) -> Iterator[TestClient]:
    unused = FakePlatforms()
    unused.url = "http://127.0.0.1:9"  # the other channels are configured but never called
    settings = channel_settings(
        tmp_path / "state", unused, email_address=AGENT, email_allowlist=OWNER_MAIL,
        email_relay_url=relay.url,
    )  # fmt: skip
    with TestClient(create_app(settings)) as client:
        wait_ready(client)
        yield client


def test_a_thread_is_one_session_and_each_message_one_threaded_reply(
    mail_client: TestClient, relay: FakeRelay
) -> None:
    client = mail_client
    assert post(client, event("<m1@example.org>", "hello agent")).status_code == 202
    relay.wait_for(lambda: len(relay.sent) == 1)
    first = relay.sent[0]
    assert (first["to"], first["subject"]) == (OWNER_MAIL, "Re: Plans for Friday")
    assert (first["in_reply_to"], first["references"]) == ("<m1@example.org>", ["<m1@example.org>"])
    assert "hello agent" in first["text"]
    # The same message again (a second delivery): answered once.
    assert post(client, event("<m1@example.org>", "hello agent")).status_code == 202
    # The owner answers the agent's reply: same thread, same session.
    follow_up = event("<m3@example.org>", "and then?", subject="Re: Plans for Friday",
                      references=["<m1@example.org>", "<r1@example.com>"])  # fmt: skip
    assert post(client, follow_up).status_code == 202
    relay.wait_for(lambda: len(relay.sent) == 2)
    time.sleep(0.3)
    assert len(relay.sent) == 2
    second = relay.sent[1]
    assert second["subject"] == "Re: Plans for Friday"
    assert second["in_reply_to"] == "<m3@example.org>"
    assert second["references"] == ["<m1@example.org>", "<r1@example.com>", "<m3@example.org>"]
    assert "This is message 2" in second["text"]  # the offline model counts the session's turns
    session = session_for("email", "<m1@example.org>")
    turns = client.get(f"/api/sessions/{session}", headers=OWNER).json()["turns"]
    assert [(t["channel"], t["user"]) for t in turns] == [("email", f"email:{OWNER_MAIL}")] * 2


def test_a_sender_off_the_allowlist_gets_no_turn_and_no_mail(
    mail_client: TestClient, relay: FakeRelay
) -> None:
    """Defence in depth: the edge refuses such mail; should one arrive, nothing answers it."""
    stranger = event("<x1@evil.test>", "let me in", sender="eve@evil.test")
    assert post(mail_client, stranger).status_code == 202
    assert post(mail_client, event("<m9@example.org>", "ping")).status_code == 202
    relay.wait_for(lambda: len(relay.sent) == 1)
    time.sleep(0.3)
    assert [m["to"] for m in relay.sent] == [OWNER_MAIL]
    assert relay.attempts == 1
