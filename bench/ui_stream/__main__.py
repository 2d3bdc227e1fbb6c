"""`uv run python -m bench.ui_stream`: how long after its last delta a long reply is on screen.

The runtime app runs in process with a scripted model that streams a 30,000-character Markdown
reply (headings, lists, code blocks, tables, links) in 4-character deltas, about one token each,
as fast as the socket takes them. Headless Chromium (Playwright) opens the chat page, sends the
message and reports, by a MutationObserver and the next animation frame, when the stored reply is
rendered. The lag is that moment minus the moment the model handed over its last delta (one wall
clock, one machine). `--ui-ref <git ref>` serves the UI files from that commit instead, to compare
(e.g. the renderer that set textContent on every delta).

Writes bench/results/ui_stream.json; bench/ui_stream/RESULTS.md quotes a run on the 2-core
reference machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from starlette.applications import Starlette
from starlette.responses import FileResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from agent.localproc import serve_app
from agent.runtime.app import AppDeps, create_app
from agent.runtime.engine.native import NativeEngine
from agent.runtime.settings import RuntimeSettings
from bench.runtime.harness import REPO

CHROMIUM = "/usr/bin/chromium"
EDGE_TOKEN = "bench-edge-token-0123456789"
RESULTS = REPO / "bench" / "results" / "ui_stream.json"
# Resolves once the stored reply is on screen: the frame after its "saved" line appeared.
WATCH = """() => { window.renderedAt = new Promise((resolve) => {
  const metas = () => [...document.querySelectorAll(".msg .meta")];
  const seen = () => metas().some((meta) => meta.textContent.includes("saved"));
  new MutationObserver((_, observer) => {
    if (!seen()) return;
    observer.disconnect();
    requestAnimationFrame(() => setTimeout(() => resolve(Date.now() / 1000), 0));
  }).observe(document.getElementById("messages"),
    { childList: true, subtree: true, characterData: true });
}); }"""


def reply_text(chars: int) -> str:
    """About `chars` characters of Markdown using every block kind."""
    parts: list[str] = []
    index = 0
    while sum(map(len, parts)) < chars:
        index += 1
        parts.append(
            f"### Step {index}\n\nSome *prose* with `inline code` and a "
            f"[link](https://example.com/{index}); long enough to wrap on a phone screen.\n\n"
            f"- item {index}.1\n- item {index}.2 with **bold**\n\n"
            f"```python\ndef step_{index}(x):\n    return x * {index}\n```\n\n"
            f"| step | value |\n|---|---|\n| {index} | {index * index} |\n\n"
        )
    return "".join(parts)[:chars]


class Streamer:
    """The scripted model: the reply in `chunk`-character deltas, noting the last one's time."""

    def __init__(self, text: str, chunk: int) -> None:
        self.text = text
        self.chunk = chunk
        self.last_delta_at = 0.0

    async def stream(self, _messages: list[ModelMessage], _info: AgentInfo) -> AsyncIterator[str]:
        for start in range(0, len(self.text), self.chunk):
            if start + self.chunk >= len(self.text):
                self.last_delta_at = time.time()
            yield self.text[start : start + self.chunk]

    def respond(self, _messages: list[ModelMessage], _info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[TextPart(self.text)])


def signed_in(app: ASGIApp, ui_dir: Path | None) -> ASGIApp:
    """The Worker's part (edge token, identity) and, with `ui_dir`, the UI files from there."""
    extra = [(b"x-agent-edge-token", EDGE_TOKEN.encode()), (b"x-agent-user", b"bench@example.com")]
    files: ASGIApp | None = None
    if ui_dir is not None:
        files = Starlette(
            routes=[
                Route("/", lambda _request: FileResponse(ui_dir / "index.html")),
                Mount("/ui", StaticFiles(directory=ui_dir)),
            ]
        )

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = {**scope, "headers": [*scope["headers"], *extra]}
            if files is not None and (scope["path"] == "/" or scope["path"].startswith("/ui/")):
                await files(scope, receive, send)
                return
        await app(scope, receive, send)

    return wrapped


@contextmanager
def serve(streamer: Streamer, state: Path, ui_dir: Path | None) -> Iterator[str]:
    settings = RuntimeSettings(
        agent_tenant="bench", agent_edge_token=EDGE_TOKEN, state_backend="local", state_dir=state
    )
    model = FunctionModel(streamer.respond, stream_function=streamer.stream, model_name="bench")
    engine = NativeEngine(model, label="bench", offline=False, instructions="bench")
    app = create_app(settings, AppDeps(engine=engine))
    with serve_app(signed_in(app, ui_dir), "the runtime", lifespan="on", ws_max_size=2**24) as url:
        yield url


def ui_files(ref: str, into: Path) -> Path:
    """The UI directory as it was at git `ref`."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref, "agent/runtime/ui"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "agent" / "runtime" / "ui"


def measure(chars: int, chunk: int, runs: int, ui_ref: str | None) -> dict[str, Any]:
    streamer = Streamer(reply_text(chars), chunk)
    lags: list[float] = []
    streams: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        ui_dir = ui_files(ui_ref, Path(tmp)) if ui_ref else None
        with serve(streamer, Path(tmp) / "state", ui_dir) as url, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            for run in range(runs):
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(url + "/")
                page.wait_for_selector("#conn[data-state=open]")
                page.evaluate(WATCH)
                page.fill("#chat-input", f"run {run}: the long reply")
                sent_at = time.time()
                page.press("#chat-input", "Enter")
                rendered_at = float(page.evaluate("window.renderedAt"))
                lags.append(rendered_at - streamer.last_delta_at)
                streams.append(streamer.last_delta_at - sent_at)
                print(f"  {ui_ref or 'working tree'} run {run + 1}: {lags[-1]:.2f} s", flush=True)
                page.close()
            browser.close()
    return {
        "ui": ui_ref or "working tree",
        "reply_chars": chars,
        "delta_chars": chunk,
        "deltas": -(-chars // chunk),
        "runs": runs,
        "lag_after_last_delta_s": statistics.median(lags),
        "lag_runs_s": [round(x, 3) for x in lags],
        "stream_s": statistics.median(streams),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=30_000)
    parser.add_argument("--chunk", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--ui-ref", action="append", default=[], help="also measure this git ref")
    args = parser.parse_args()
    results = [measure(args.chars, args.chunk, args.runs, None)]
    results += [measure(args.chars, args.chunk, args.runs, ref) for ref in args.ui_ref]
    for result in results:
        print(
            f"{result['ui']}: {result['reply_chars']} chars in {result['deltas']} deltas, "
            f"streamed in {result['stream_s']:.2f} s; on screen "
            f"{result['lag_after_last_delta_s']:.2f} s after the last delta "
            f"(runs: {result['lag_runs_s']})"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
