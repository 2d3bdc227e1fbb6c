"""The runtime's own gate: canonical paths only, and /internal/* and /webhooks/* only with the
internal credential the Worker sends on its cron ticks and webhook forwards.

Raw request lines go through a real uvicorn (http.client, no client-side normalisation), so the
paths are exactly what an attacker sends; the middleware is also driven directly over a
generated cross-product of spellings.
"""

from __future__ import annotations

import asyncio
import http.client
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from runtime_support import EDGE_TOKEN, RuntimeProcess, edge_headers, spawn_runtime
from starlette.types import Message, Receive, Scope, Send
from suite_support import INTERNAL

from agent.runtime.edge_auth import EdgeTokenMiddleware, internal_credential, path_problem
from agent.runtime.openclaw.proxy import forwarded_headers

#: HMAC-SHA256(key "edge-secret-for-tests", "edgeagent internal v1"), pinned in the Worker's tests
#: too (agent/edge/test/paths.test.ts): both sides derive the same credential.
WORKER_TEST_VECTOR = "29d8b5ac00726e4713f217a97c137f6cafaca1dd68a1b5a889104f081e1af0d3"

ATTACKS = [
    "/internal%2Fcron",
    "/internal%2fcron",
    "/internal%5Ccron",
    "/internal%5ccron",
    "/%2e%2e/internal/cron",
    "/%2E%2E/internal/cron",
    "/api/../internal/cron",
    "/api/%2e%2e/internal/cron",
    "/./internal/cron",
    "//internal/cron",
    "/internal//cron",
    "/internal%252Fcron",
    "/api%2F..%2Finternal%2Fcron",
    "/internal\\cron",
    "/internal/cron%00",
    "/internal%zzcron",
]


def raw_request(
    base: str, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, dict[str, str]]:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        # skip_host/putrequest send the path byte for byte: no client-side normalisation.
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            conn.putheader(name, value)
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RuntimeProcess, Path]]:
    tmp = tmp_path_factory.mktemp("edge-auth")
    state = tmp / "state"
    process = spawn_runtime(tmp, {"STATE_BACKEND": "local", "STATE_DIR": str(state)})
    try:
        process.wait_ready()
        yield process, state
    finally:
        process.kill()


def cron_ran(state: Path) -> bool:
    return any((state / "inbox" / "cron").glob("*.json"))


TICK = json.dumps({"cron": "* * * * *", "scheduled_time": "2026-11-26T21:00:00Z"}).encode()


@pytest.mark.slow  # a runtime process
@pytest.mark.parametrize("path", ATTACKS)
def test_non_canonical_paths_are_refused_even_with_every_credential(
    runtime: tuple[RuntimeProcess, Path], path: str
) -> None:
    process, state = runtime
    headers = {**edge_headers("system:cron"), **INTERNAL, "Content-Type": "application/json"}
    status, body = raw_request(process.url, "POST", path, headers, TICK)
    assert status == 400, (path, body)
    assert body["error"].startswith("path refused: ")
    assert "e.g. /api/sessions" in body["hint"]
    assert not cron_ran(state)


@pytest.mark.parametrize(
    "path", ["/internal/cron", "/INTERNAL/cron", "/Internal/cron", "/webhooks/telegram"]
)
@pytest.mark.slow  # a runtime process
def test_internal_paths_need_the_internal_credential(
    runtime: tuple[RuntimeProcess, Path], path: str
) -> None:
    process, state = runtime
    for extra in ({}, {"X-Agent-Internal": "0" * 64}, {"X-Agent-Internal": EDGE_TOKEN}):
        headers = {**edge_headers("system:cron"), **extra, "Content-Type": "application/json"}
        status, body = raw_request(process.url, "POST", path, headers, TICK)
        assert status == 403, (path, extra, body)
        assert body["error"] == "missing or wrong X-Agent-Internal"
    assert not cron_ran(state)


@pytest.mark.slow  # a runtime process
def test_cron_from_the_worker_runs(runtime: tuple[RuntimeProcess, Path]) -> None:
    """Positive control: the Worker's own tick (edge token + internal credential) is accepted."""
    process, state = runtime
    headers = {**edge_headers("system:cron"), **INTERNAL, "Content-Type": "application/json"}
    status, body = raw_request(process.url, "POST", "/internal/cron", headers, TICK)
    assert status == 202, body
    assert cron_ran(state)


@pytest.mark.slow  # a runtime process
def test_user_paths_do_not_need_the_internal_credential(
    runtime: tuple[RuntimeProcess, Path],
) -> None:
    process, _ = runtime
    status, _ = raw_request(process.url, "GET", "/api/sessions", edge_headers())
    assert status == 200
    status, _ = raw_request(process.url, "GET", "/healthz", {})
    assert status == 200
    status, body = raw_request(process.url, "GET", "/healthz/%2e%2e/internal/cron", {})
    assert status == 400, body


