"""End to end through `wrangler dev` in local mode: real sockets, real workerd, a real origin.

The Worker runs from agent/edge/src exactly as deployed, except that AGENT_ORIGIN replaces the
container and DEV_IDENTITY replaces Access (both refused in deployed stacks by infra).
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from suite_support import HANG_S
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from agent.ports import free_port
from agent.runtime.edge_auth import internal_credential
from bench.edge_overhead.localdev import build_bundle, origin, serve_bundle, wrangler_dev
from bench.edge_overhead.origin import CLOSE_CODE, CLOSE_REASON, STREAM_CHUNKS

pytestmark = pytest.mark.slow  # wrangler dev and workerd, a whole edge stack

EDGE_TOKEN = "e2e-edge-token-5f1c"
TELEGRAM_SECRET = "e2e-telegram-secret"


def request(
    base: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        res = conn.getresponse()
        return res.status, {k.lower(): v for k, v in res.getheaders()}, res.read()
    finally:
        conn.close()


def origin_calls(origin_base: str) -> list[dict[str, Any]]:
    status, _, body = request(origin_base, "GET", "/_calls")
    assert status == 200
    calls: list[dict[str, Any]] = json.loads(body)
    return calls


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[str, str]]:
    with (
        origin() as origin_base,
        wrangler_dev(
            origin_base,
            secrets={"AGENT_EDGE_TOKEN": EDGE_TOKEN, "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET},
            test_scheduled=True,
        ) as edge,
    ):
        yield edge, origin_base


def test_http_request_is_proxied_with_edge_headers_and_spoofed_ones_stripped(
    stack: tuple[str, str],
) -> None:
    edge, _ = stack
    status, _, body = request(
        edge,
        "POST",
        "/api/chat?session=s1",
        body=b'{"message": "hello"}',
        headers={
            "content-type": "application/json",
            "X-Agent-User": "root@example.com",
            "X-Agent-Edge-Token": "guessed",
            "X-Agent-Channel": "slack",
            "X-Agent-Internal": internal_credential(EDGE_TOKEN),
        },
    )
    assert status == 200
    seen = json.loads(body)
    assert seen["method"] == "POST"
    assert seen["path"] == "/api/chat"
    assert seen["query"] == "session=s1"
    assert seen["body"] == '{"message": "hello"}'
    headers = seen["headers"]
    assert headers["x-agent-user"] == "dev@localhost"
    assert headers["x-agent-tenant"] == "local"
    assert headers["x-agent-edge-token"] == EDGE_TOKEN
    assert "x-agent-channel" not in headers
    # A proxied user request never carries the internal credential, even a client-sent copy.
    assert "x-agent-internal" not in headers
    assert len(headers["x-request-id"]) == 36


def test_streamed_response_arrives_whole(stack: tuple[str, str]) -> None:
    edge, _ = stack
    status, _, body = request(edge, "GET", "/stream")
    assert status == 200
    assert body.decode() == "".join(STREAM_CHUNKS)


def test_websocket_round_trip_and_close_code(stack: tuple[str, str]) -> None:
    edge, _ = stack
    with connect(edge.replace("http://", "ws://") + "/ws", open_timeout=30) as ws:
        assert json.loads(ws.recv(timeout=10)) == {"x-agent-user": "dev@localhost"}
        ws.send("hi")
        assert ws.recv(timeout=10) == "echo:hi"
        ws.send(b"\x00\x01")
        assert ws.recv(timeout=10) == b"\x00\x01"
        ws.send("close-me")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == CLOSE_CODE
    assert closed.value.rcvd.reason == CLOSE_REASON


def test_internal_paths_are_not_reachable_from_outside(stack: tuple[str, str]) -> None:
    edge, origin_base = stack
    before = len(origin_calls(origin_base))
    status, _, body = request(edge, "POST", "/internal/cron", body=b"{}")
    assert status == 404
    assert json.loads(body)["error"] == "not found"
    assert len(origin_calls(origin_base)) == before


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/internal%2Fcron", 400),
        ("/internal%2fcron", 400),
        ("/internal%5Ccron", 400),
        ("//internal/cron", 400),
        ("/%2e%2e/internal/cron", 404),
        ("/api/..%2Finternal/cron", 400),
        ("/INTERNAL/cron", 404),
        ("/webhooks%2Ftelegram", 400),
        ("/webhooks/telegram/", 404),
    ],
)
def test_encoded_and_dotted_internal_paths_are_refused_at_the_edge(
    stack: tuple[str, str], path: str, status: int
) -> None:
    """`make dev` has no Access: the Worker's path check is all that stands before the origin."""
    edge, origin_base = stack
    before = len(origin_calls(origin_base))
    got, _, body = request(edge, "POST", path, body=b"{}")
    assert (got, path) == (status, path)
    assert json.loads(body)["hint"]
    assert len(origin_calls(origin_base)) == before


