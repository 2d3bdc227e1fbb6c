"""The native engine's context: a token budget per model request, kept by a history processor.

pydantic-ai runs `ContextManager.process` (a `ProcessHistory` capability) before every model
request. It builds what the model receives from the session window, not from the whole history:

1. large tool results in past turns are trimmed first (the stored turns keep them whole);
2. if the request would exceed the budget, the oldest turns of the window are folded into the
   running summary, written by the same model (`SUMMARY_INSTRUCTIONS`), in chunks that each fit
   the budget; the summary is stored durably (`SessionWindow.compact`) before the window drops
   the turns it covers, so a process killed mid-compaction loses nothing: the next turn redoes
   the summary (or reuses one another writer stored);
3. the request is the summary, the recent turns verbatim, and this run's own messages.

Tokens are estimated, conservatively, as one per 4 bytes of the serialized messages.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, cast

from pydantic_ai import Agent, RunContext
from pydantic_ai.capabilities import ProcessHistory
from pydantic_ai.messages import (
    BinaryContent,
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelRequestPart,
    SystemPromptPart,
    ToolReturnPart,
    UserPromptPart,
)

from agent.runtime.engine.deps import AgentDeps
from agent.runtime.sessions import SessionWindow, Summary, Turn, now

if TYPE_CHECKING:
    from pydantic_ai.models import Model

log = logging.getLogger(__name__)

DEFAULT_CONTEXT_TOKENS = 64_000
BYTES_PER_TOKEN = 4
# What the model's own context window leaves for the request (the rest: reply, tool definitions).
WINDOW_SHARE = 0.75
SUMMARY_INSTRUCTIONS = (
    "You maintain the running summary of a long conversation between a user and an assistant. "
    "Merge the earlier summary with the new part of the conversation into one updated summary. "
    "Keep every fact, name, number, date, preference, decision and open task the user may rely "
    "on later; drop greetings and chatter. Write plain short lines, at most {words} words."
)
SUMMARY_HEADER = "Summary of the earlier conversation (turns 1-{covers}):"
_TRIMMED = "… [trimmed {n} characters]"


# What one attached image costs a provider, whatever its bytes (about one megapixel's worth:
# Anthropic charges width*height/750 tokens and scales images down to ~1.15 megapixels).
IMAGE_TOKENS = 1_600


def _binary_sizes(messages: Sequence[ModelMessage]) -> list[int]:
    """Byte sizes of the attachments (BinaryContent) in these messages' user prompts."""
    return [
        len(item.data)
        for message in messages
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, UserPromptPart) and not isinstance(part.content, str)
        for item in part.content
        if isinstance(item, BinaryContent)
    ]


