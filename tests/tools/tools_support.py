"""Helpers for the tool tests: scripted FunctionModels, agent runs, a loopback web server."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel
from suite_support import EDGE_TOKEN

from agent.runtime.engine.agent import AgentToolset, build_agent
from agent.runtime.engine.deps import AgentDeps
from agent.runtime.settings import RuntimeSettings
from agent.runtime.store.base import StateStore

H = {"X-Agent-Edge-Token": EDGE_TOKEN, "X-Agent-User": "alice@example.com"}

Call = tuple[str, dict[str, Any]]


@dataclass
class Script:
    """A model that makes the given tool calls, one step per request, then answers.

    The answer lists every tool result it saw, so tests can assert on what the tools returned.
    """

    steps: list[list[Call]]
    requests: int = 0
    seen: list[str] = field(default_factory=list)

    def _next(self, messages: list[ModelMessage]) -> list[Call] | None:
        last = messages[-1]
        if isinstance(last, ModelRequest):
            for part in last.parts:
                if isinstance(part, ToolReturnPart):
                    retry = "RETRY " if part.outcome == "retried" else ""
                    self.seen.append(f"{retry}{part.tool_name}: {part.content}")
        step = self.steps[self.requests] if self.requests < len(self.steps) else None
        self.requests += 1
        return step

    def answer(self) -> str:
        return "done\n" + "\n".join(self.seen)

    def respond(self, messages: list[ModelMessage], _info: AgentInfo) -> ModelResponse:
        step = self._next(messages)
        if step is None:
            return ModelResponse(parts=[TextPart(self.answer())])
        return ModelResponse(
            parts=[
                ToolCallPart(name, args, tool_call_id=f"call-{self.requests}-{index}")
                for index, (name, args) in enumerate(step)
            ]
        )

    async def stream(
        self, messages: list[ModelMessage], _info: AgentInfo
    ) -> AsyncIterator[str | DeltaToolCalls]:
        step = self._next(messages)
        if step is None:
            yield self.answer()
            return
        yield {
            index: DeltaToolCall(
                name=name, json_args=json.dumps(args), tool_call_id=f"call-{self.requests}-{index}"
            )
            for index, (name, args) in enumerate(step)
        }

    def model(self) -> FunctionModel:
        return FunctionModel(self.respond, stream_function=self.stream, model_name="script")


def deps_for(
    settings: RuntimeSettings,
    store: StateStore,
    http: httpx.AsyncClient,
    *,
    session_id: str = "s1",
    channel: str = "api",
) -> AgentDeps:
    return AgentDeps(
        settings=settings,
        store=store,
        http=http,
        session_id=session_id,
        user="alice@example.com",
        channel=channel,
        request_id="req-1",
    )


async def run_script(
    script: Script, toolsets: Sequence[AgentToolset], deps: AgentDeps, prompt: str = "go"
) -> str:
    agent = build_agent(script.model(), "test agent", toolsets)
    result = await agent.run(prompt, deps=deps)
    return result.output


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


Handler = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class LoopbackSite:
    """A threaded HTTP server on 127.0.0.1 with one handler per path."""

    routes: dict[str, Handler]
    requests: list[Seen] = field(default_factory=list)
    port: int = 0
    host: str = "127.0.0.1"

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"


@contextmanager
def loopback_site(routes: dict[str, Handler], host: str = "127.0.0.1") -> Iterator[LoopbackSite]:
    site = LoopbackSite(routes, host=host)

    class Handle(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            site.requests.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}))
            handler = site.routes.get(self.path.split("?")[0])
            if handler is None:
                self.send_error(404)
                return
            handler(self)

        def log_message(self, *_args: Any) -> None:
            return

    server = ThreadingHTTPServer((host, 0), Handle)
    server.daemon_threads = True
    site.port = server.server_address[1]
    # Polled every 50 ms, not 500: shutdown() waits for the next poll, and the fixture ends often.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def send(body: bytes | str, content_type: str = "text/html; charset=utf-8", status: int = 200):  # type: ignore[no-untyped-def]
    data = body.encode() if isinstance(body, str) else body

    def handler(request: BaseHTTPRequestHandler) -> None:
        try:
            request.send_response(status)
            request.send_header("Content-Type", content_type)
            request.send_header("Content-Length", str(len(data)))
            request.end_headers()
            request.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeouts and cancellations under test)

    return handler


def redirect(location: str):  # type: ignore[no-untyped-def]
    def handler(request: BaseHTTPRequestHandler) -> None:
        request.send_response(302)
        request.send_header("Location", location)
        request.send_header("Content-Length", "0")
        request.end_headers()

    return handler
