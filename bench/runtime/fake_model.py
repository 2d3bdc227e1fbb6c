"""A loopback OpenAI-compatible chat endpoint that answers at once and records request sizes.

Pointing the runtime at it (`AGENT_MODEL=openai:bench-fake`, `AGENT_MODEL_BASE_URL`) measures
what a real provider would receive per turn, through the runtime's ordinary model client and
without any debug route.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REPLY = "noted"


@dataclass
class FakeModel:
    """The server's base URL and the body size of every chat request it received."""

    base_url: str = ""
    sizes: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> list[int]:
        """The sizes recorded since the last call."""
        with self.lock:
            taken, self.sizes = self.sizes, []
        return taken


def _completion(stream: bool) -> list[dict[str, Any]]:
    base = {"id": "chatcmpl-bench", "created": 0, "model": "bench-fake"}
    usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    if not stream:
        message = {"role": "assistant", "content": REPLY}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        return [{**base, "object": "chat.completion", "choices": [choice], "usage": usage}]
    chunk = {**base, "object": "chat.completion.chunk"}
    delta = {"role": "assistant", "content": REPLY}
    return [
        {**chunk, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
        {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**chunk, "choices": [], "usage": usage},
    ]


@contextmanager
def fake_model() -> Iterator[FakeModel]:
    """Serve the fake on a free loopback port for the block."""
    model = FakeModel()

    class Handle(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if not self.path.endswith("/chat/completions"):
                self.send_error(404)
                return
            with model.lock:
                model.sizes.append(len(body))
            stream = bool(json.loads(body).get("stream"))
            parts = _completion(stream)
            if stream:
                data = b"".join(f"data: {json.dumps(p)}\n\n".encode() for p in parts)
                data += b"data: [DONE]\n\n"
                kind = "text/event-stream"
            else:
                data, kind = json.dumps(parts[0]).encode(), "application/json"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handle)
    server.daemon_threads = True
    model.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield model
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
