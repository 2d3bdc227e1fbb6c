"""A loopback AI Gateway: OpenAI-compatible chat, spend-limit and rate-limit 429s, dynamic routes,
and the logs API, in the shapes Cloudflare documents.

- `POST /v1/{account}/{gateway}/{provider}/chat/completions` (provider `openai`, `compat`,
  `workers-ai/v1`): needs `cf-aig-authorization: Bearer <run token>`; records the model and the
  `cf-aig-metadata` of every call; `dynamic/<route>` tries the route's models in order, skipping
  those marked failing (a model element's `fallback` output). A successful call is logged with
  its metadata, tokens and cost, as the gateway logs it.
- a reached spend limit answers 429 before any model is called; the rate limit answers 429 with
  `retry-after-ms` (a client may retry it).
- `POST /v1/{account}/{gateway}/workers-ai/@cf/{author}/{model}` (speech-to-text): the run
  token, `{"audio": "<base64>"}` in, the Workers AI REST envelope with `result.text` out
  (https://developers.cloudflare.com/workers-ai/models/whisper-large-v3-turbo/); records what it
  heard, and answers `transcribe_status` instead when a test sets one.
- `GET /client/v4/accounts/{account}/ai-gateway/gateways/{gateway}/logs`: needs the logs token;
  `page`, `per_page`, `order_by=created_at`, `order_by_direction`; the v4 envelope with
  `result_info`. https://developers.cloudflare.com/api/resources/ai_gateway/subresources/logs/methods/list/
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from suite_support import serve_app

ACCOUNT = "0123456789abcdef0123456789abcdef"
GATEWAY = "edgeagent-acme-dev"
RUN_TOKEN = "run-token-0123456789"
LOGS_TOKEN = "logs-token-0123456789"
PRICE_PER_TOKEN = 0.001  # dollars, so small chats show visible cents
# What the fake answers a call over budget with: the v4 error envelope naming the rule.
SPEND_LIMIT_BODY = {
    "success": False,
    "result": [],
    "messages": [],
    "error": [{"code": 2019, "message": "Spend limit exceeded for rule stack-daily"}],
}
RATE_LIMIT_BODY = {
    "success": False,
    "result": [],
    "messages": [],
    "error": [{"code": 2003, "message": "Rate limited"}],
}


@dataclass
class Call:
    """One chat request the fake received."""

    path: str
    model: str
    metadata: dict[str, Any] | None
    status: int


@dataclass(frozen=True)
class Transcription:
    """One speech-to-text request the fake received."""

    model: str
    audio: bytes
    metadata: dict[str, Any] | None


@dataclass
class FakeAiGateway:
    """State of the fake, read and changed by tests (thread-safe)."""

    url: str = ""
    calls: list[Call] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    log_reads: int = 0
    spend_limit: dict[str, Any] | None = None
    rate_limited: int = 0  # how many of the next calls get the rate-limit 429
    routes: dict[str, list[str]] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)
    transcriptions: list[Transcription] = field(default_factory=list)
    spoken: dict[bytes, str] = field(default_factory=dict)  # audio -> what the fake "hears"
    transcribe_status: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        """AI_GATEWAY_BASE_URL for the runtime."""
        return f"{self.url}/v1/{ACCOUNT}/{GATEWAY}"

    @property
    def api_url(self) -> str:
        """AI_GATEWAY_API_BASE_URL for the runtime."""
        return f"{self.url}/client/v4"

    def models_called(self) -> list[str]:
        with self.lock:
            return [call.model for call in self.calls]

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(
                    "/v1/{account}/{gateway}/{provider:path}/chat/completions",
                    self._chat,
                    methods=["POST"],
                ),
                Route(
                    "/v1/{account}/{gateway}/workers-ai/{model:path}",
                    self._transcribe,
                    methods=["POST"],
                ),
                Route(
                    "/client/v4/accounts/{account}/ai-gateway/gateways/{gateway}/logs",
                    self._logs,
                    methods=["GET"],
                ),
            ]
        )

    async def _chat(self, request: Request) -> Response:
        if request.headers.get("cf-aig-authorization") != f"Bearer {RUN_TOKEN}":
            return JSONResponse({"error": [{"code": 2009, "message": "Unauthorized"}]}, 401)
        body = await request.json()
        raw = request.headers.get("cf-aig-metadata")
        metadata = json.loads(raw) if raw else None
        model = str(body["model"])
        provider = request.path_params["provider"]
        with self.lock:
            status = 200
            if self.spend_limit is not None:
                status = 429
            elif self.rate_limited > 0:
                self.rate_limited -= 1
                status = 429
            self.calls.append(Call(provider, model, metadata, status))
            spend_limit = self.spend_limit
        if status == 429 and spend_limit is not None:
            return JSONResponse(spend_limit, status_code=429)
        if status == 429:
            return JSONResponse(RATE_LIMIT_BODY, 429, headers={"retry-after-ms": "1"})
        answered = model
        if model.startswith("dynamic/"):
            candidates = [m for m in self.routes.get(model.removeprefix("dynamic/"), [])]
            working = [m for m in candidates if m not in self.failing]
            if not working:
                return JSONResponse({"error": [{"code": 2005, "message": "all failed"}]}, 502)
            answered = working[0]
        prompt_tokens = len(json.dumps(body["messages"])) // 4 + 1
        reply = f"reply from {answered}"
        completion_tokens = len(reply.split())
        self._log(provider, answered, metadata, prompt_tokens, completion_tokens)
        if body.get("stream"):
            return StreamingResponse(
                _sse(answered, reply, prompt_tokens, completion_tokens),
                media_type="text/event-stream",
            )
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        message = {"role": "assistant", "content": reply}
        return JSONResponse(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:8]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": answered,
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": usage,
            }
        )

    async def _transcribe(self, request: Request) -> Response:
        if request.headers.get("cf-aig-authorization") != f"Bearer {RUN_TOKEN}":
            return JSONResponse({"error": [{"code": 2009, "message": "Unauthorized"}]}, 401)
        audio = base64.b64decode((await request.json())["audio"], validate=True)
        raw = request.headers.get("cf-aig-metadata")
        model = request.path_params["model"]
        with self.lock:
            self.transcriptions.append(
                Transcription(model, audio, json.loads(raw) if raw else None)
            )
            status, text = self.transcribe_status, self.spoken.get(audio, "")
        if status is not None:
            return JSONResponse({"success": False, "errors": [{"code": 3040}]}, status)
        result = {"text": text, "word_count": len(text.split()), "transcription_info": {}}
        return JSONResponse({"result": result, "success": True, "errors": [], "messages": []})

    def _log(
        self,
        provider: str,
        model: str,
        metadata: dict[str, Any] | None,
        tokens_in: int,
        tokens_out: int,
    ) -> None:
        entry = {
            "id": uuid.uuid4().hex,
            "cached": False,
            "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "duration": 12,
            "model": model,
            "path": f"{provider}/chat/completions",
            "provider": provider.split("/")[0],
            "success": True,
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "cost": (tokens_in + tokens_out) * PRICE_PER_TOKEN,
            "metadata": json.dumps(metadata) if metadata is not None else None,
            "status_code": 200,
            "request_type": "chat",
        }
        with self.lock:
            self.logs.append(entry)

    async def _logs(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {LOGS_TOKEN}":
            return JSONResponse(
                {"success": False, "errors": [{"code": 10000, "message": "Authentication error"}]},
                403,
            )
        page = int(request.query_params.get("page", "1"))
        per_page = int(request.query_params.get("per_page", "20"))
        assert request.query_params.get("order_by") == "created_at"
        descending = request.query_params.get("order_by_direction") == "desc"
        with self.lock:
            self.log_reads += 1
            ordered = sorted(self.logs, key=lambda e: e["created_at"], reverse=descending)
        chunk = ordered[(page - 1) * per_page : page * per_page]
        return JSONResponse(
            {
                "success": True,
                "errors": [],
                "messages": [],
                "result": chunk,
                "result_info": {
                    "page": page,
                    "per_page": per_page,
                    "count": len(chunk),
                    "total_count": len(ordered),
                },
            }
        )


def _sse(model: str, reply: str, tokens_in: int, tokens_out: int) -> Iterator[bytes]:
    base = {"id": "chatcmpl-fake", "created": 0, "model": model, "object": "chat.completion.chunk"}
    usage = {
        "prompt_tokens": tokens_in,
        "completion_tokens": tokens_out,
        "total_tokens": tokens_in + tokens_out,
    }
    chunks = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": reply}}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**base, "choices": [], "usage": usage},
    ]
    for chunk in chunks:
        yield f"data: {json.dumps(chunk)}\n\n".encode()
    yield b"data: [DONE]\n\n"


@contextmanager
def fake_ai_gateway() -> Iterator[FakeAiGateway]:
    """The fake on a free loopback port for the block."""
    fake = FakeAiGateway()
    with serve_app(fake.app(), "fake AI Gateway", ws="none") as url:
        fake.url = url
        yield fake
