"""Context management: every model request stays within the token budget, however long the
session, and what older turns said reaches the model through the durable running summary."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from pydantic_ai.messages import (
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, DeltaToolCalls, FunctionModel
from runtime_support import CountingStore

from agent.runtime.engine import AgentDeps, TurnOutcome
from agent.runtime.engine.context import (
    DEFAULT_CONTEXT_TOKENS,
    SUMMARY_INSTRUCTIONS,
    context_budget,
    estimate_tokens,
    extractive_summary,
)
from agent.runtime.engine.native import NativeEngine
from agent.runtime.engine.offline import offline_model, offline_reply, offline_respond
from agent.runtime.sessions import SessionStore, Summary, Turn, now, summary_key, turn_key
from agent.runtime.settings import RuntimeSettings
from agent.runtime.store.memory import MemoryStore

pytestmark = pytest.mark.anyio
FACT = "Remember: my locker code is 4711."


@dataclass
class Capture:
    """A FunctionModel that answers like the offline model and keeps every request it got."""

    requests: list[tuple[list[ModelMessage], str | None]] = field(default_factory=list)

    def respond(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        self.requests.append((messages, info.instructions))
        return offline_respond(messages, info)

    async def stream(
        self, messages: list[ModelMessage], info: AgentInfo
    ) -> AsyncIterator[str | DeltaToolCalls]:
        self.requests.append((messages, info.instructions))
        yield offline_reply(messages)

    def model(self) -> FunctionModel:
        return FunctionModel(self.respond, stream_function=self.stream, model_name="capture")

    def tokens(self, index: int) -> int:
        messages, instructions = self.requests[index]
        return estimate_tokens(messages) + len(instructions or "") // 4

    def text(self, index: int) -> str:
        return ModelMessagesTypeAdapter.dump_json(self.requests[index][0]).decode()

    def replies(self) -> list[int]:
        """Indexes of the requests that answered the user (not summarisation)."""
        return [
            i
            for i, (_m, instructions) in enumerate(self.requests)
            if not (instructions or "").startswith(SUMMARY_INSTRUCTIONS[:60])
        ]


def stored_turn(seq: int, prompt: str, tool_result: str | None = None) -> Turn:
    messages: list[ModelMessage] = [ModelRequest(parts=[UserPromptPart(prompt)])]
    if tool_result is not None:
        messages.append(ModelResponse(parts=[ToolCallPart("fetch", {"page": seq}, f"call-{seq}")]))
        messages.append(ModelRequest(parts=[ToolReturnPart("fetch", tool_result, f"call-{seq}")]))
    messages.append(ModelResponse(parts=[TextPart(f"noted ({seq})")]))
    return Turn(
        seq=seq,
        turn_id=f"t{seq}",
        user="u",
        channel="api",
        created_at=now(),
        prompt=prompt,
        reply=f"noted ({seq})",
        model="offline",
        messages=ModelMessagesTypeAdapter.dump_python(messages, mode="json"),
    )


def fill(store: MemoryStore, session_id: str, count: int) -> None:
    for seq in range(1, count + 1):
        prompt = FACT if seq == 3 else f"message {seq} about nothing in particular"
        store.seed(turn_key(session_id, seq), stored_turn(seq, prompt).model_dump_json().encode())


async def run_turn(
    engine: NativeEngine, sessions: SessionStore, settings: RuntimeSettings, prompt: str
) -> Turn:
    async with httpx.AsyncClient() as http, sessions.open("long") as window:
        deps = AgentDeps(settings, sessions._store, http, "long", "u", "api", "r")
        outcome = None
        async for event in engine.turn(window, prompt, deps):
            if isinstance(event, TurnOutcome):
                outcome = event
        assert outcome is not None
        draft = Turn(
            seq=1,
            turn_id=f"new-{prompt}",
            user="u",
            channel="api",
            created_at=now(),
            prompt=prompt,
            reply=outcome.reply,
            model="capture",
            messages=outcome.messages,
        )
        return await sessions.append("long", draft)


@pytest.mark.slow  # seconds of CPU: `make test` runs it, `make test-fast` does not
async def test_at_5000_turns_every_request_stays_in_budget_and_keeps_old_facts(
    settings: RuntimeSettings,
) -> None:
    budget = 4000
    store = MemoryStore()
    fill(store, "long", 5000)
    capture = Capture()
    engine = NativeEngine(
        capture.model(), label="capture", offline=True, instructions="Be brief.",
        context_tokens=budget,
    )  # fmt: skip
    sessions = SessionStore(store)  # type: ignore[arg-type]
    for n in range(12):
        await run_turn(engine, sessions, settings, f"what is my locker code? ({n})")
    assert max(capture.tokens(i) for i in range(len(capture.requests))) <= budget
    replies = capture.replies()
    assert len(replies) == 12
    for index in replies:  # the fact was said only in turn 3, long compacted away
        assert "4711" in capture.text(index)
    # The full history is still in the store, unchanged; the summary is its own object.
    assert len([k for k in store.objects if k.startswith("sessions/long/")]) == 5012
    assert [k for k in store.objects if k.startswith("session-summaries/long/")]
    last = Turn.model_validate_json(store.objects[turn_key("long", 5012)])
    assert len(last.messages) == 2  # only this turn's request and reply, no summary, no history
    async with sessions.open("long") as window:
        assert window.summary is not None
        assert "4711" in window.summary.text
        assert len(window.turns) < 50


async def test_a_restarted_runtime_reuses_the_stored_summary(settings: RuntimeSettings) -> None:
    store = MemoryStore()
    fill(store, "long", 300)
    first = Capture()
    engine = NativeEngine(
        first.model(), label="c", offline=True, instructions="x", context_tokens=2000
    )
    await run_turn(engine, SessionStore(store), settings, "hello")  # type: ignore[arg-type]
    summarised = len(first.requests) - 1
    assert summarised >= 1
    counting = CountingStore(store)  # type: ignore[arg-type]
    again = Capture()
    engine = NativeEngine(
        again.model(), label="c", offline=True, instructions="x", context_tokens=2000
    )
    await run_turn(engine, SessionStore(counting), settings, "and now?")  # type: ignore[arg-type]
    assert len(again.requests) == 1  # no summarisation: the stored summary was reused
    assert "4711" in again.text(0)
    assert len([r for r in counting.reads if r.startswith("get sessions/")]) <= 10


async def test_large_tool_results_are_trimmed_before_turns_are_dropped(
    settings: RuntimeSettings,
) -> None:
    store = MemoryStore()
    huge = "row " * 5000
    for seq in range(1, 4):
        turn = stored_turn(seq, f"fetch page {seq}", tool_result=huge + str(seq))
        store.seed(turn_key("long", seq), turn.model_dump_json().encode())
    capture = Capture()
    engine = NativeEngine(
        capture.model(), label="c", offline=True, instructions="x", context_tokens=4000
    )
    await run_turn(engine, SessionStore(store), settings, "summarise the pages")  # type: ignore[arg-type]
    assert len(capture.requests) == 1  # trimming sufficed: nothing was compacted
    sent = capture.text(0)
    assert sent.count("fetch page") == 3
    assert "trimmed" in sent
    assert capture.tokens(0) <= 4000
    stored = Turn.model_validate_json(store.objects[turn_key("long", 1)])
    assert huge in str(stored.messages)  # the store keeps the whole result


async def test_a_failed_compaction_fails_no_turn_and_stores_nothing(
    settings: RuntimeSettings,
) -> None:
    store = MemoryStore()
    fill(store, "long", 200)

    def broken_summariser(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if (info.instructions or "").startswith(SUMMARY_INSTRUCTIONS[:60]):
            raise RuntimeError("provider down")
        return offline_respond(messages, info)

    async def stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
        sent.append(estimate_tokens(messages))
        yield "ok"

    sent: list[int] = []
    model = FunctionModel(broken_summariser, stream_function=stream)
    engine = NativeEngine(model, label="c", offline=True, instructions="x", context_tokens=2000)
    turn = await run_turn(engine, SessionStore(store), settings, "still there?")  # type: ignore[arg-type]
    assert turn.seq == 201
    assert sent[0] <= 2000
    assert not [k for k in store.objects if k.startswith("session-summaries/")]


def test_offline_summary_keeps_every_distinct_statement() -> None:
    prompt = (
        "Earlier summary:\n- I live in Lyon\n\nNew part of the conversation:\n"
        "[turn 4] user: message 4\n[turn 4] assistant: ok\n"
        "[turn 5] user: message 5\n[turn 5] assistant: ok\n"
        f"[turn 6] user: {FACT}\n[turn 6] assistant: ok"
    )
    assert extractive_summary(prompt) == f"- I live in Lyon\n- message 4\n- {FACT}"
    assert extractive_summary(prompt) == extractive_summary(prompt)


def test_budget_defaults_from_the_model_context_window() -> None:
    assert context_budget(12_000, offline_model()) == 12_000
    assert context_budget(None, offline_model()) == DEFAULT_CONTEXT_TOKENS  # window unknown
    known = FunctionModel(offline_respond, profile={"context_window": 128_000})
    assert context_budget(None, known) == 96_000


async def test_summary_objects_are_created_not_replaced(settings: RuntimeSettings) -> None:
    store = MemoryStore()
    fill(store, "long", 400)
    engine = NativeEngine(
        Capture().model(), label="c", offline=True, instructions="x", context_tokens=2000
    )
    sessions = SessionStore(store)  # type: ignore[arg-type]
    await run_turn(engine, sessions, settings, "one")
    keys = sorted(k for k in store.objects if k.startswith("session-summaries/long/"))
    summary = Summary.model_validate_json(store.objects[keys[0]])
    assert keys[0] == summary_key("long", summary.covers)
    before = dict(store.objects)
    await run_turn(engine, sessions, settings, "two")
    assert all(store.objects[k] == body for k, body in before.items())  # nothing overwritten


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs (no except clause catches a BaseException)."""


