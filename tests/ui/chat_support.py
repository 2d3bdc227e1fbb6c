"""The chat UI's test bench: the real runtime app in process, answered by a scripted model.

`ScriptedChat` is a pydantic-ai FunctionModel that reacts to a keyword in the prompt: Markdown with
hostile bits, a real tool call (the memory tools), a reply that streams until stopped, a provider
failure, a long reply. `serve_chat` serves `create_app` with it on loopback behind a tiny stand-in
for the Worker, which adds the edge token and the signed-in identity to every request.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from pydantic_ai.messages import (
    BinaryContent,
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel
from starlette.types import ASGIApp, Receive, Scope, Send
from suite_support import EDGE_TOKEN, free_port

from agent.runtime.app import AppDeps, create_app
from agent.runtime.engine.native import NativeEngine
from agent.runtime.settings import RuntimeSettings
from agent.runtime.store.local import LocalDirStore
from agent.runtime.tools.memory import MemoryBook, memory_toolset
from agent.runtime.tools.send_file import send_file_toolset

IDENTITY = "ada@example.com"

MARKDOWN = """## Packing list

1. Boots
2. Headlamp with **spare** batteries

- [ ] not a checkbox
- see [the hut page](https://example.com/hut?a=1&b=2)

```python
def greet(name):
    return f"hello {name}"  # <b>not bold</b>
```

| Item | Grams |
|------|------:|
| Tent | 1200 |
| Stove | 300 |

<script>window.pwned = 1</script> <img src=x onerror="window.pwned = 2">
[click me](javascript:window.pwned=3) ![tracker](https://tracker.example/p.png)
"""
CODE = 'def greet(name):\n    return f"hello {name}"  # <b>not bold</b>\n'


def long_markdown(chars: int = 30_000) -> str:
    """A reply of about `chars` characters mixing every block Markdown has."""
    parts: list[str] = []
    index = 0
    while sum(map(len, parts)) < chars:
        index += 1
        parts.append(
            f"### Section {index}\n\nSome *prose* with `code` and a "
            f"[link](https://example.com/{index}). "
            "It goes on for a while so the paragraph wraps on a phone screen as well.\n\n"
            f"- point {index}.1\n- point {index}.2\n  continued\n\n"
            f"```js\nconst value{index} = {index} * 2;\nconsole.log(value{index});\n```\n\n"
            f"| a | b |\n|---|---|\n| {index} | {index * 2} |\n\n"
        )
    return "".join(parts)[:chars]


def _prompt(messages: list[ModelMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart):
                    content = part.content
                    # With attachments the text comes first (agent/runtime/attachments.py).
                    first = content if isinstance(content, str) else content[0]
                    return first if isinstance(first, str) else ""
    return ""


def _images(messages: list[ModelMessage]) -> list[BinaryContent]:
    """The images the last user message attached, as the model received them."""
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart):
                    content = [] if isinstance(part.content, str) else part.content
                    return [c for c in content if isinstance(c, BinaryContent) and c.is_image]
    return []


def _tool_results(messages: list[ModelMessage]) -> list[ToolReturnPart]:
    last = messages[-1]
    if not isinstance(last, ModelRequest):
        return []
    return [part for part in last.parts if isinstance(part, ToolReturnPart)]


def _set(event: threading.Event) -> threading.Event:
    event.set()
    return event


@dataclass
class ScriptedChat:
    """The scripted model; `gate` holds a tool turn's answer until the test opens it, and
    `midway`, when cleared, holds a long reply halfway until the test sets it again."""

    gate: threading.Event = field(default_factory=threading.Event)
    midway: threading.Event = field(default_factory=lambda: _set(threading.Event()))
    failures: int = 0
    stops: int = 0
    chunk: int = 7
    long_reply: str = field(default_factory=lambda: long_markdown(12_000))
    last_delta_at: float = 0.0  # wall clock when the long reply's last delta was handed over

    async def stream(
        self, messages: list[ModelMessage], _info: AgentInfo
    ) -> AsyncIterator[str | DeltaToolCalls]:
        prompt = _prompt(messages)
        results = _tool_results(messages)
        images = _images(messages)
        if images and not results:
            yield " ".join(f"I see a {i.media_type} of {len(i.data)} bytes." for i in images)
            return
        if "send me the screenshot" in prompt and not results:
            args = {"path": "screenshots/shot.png"}
            yield {
                0: DeltaToolCall(name="send_file", json_args=json.dumps(args), tool_call_id="f1")
            }
            return
        if results and results[0].tool_name == "send_file":
            yield f"Here it is ({results[0].model_response_str()})."
            return
        if "remember" in prompt and not results:
            args = {"note": "prefers window seats", "long_term": True}
            yield {0: DeltaToolCall(name="remember", json_args=json.dumps(args), tool_call_id="c1")}
            return
        if results:
            await asyncio.to_thread(self.gate.wait, 60)
            yield f"Noted. The tool said: {results[0].model_response_str()}"
            return
        if "markdown" in prompt:
            for line in MARKDOWN.splitlines(keepends=True):
                yield line
            return
        if "slow" in prompt and self.stops == 0:
            self.stops += 1
            yield "Thinking about "
            yield "**your trip**"
            await asyncio.sleep(3600)  # until Stop cancels the turn
        if "fail" in prompt and self.failures == 0:
            self.failures += 1
            raise RuntimeError("provider answered 503 Service Unavailable")
        if "long" in prompt:
            text = self.long_reply
            for start in range(0, len(text), self.chunk):
                if start >= len(text) // 2 and not self.midway.is_set():
                    await asyncio.to_thread(self.midway.wait, 60)
                if start + self.chunk >= len(text):
                    self.last_delta_at = time.time()
                yield text[start : start + self.chunk]
            return
        yield f"You said *{prompt}*."

    def respond(self, messages: list[ModelMessage], _info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[TextPart(f"You said {_prompt(messages)}")])

    def model(self) -> FunctionModel:
        return FunctionModel(self.respond, stream_function=self.stream, model_name="scripted")


def signed_in(app: ASGIApp) -> ASGIApp:
    """What the Worker adds to every request it forwards: the edge token and the user."""
    extra = [(b"x-agent-edge-token", EDGE_TOKEN.encode()), (b"x-agent-user", IDENTITY.encode())]

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = {**scope, "headers": [*scope["headers"], *extra]}
        await app(scope, receive, send)

    return wrapped


def chat_settings(state_dir: Path) -> RuntimeSettings:
    return RuntimeSettings(
        agent_tenant="acme", agent_edge_token=EDGE_TOKEN, state_backend="local", state_dir=state_dir
    )


@contextmanager
def serve_chat(state_dir: Path, script: ScriptedChat) -> Iterator[str]:
    """The runtime with `script` answering, on a loopback port, until the block ends."""
    settings = chat_settings(state_dir)
    store = LocalDirStore(state_dir)
    engine = NativeEngine(
        script.model(),
        label="scripted",
        offline=False,
        instructions="test",
        toolsets=[memory_toolset(MemoryBook(store, settings.agent_timezone)), send_file_toolset()],
    )
    app = create_app(settings, AppDeps(store=store, engine=engine))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(signed_in(app), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise AssertionError("the runtime did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        script.gate.set()
        server.should_exit = True
        thread.join(30)