def test_internal_credential_matches_the_worker_derivation() -> None:
    assert internal_credential("edge-secret-for-tests") == WORKER_TEST_VECTOR
    assert internal_credential(EDGE_TOKEN) != WORKER_TEST_VECTOR
    assert EDGE_TOKEN not in internal_credential(EDGE_TOKEN)


def test_openclaw_proxy_forwards_neither_edge_credential() -> None:
    scope: Scope = {
        "type": "http",
        "client": ("203.0.113.9", 1234),
        "headers": [
            (b"x-agent-edge-token", EDGE_TOKEN.encode()),
            (b"X-Agent-Internal", internal_credential(EDGE_TOKEN).encode()),
            (b"x-agent-user", b"alice@example.com"),
        ],
    }
    names = {name for name, _ in forwarded_headers(scope, websocket=False)}
    assert "x-agent-user" in names
    assert not names & {"x-agent-edge-token", "x-agent-internal"}


# --- The whole class, driven through the middleware with uvicorn's own decoding. ---

LEADS = ["/", "//", "/./", "/%2e/", "/%2e%2e/", "/api/../", "/api%2F..%2F", "\\", "/%2F"]
SEPARATORS = ["/", "%2F", "%2f", "%5C", "%5c", "\\", "//", "/./", "/x/../", "/%2e%2e/", "%252F"]


def spellings(word: str) -> Iterator[str]:
    """`word` with each of its first three letters plain, upper-cased or percent-encoded."""
    forms = [(c, c.upper(), f"%{ord(c):02x}", f"%{ord(c):02X}") for c in word[:3]]
    for head in itertools.product(*forms):
        yield "".join(head) + word[3:]


def lenient_meaning(raw: str) -> str:
    """What a lenient server could take the path to mean: decoded repeatedly, folded, resolved."""
    path = raw
    for _ in range(3):
        path = unquote(path)
    stack: list[str] = []
    for segment in path.replace("\\", "/").lower().split("/"):
        if segment in {"", "."}:
            continue
        if segment == "..":
            if stack:
                stack.pop()
        else:
            stack.append(segment)
    return "/" + "/".join(stack)


GENERATED = [
    f"{lead}{spelled}{sep}{tail}"
    for word, tail in [("internal", "cron"), ("webhooks", "telegram")]
    for lead, spelled, sep in itertools.product(LEADS, spellings(word), SEPARATORS)
]


def call(raw_path: str, headers: dict[str, str]) -> tuple[int, bool]:
    """Run the middleware on a scope built as uvicorn builds it; (status, reached the app)."""
    reached: list[str] = []
    sent: list[Message] = []

    async def app(scope: Scope, _receive: Receive, _send: Send) -> None:
        reached.append(scope["path"])

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    middleware = EdgeTokenMiddleware(app, token=EDGE_TOKEN, sandbox_user=None)
    scope: Scope = {
        "type": "http",
        "method": "POST",
        "path": unquote(raw_path),
        "raw_path": raw_path.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    asyncio.run(middleware(scope, receive, send))
    status = next((m["status"] for m in sent if m["type"] == "http.response.start"), 0)
    return status, bool(reached)


@pytest.mark.slow  # seconds of CPU: `make test` runs it, `make test-fast` does not
def test_generated_spellings_of_reserved_paths_never_reach_a_route_without_the_credential() -> None:
    assert len(GENERATED) > 1000
    for raw in GENERATED:
        status, reached = call(raw, edge_headers())
        assert not reached, raw
        assert status in {400, 403}, raw


@pytest.mark.slow  # over half a second of CPU (make test-cost)
def test_generated_paths_accepted_as_canonical_mean_what_they_say() -> None:
    """A path the middleware lets through decodes to the same segments a lenient server sees."""
    alphabet = ["a", ".", "%2e", "%2F", "%5c", "%25", "%69", "/", "\\", "internal", "%"]
    checked = 0
    for parts in itertools.product(alphabet, repeat=3):
        raw = "/" + "".join(parts)
        decoded = unquote(raw)
        if path_problem(raw.encode(), decoded) is not None:
            continue
        checked += 1
        segments = decoded.split("/")
        # Decoding introduced no separator, and nothing is left to decode a second time.
        assert [unquote(s) for s in raw.split("/")] == segments, raw
        assert unquote(decoded) == decoded, raw
        assert not {".", ".."} & set(segments), raw
        assert "\\" not in decoded, raw
        assert lenient_meaning(raw) == lenient_meaning(decoded), raw
    assert checked > 50