class KillOnce(MemoryStore):
    """A store whose process 'dies' at the first write under `prefix`, after `skip` such writes."""

    def __init__(self, prefix: str, skip: int = 0) -> None:
        super().__init__()
        self.prefix, self.skip, self.armed = prefix, skip, True

    async def put(self, key: str, body: bytes, **conditions: object) -> str:
        if self.armed and key.startswith(self.prefix):
            if self.skip == 0:
                self.armed = False
                raise Killed(key)
            self.skip -= 1
        return await super().put(key, body, **conditions)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("prefix", "skip"),
    [("turn-ids/", 5), ("session-summaries/", 0), ("session-checkpoints/", 0)],
    ids=["mid-markers", "before-summary", "before-checkpoint"],
)
@pytest.mark.slow  # over half a second of CPU (make test-cost)
async def test_a_kill_mid_compaction_loses_nothing(
    settings: RuntimeSettings, prefix: str, skip: int
) -> None:
    store = KillOnce(prefix, skip)
    fill(store, "long", 300)
    engine = NativeEngine(
        Capture().model(), label="c", offline=True, instructions="x", context_tokens=2000
    )

    async def until_killed() -> None:
        for n in range(8):
            await run_turn(engine, SessionStore(store), settings, f"before {n}")  # type: ignore[arg-type]

    with pytest.raises(Killed):
        await until_killed()
    before = {k: v for k, v in store.objects.items() if k.startswith("sessions/")}
    # A new process on the same store: every turn is there, the next turns compact and answer.
    capture = Capture()
    engine = NativeEngine(
        capture.model(), label="c", offline=True, instructions="x", context_tokens=2000
    )
    sessions = SessionStore(store)  # type: ignore[arg-type]
    for n in range(3):
        await run_turn(engine, sessions, settings, f"after {n}")
    assert all(store.objects[k] == v for k, v in before.items())
    seqs = sorted(int(k.rsplit("/", 1)[1][:8]) for k in store.objects if k.startswith("sessions/"))
    assert seqs == list(range(1, len(seqs) + 1))
    assert "4711" in capture.text(capture.replies()[-1])
    async with sessions.open("long") as window:
        assert window.summary is not None
        assert window.next_seq == len(seqs) + 1