def estimate_tokens(messages: Sequence[ModelMessage]) -> int:
    """A conservative token estimate: serialized bytes / 4, an image counted as IMAGE_TOKENS
    instead of its base64 text."""
    size = len(ModelMessagesTypeAdapter.dump_json(list(messages)))
    for data_bytes in _binary_sizes(messages):
        size -= 4 * ((data_bytes + 2) // 3)  # the base64 of the data, as serialized
        size += IMAGE_TOKENS * BYTES_PER_TOKEN
    return max(size, 0) // BYTES_PER_TOKEN + 1


def context_budget(configured: int | None, model: Model) -> int:
    """AGENT_CONTEXT_TOKENS, else 3/4 of the model's known context window, else 64,000."""
    if configured is not None:
        return configured
    window = model.context_window  # pydantic-ai's profile, filled from genai-prices
    return int(window * WINDOW_SHARE) if window else DEFAULT_CONTEXT_TOKENS


@dataclass(frozen=True, slots=True)
class _Past:
    """A stored turn as the context uses it: parsed once, tool results trimmed, tokens counted."""

    messages: list[ModelMessage]
    tokens: int


class ContextManager:
    """Keeps every request of a session under `budget` tokens (see the module docstring)."""

    def __init__(
        self, model: Model, *, budget: int, label: str, summary_model: Model | None = None
    ) -> None:
        self.budget = budget
        self._label = label
        # Tool results longer than this are cut in past turns (and in this run's, if needed).
        self.tool_result_chars = max(400, budget * BYTES_PER_TOKEN // 16)
        self.summary_chars = max(400, budget * BYTES_PER_TOKEN // 8)
        # Summaries may come from a cheaper model (AGENT_JOB_MODEL); `label` names the one used.
        self._summarizer = Agent(
            summary_model or model,
            output_type=str,
            instructions=SUMMARY_INSTRUCTIONS.format(words=self.summary_chars // 6),
        )

    def capability(self) -> ProcessHistory[AgentDeps]:
        """The pydantic-ai capability that runs `process` before every model request."""
        return ProcessHistory(self.process)

    def _past(self, turn: Turn) -> _Past:
        def parse(raw: list[object]) -> _Past:
            messages = _trim_tool_results(
                ModelMessagesTypeAdapter.validate_python(raw), self.tool_result_chars
            )
            return _Past(messages, estimate_tokens(messages))

        past: _Past = turn.parsed(parse)
        return past

    def history(self, session: SessionWindow) -> list[ModelMessage]:
        """The window as message history (summary, then turns); `process` budgets it."""
        turns = [m for turn in session.turns for m in self._past(turn).messages]
        return [*_summary_messages(session.summary), *turns]

    async def process(
        self, ctx: RunContext[AgentDeps], messages: list[ModelMessage]
    ) -> list[ModelMessage]:
        """The request for this step: summary, recent turns, this run's messages, in budget."""
        session = ctx.deps.session
        if session is None:
            return messages
        current = _this_run(messages, ctx.run_id)
        current_tokens = estimate_tokens(current)
        if current_tokens > self.budget // 2:
            current = _trim_tool_results(current, self.tool_result_chars)
            current_tokens = estimate_tokens(current)
        pasts = [self._past(turn) for turn in session.turns]
        total = _summary_tokens(session.summary) + sum(p.tokens for p in pasts) + current_tokens
        if total > self.budget and session.turns:
            # Keep about half the budget verbatim, so compaction runs every few turns, not each.
            keep_budget = self.budget // 2 - current_tokens - self.summary_chars // BYTES_PER_TOKEN
            keep = _newest_within(pasts, keep_budget)
            folded = session.turns[: len(pasts) - keep]
            if folded:
                await self._compact(session, folded)
            pasts = [self._past(turn) for turn in session.turns]
        head = _summary_messages(session.summary)
        room = self.budget - current_tokens - _summary_tokens(session.summary)
        # If compaction could not run (model or store failure), drop old turns from this request
        # only: the window and the store keep them for the next attempt.
        keep = _newest_within(pasts, room)
        # Shallow copies: pydantic-ai may annotate the messages it sends; the parsed turns are
        # cached across requests and must stay as stored.
        recent = [copy.copy(m) for past in pasts[len(pasts) - keep :] for m in past.messages]
        return [*head, *recent, *current]

    async def _compact(self, session: SessionWindow, folded: list[Turn]) -> None:
        try:
            summary = await self._summarize(session.summary, folded)
            await session.compact(summary, folded)
        except Exception:
            log.warning(
                "compaction of session %r failed; old turns are left out of this request only",
                session.session_id,
                exc_info=True,
            )

    async def _summarize(self, previous: Summary | None, folded: Sequence[Turn]) -> Summary:
        text = previous.text if previous is not None else ""
        chunk_chars = max(1000, self.budget * BYTES_PER_TOKEN // 2 - self.summary_chars)
        lines: list[str] = []
        size = 0
        for turn in folded:
            line = _transcript(turn, chunk_chars // 2)
            if lines and size + len(line) > chunk_chars:
                text = await self._fold(text, lines)
                lines, size = [], 0
            lines.append(line)
            size += len(line)
        text = await self._fold(text, lines)
        return Summary(covers=folded[-1].seq, text=text, model=self._label, created_at=now())

    async def _fold(self, summary: str, lines: list[str]) -> str:
        prompt = (
            f"Earlier summary:\n{summary or '(none yet)'}\n\n"
            "New part of the conversation:\n" + "\n".join(lines)
        )
        result = await self._summarizer.run(prompt)
        text = str(result.output).strip()
        if len(text) > self.summary_chars:
            text = text[: self.summary_chars - 1] + "…"
        return text


def _this_run(messages: list[ModelMessage], run_id: str | None) -> list[ModelMessage]:
    for index, message in enumerate(messages):
        if run_id is not None and message.run_id == run_id:
            return messages[index:]
    return messages[-1:]


def _newest_within(pasts: Sequence[_Past], tokens: int) -> int:
    """How many of the newest turns fit in `tokens`."""
    used = kept = 0
    for past in reversed(pasts):
        if used + past.tokens > tokens:
            break
        used += past.tokens
        kept += 1
    return kept


def _summary_messages(summary: Summary | None) -> list[ModelMessage]:
    if summary is None:
        return []
    header = SUMMARY_HEADER.format(covers=summary.covers)
    return [ModelRequest(parts=[SystemPromptPart(f"{header}\n{summary.text}")])]


def _summary_tokens(summary: Summary | None) -> int:
    return estimate_tokens(_summary_messages(summary)) if summary is not None else 0


def _transcript(turn: Turn, limit: int) -> str:
    def cut(text: str) -> str:
        return text if len(text) <= limit // 2 else text[: limit // 2] + "…"

    said, answered = cut(turn.prompt), cut(turn.reply)
    return f"[turn {turn.seq}] user: {said}\n[turn {turn.seq}] assistant: {answered}"


def _trim_tool_results(messages: list[ModelMessage], limit: int) -> list[ModelMessage]:
    out: list[ModelMessage] = []
    for message in messages:
        if isinstance(message, ModelRequest) and any(_too_long(p, limit) for p in message.parts):
            message = replace(message, parts=[_trim_part(p, limit) for p in message.parts])
        out.append(message)
    return out


def _trim_part(part: ModelRequestPart, limit: int) -> ModelRequestPart:
    if not _too_long(part, limit):
        return part
    plain = cast("ToolReturnPart[Any]", part)  # _too_long accepts the plain class only
    return replace(plain, content=_cut(str(plain.content), limit))


def _too_long(part: object, limit: int) -> bool:
    # Plain tool results only: the typed subclasses (tool search, capability loading) are small.
    return type(part) is ToolReturnPart and len(str(part.content)) > limit


def _cut(text: str, limit: int) -> str:
    return text[:limit] + _TRIMMED.format(n=len(text) - limit)


_TEMPLATE = re.compile(r"\d+")


def extractive_summary(prompt: str) -> str:
    """The offline model's summary: earlier lines plus each new user line, repeats collapsed.

    Deterministic and fact-keeping (every distinct user statement survives); a line that differs
    from an earlier one only in its numbers counts as a repeat ("message 17" after "message 3").
    """
    earlier, _, new = prompt.partition("\n\nNew part of the conversation:\n")
    lines = [
        line
        for line in earlier.removeprefix("Earlier summary:\n").splitlines()
        if line.startswith("- ")
    ]
    for line in new.splitlines():
        _, marker, said = line.partition("] user: ")
        if marker and said.strip():
            lines.append(f"- {said.strip()}")
    seen: set[str] = set()
    kept: list[str] = []
    for line in lines:
        shape = _TEMPLATE.sub("#", line.lower())
        if shape not in seen:
            seen.add(shape)
            kept.append(line)
    return "\n".join(kept)