@pytest.mark.parametrize("path", ["//127.0.0.1:9/steal", "//evil.example/x?y=1", "///evil.example"])
def test_local_proxy_never_follows_a_network_path(stack: tuple[str, str], path: str) -> None:
    edge, origin_base = stack
    before = len(origin_calls(origin_base))
    status, _, _ = request(edge, "GET", path)
    assert status == 400
    assert len(origin_calls(origin_base)) == before


def test_scheduled_handler_posts_internal_cron(stack: tuple[str, str]) -> None:
    edge, origin_base = stack
    status, _, _ = request(edge, "GET", "/__scheduled?cron=*/5+*+*+*+*")
    assert status == 200
    # The handler posts from waitUntil: the 200 may come before the origin has seen the call.
    deadline = time.monotonic() + HANG_S
    while not (crons := [c for c in origin_calls(origin_base) if c["path"] == "/internal/cron"]):
        assert time.monotonic() < deadline, "no cron call reached the origin"
        time.sleep(0.05)
    assert len(crons) == 1
    assert crons[0]["method"] == "POST"
    assert crons[0]["headers"]["x-agent-edge-token"] == EDGE_TOKEN
    assert crons[0]["headers"]["x-agent-internal"] == internal_credential(EDGE_TOKEN)
    assert json.loads(crons[0]["body"])["cron"] == "*/5 * * * *"


def test_webhook_verified_at_the_edge(stack: tuple[str, str]) -> None:
    edge, origin_base = stack
    update = json.dumps({"update_id": 7001, "message": {"text": "hi"}}).encode()
    before = len(origin_calls(origin_base))
    status, _, body = request(
        edge,
        "POST",
        "/webhooks/telegram",
        body=update,
        headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"},
    )
    assert status == 401
    assert "secret token mismatch" in json.loads(body)["error"]
    assert len(origin_calls(origin_base)) == before

    status, _, body = request(
        edge,
        "POST",
        "/webhooks/telegram",
        body=update,
        headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET},
    )
    assert status == 200
    forwarded = json.loads(body)
    assert forwarded["headers"]["x-agent-channel"] == "telegram"
    assert forwarded["headers"]["x-agent-internal"] == internal_credential(EDGE_TOKEN)
    status, _, _ = request(
        edge,
        "POST",
        "/webhooks/telegram",
        body=update,
        headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET},
    )
    assert status == 401


def test_cold_origin_loading_page_bounded_wait_then_ready() -> None:
    port = free_port()
    dead = f"http://127.0.0.1:{port}"
    with wrangler_dev(dead, variables={"COLD_START_TIMEOUT_MS": "400"}) as edge:
        status, headers, body = request(edge, "GET", "/", headers={"Accept": "text/html"})
        assert status == 503
        assert headers["content-type"].startswith("text/html")
        assert b"/_edge/status" in body

        status, headers, body = request(edge, "GET", "/api/sessions")
        assert status == 503
        assert headers["retry-after"] == "5"
        assert json.loads(body)["error"] == "sandbox is sleeping, not ready after 400 ms"

        with origin(port):
            status, _, body = request(edge, "GET", "/_edge/status")
            assert (status, json.loads(body)) == (200, {"state": "ready"})
            status, _, body = request(edge, "GET", "/api/sessions")
            assert status == 200
            assert json.loads(body)["path"] == "/api/sessions"


def test_built_bundle_in_workerd_proxies_http_and_websocket() -> None:
    """dist/index.js, the module infra uploads, served by one workerd process (Miniflare)."""
    build_bundle()
    with origin() as origin_base, serve_bundle(origin_base, edge_token=EDGE_TOKEN) as edge:
        status, _, body = request(edge, "GET", "/api/ping", headers={"X-Agent-User": "spoof"})
        assert status == 200
        headers = json.loads(body)["headers"]
        assert headers["x-agent-user"] == "dev@localhost"
        assert headers["x-agent-edge-token"] == EDGE_TOKEN
        with connect(edge.replace("http://", "ws://") + "/ws", open_timeout=30) as ws:
            assert json.loads(ws.recv(timeout=10)) == {"x-agent-user": "dev@localhost"}
            ws.send("close-me")
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (CLOSE_CODE, CLOSE_REASON)
