"""Chat attachments: the upload route's limits, types, dedupe and privacy; what the model receives
(images as pydantic-ai BinaryContent, PDFs and text as text); the offline model's description."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from functools import partial

import pytest
import suite_support
from pydantic_ai.messages import (
    BinaryContent,
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, DeltaToolCalls, FunctionModel
from runtime_support import edge_headers
from starlette.testclient import TestClient

from agent.runtime.app import AppDeps, create_app
from agent.runtime.attachments import owner_of, sniff
from agent.runtime.engine.native import NativeEngine
from agent.runtime.settings import RuntimeSettings

ALICE = edge_headers("alice@example.com")
BOB = edge_headers("bob@example.com")
wait_ready = partial(suite_support.wait_ready, headers=ALICE, attempts=200)
# A 1x1 PNG (signature, IHDR, IDAT, IEND): enough for the sniffer and for a browser to draw.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360f8cfc0f01f0005000201a5d6c3c10000000049454e44ae426082"
)


def pdf_with_text(text: str) -> bytes:
    """A one-page PDF whose text layer says `text` (a real xref table, so pypdf reads it)."""
    stream = f"BT /F1 12 Tf 20 100 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 144] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


@dataclass
class Capture:
    """A scripted FunctionModel that records the user prompt parts of each request."""

    prompts: list[list[object]] = field(default_factory=list)

    def _record(self, messages: list[ModelMessage]) -> None:
        for message in reversed(messages):
            if isinstance(message, ModelRequest):
                for part in message.parts:
                    if isinstance(part, UserPromptPart):
                        content = part.content
                        self.prompts.append([content] if isinstance(content, str) else [*content])
                        return

    def respond(self, messages: list[ModelMessage], _info: AgentInfo) -> ModelResponse:
        self._record(messages)
        return ModelResponse(parts=[TextPart("seen")])

    async def stream(
        self, messages: list[ModelMessage], _info: AgentInfo
    ) -> AsyncIterator[str | DeltaToolCalls]:
        self._record(messages)
        yield "seen"

    def engine(self) -> NativeEngine:
        model = FunctionModel(self.respond, stream_function=self.stream, model_name="capture")
        return NativeEngine(model, label="capture", offline=False, instructions="Be brief.")


@pytest.fixture
def client(settings: RuntimeSettings) -> Iterator[TestClient]:
    small = settings.model_copy(update={"agent_attachment_max_bytes": 64 * 1024})
    with TestClient(create_app(small)) as test_client:
        wait_ready(test_client)
        yield test_client


def upload(client: TestClient, body: bytes, name: str, headers: dict[str, str] = ALICE) -> dict:
    response = client.post("/api/attachments", params={"name": name}, content=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_sniffing_reads_the_content_not_the_name() -> None:
    assert sniff(PNG) == "image/png"
    assert sniff(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert sniff(pdf_with_text("x")) == "application/pdf"
    assert sniff("grüße\n".encode()) == "text/plain"
    assert sniff(b"MZ\x90\x00\x03\x00") is None  # a Windows executable
    assert sniff(b"\x7fELF\x02\x01\x01\x00") is None


def test_upload_is_content_addressed_deduplicated_and_served_to_its_owner(
    client: TestClient, settings: RuntimeSettings
) -> None:
    first = upload(client, PNG, "C:\\shots\\cat.png")
    assert first == {
        "id": hashlib.sha256(PNG).hexdigest(),
        "name": "cat.png",
        "type": "image/png",
        "size": len(PNG),
    }
    again = upload(client, PNG, "other-name.png")
    assert again == first  # same bytes, one object: the first description stands
    stored = sorted((settings.state_dir / "attachments").rglob("*"))
    owner = settings.state_dir / "attachments" / owner_of("alice@example.com")
    assert [p for p in stored if p.is_file()] == [
        owner / first["id"],
        owner / f"{first['id']}.json",
    ]

    served = client.get(f"/api/attachments/{first['id']}", headers=ALICE)
    assert served.status_code == 200
    assert served.content == PNG
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-disposition"].startswith("inline")
    text = upload(client, b"notes\n", "notes.txt")
    as_file = client.get(f"/api/attachments/{text['id']}", headers=ALICE)
    assert as_file.headers["content-disposition"] == 'attachment; filename="notes.txt"'


def test_another_user_can_neither_read_nor_send_your_attachment(client: TestClient) -> None:
    mine = upload(client, PNG, "cat.png")
    assert client.get(f"/api/attachments/{mine['id']}", headers=BOB).status_code == 404
    chat = client.post(
        "/api/chat", headers=BOB, json={"message": "look", "attachments": [mine["id"]]}
    )
    assert chat.status_code == 404
    assert chat.json()["error"] == f"attachment not found: {mine['id']}"
    # Bob uploading the same bytes gets his own copy, under his own prefix.
    assert upload(client, PNG, "mine.png", BOB)["id"] == mine["id"]
    assert client.get(f"/api/attachments/{mine['id']}", headers=BOB).status_code == 200


def test_limits_refuse_before_anything_is_stored(
    client: TestClient, settings: RuntimeSettings
) -> None:
    big = PNG + b"\x00" * (64 * 1024)
    too_big = client.post(
        "/api/attachments", params={"name": "big.png"}, content=big, headers=ALICE
    )
    assert too_big.status_code == 413
    assert "AGENT_ATTACHMENT_MAX_BYTES" in too_big.json()["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the streamed cap still holds
        yield PNG
        for _ in range(70):
            yield b"\x00" * 1024

    streamed = client.post("/api/attachments", content=chunks(), headers=ALICE)
    assert streamed.status_code == 413

    exe = client.post(
        "/api/attachments", params={"name": "cat.png"}, content=b"MZ\x90\x00", headers=ALICE
    )
    assert exe.status_code == 415
    assert "PNG, JPEG, GIF, WebP, PDF, UTF-8 text or audio" in exe.json()["error"]
    empty = client.post("/api/attachments", content=b"", headers=ALICE)
    assert (empty.status_code, empty.json()["error"]) == (422, "empty attachment")
    assert not (settings.state_dir / "attachments").exists()

    ids = [upload(client, f"note {n}\n".encode(), f"n{n}.txt")["id"] for n in range(5)]
    many = client.post("/api/chat", headers=ALICE, json={"message": "read", "attachments": ids})
    assert many.status_code == 422
    assert "AGENT_ATTACHMENT_MAX_PER_MESSAGE is 4" in many.json()["error"]
    bogus = client.post("/api/chat", headers=ALICE, json={"message": "x", "attachments": ["../x"]})
    assert bogus.status_code == 404
    assert client.get("/api/sessions", headers=ALICE).json()["sessions"] == []  # no turn stored


def test_offline_model_describes_what_it_received(client: TestClient) -> None:
    image = upload(client, PNG, "cat.png")
    pdf = upload(client, pdf_with_text("Invoice 4711 due Friday"), "invoice.pdf")
    reply = client.post(
        "/api/chat",
        headers=ALICE,
        json={
            "message": "what is this?",
            "session_id": "files",
            "attachments": [image["id"], pdf["id"]],
        },
    ).json()["reply"]
    assert reply.startswith("[offline model] You said: 'what is this?' and attached 2 file(s):")
    assert f"- cat.png (image/png, {len(PNG)} bytes): an image I received" in reply
    assert f"- invoice.pdf (application/pdf, {pdf['size']} bytes): " in reply
    turn = client.get("/api/sessions/files", headers=ALICE).json()["turns"][0]
    assert [a["name"] for a in turn["attachments"]] == ["cat.png", "invoice.pdf"]


@pytest.mark.parametrize("sees_images", [True, False])
def test_model_gets_images_as_binary_parts_and_pdfs_as_text(
    settings: RuntimeSettings, sees_images: bool
) -> None:
    capture = Capture()
    configured = settings.model_copy(update={"agent_model_images": sees_images})
    with TestClient(create_app(configured, AppDeps(engine=capture.engine()))) as client:
        wait_ready(client)
        image = upload(client, PNG, "cat.png")
        pdf = upload(client, pdf_with_text("Invoice 4711 due Friday"), "invoice.pdf")
        notes = upload(client, "ünïcode notes\n".encode(), "notes.txt")
        reply = client.post(
            "/api/chat",
            headers=ALICE,
            json={"message": "summarise", "attachments": [image["id"], pdf["id"], notes["id"]]},
        )
        assert reply.status_code == 200, reply.text
    [prompt] = capture.prompts
    assert prompt[0] == "summarise"
    texts = [part for part in prompt if isinstance(part, str)]
    binaries = [part for part in prompt if isinstance(part, BinaryContent)]
    pdf_text = next(t for t in texts if t.startswith("[attachment invoice.pdf"))
    assert "Invoice 4711 due Friday" in pdf_text
    assert f"[attachment notes.txt (text/plain, {notes['size']} bytes)]\nünïcode notes\n" in texts
    if sees_images:
        [picture] = binaries
        assert (picture.media_type, picture.data) == ("image/png", PNG)
    else:
        assert binaries == []
        refusal = next(t for t in texts if t.startswith("[attachment cat.png"))
        assert "cannot see images" in refusal


def test_a_large_image_costs_a_picture_not_its_bytes_in_the_context_budget(
    settings: RuntimeSettings,
) -> None:
    """A 600 KB image is ~200k tokens as base64 text, but a provider charges it as one picture:
    it must reach the model, and the next turn must still fit its history."""
    capture = Capture()
    big = PNG + bytes(range(256)) * 2400
    with TestClient(create_app(settings, AppDeps(engine=capture.engine()))) as client:
        wait_ready(client)
        image = upload(client, big, "photo.png")
        for message, attachments in (("look", [image["id"]]), ("and now?", [])):
            reply = client.post(
                "/api/chat",
                headers=ALICE,
                json={"message": message, "session_id": "pics", "attachments": attachments},
            )
            assert reply.status_code == 200, reply.text
    assert [p[0] for p in capture.prompts] == ["look", "and now?"]
    assert [type(p) for p in capture.prompts[0]] == [str, str, BinaryContent]
