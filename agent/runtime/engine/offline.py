"""The built-in offline model: deterministic, no key, no network, and it really uses the tools.

It lets the whole loop (edge, runtime, state, tools, UI) work on a fresh machine. A plain request
it understands (`offline_intents`: remember, recall, search memory, reminders and recurring jobs,
list and cancel jobs, fetch a URL, open a page in the browser) becomes a pydantic-ai tool call, run
by the agent like any model's; the reply is then written from the tool's result. Anything else
gets what it can do and how to connect a real model. Every reply starts with `[offline model]` so
nobody mistakes it for a language model. Asked to summarise (the context manager's compaction), it
writes a deterministic extractive summary that keeps every distinct user statement.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from functools import partial
from zoneinfo import ZoneInfo

from pydantic_ai.messages import (
    BinaryContent,
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ModelResponsePart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel

from agent.runtime.attachments import ATTACHMENT_HEADER, TRANSCRIPT_PREFIX, UNTRANSCRIBED_PREFIX
from agent.runtime.engine.context import SUMMARY_INSTRUCTIONS, extractive_summary
from agent.runtime.engine.offline_intents import HELP, REMINDER_PREFIX, Call, Say, read_request
from agent.runtime.sessions import now

OFFLINE_LABEL = "[offline model]"
MODELS_DOC = "docs/models.md"
Clock = Callable[[], datetime]
_EXCERPT_CHARS = 600


def _last_user_part(messages: list[ModelMessage]) -> UserPromptPart | None:
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart):
                    return part
    return None


def _last_prompt(messages: list[ModelMessage]) -> str:
    part = _last_user_part(messages)
    if part is None:
        return ""
    if isinstance(part.content, str):
        return part.content
    # With attachments the text comes first (agent/runtime/attachments.py, user_content).
    first = part.content[0] if part.content else None
    return first if isinstance(first, str) else "(non-text input)"


def _what_text_said(text: str) -> str:
    if text.startswith(TRANSCRIPT_PREFIX):
        return f": a voice note; transcript: {text.removeprefix(TRANSCRIPT_PREFIX)!r}"
    if text.startswith(UNTRANSCRIBED_PREFIX):
        reason = text.removeprefix(UNTRANSCRIBED_PREFIX).split(". Tell the user", 1)[0]
        return f": audio I could not transcribe: {reason}"
    return f": {len(text)} characters of text" if text else ""


def _received(messages: list[ModelMessage]) -> str | None:
    """What the last message attached, as the model got it: names, types, sizes, images seen."""
    part = _last_user_part(messages)
    if part is None or isinstance(part.content, str):
        return None
    lines: list[str] = []
    for item in part.content[1:]:
        if isinstance(item, str) and item.startswith(ATTACHMENT_HEADER):
            head, _, text = item.partition("\n")
            detail = head.removeprefix(ATTACHMENT_HEADER).rstrip("]")
            lines.append(f"- {detail}{_what_text_said(text)}")
        elif isinstance(item, BinaryContent) and item.is_image and lines:
            lines[-1] += ": an image I received (I cannot describe pictures)"
    if not lines:
        return None
    return (
        f"{OFFLINE_LABEL} You said: {_last_prompt(messages)!r} and attached {len(lines)} "
        "file(s):\n" + "\n".join(lines)
    )


def _results_since_prompt(messages: list[ModelMessage]) -> list[ToolReturnPart]:
    """The tool results of this turn so far, oldest first (empty before the first tool call)."""
    results: list[ToolReturnPart] = []
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            if any(isinstance(part, UserPromptPart) for part in message.parts):
                break
            results[:0] = [part for part in message.parts if isinstance(part, ToolReturnPart)]
    return results


def offline_reply(messages: list[ModelMessage]) -> str:
    """The reply to a request no tool answers: what was said, what the model can do, and how to
    connect a real one."""
    user_turns = sum(
        1
        for message in messages
        if isinstance(message, ModelRequest)
        and any(isinstance(part, UserPromptPart) for part in message.parts)
    )
    return (
        f"{OFFLINE_LABEL} You said: {_last_prompt(messages)!r}. "
        f"This is message {user_turns} of this session. "
        "No language model is connected, so I am the built-in offline model. " + HELP + "\n\n"
        # A blank line ends the Markdown list, or the sentence would join its last item.
        f"For real answers, connect a model in one line (see {MODELS_DOC}), for example "
        "AGENT_MODEL=openai:gpt-5-mini AGENT_MODEL_API_KEY=sk-… make dev"
    )


def _step(
    messages: list[ModelMessage], info: AgentInfo, clock: Clock, timezone: str
) -> list[ModelResponsePart] | str:
    """The next step of a turn: tool calls to make, or the reply text."""
    if info.instructions is not None and info.instructions.startswith(SUMMARY_INSTRUCTIONS[:60]):
        return extractive_summary(_last_prompt(messages))
    received = _received(messages)
    if received is not None and not _results_since_prompt(messages):
        return received
    intent = read_request(_last_prompt(messages), clock().astimezone(ZoneInfo(timezone)))
    if intent is None:
        return offline_reply(messages)
    if isinstance(intent, Say):
        return f"{OFFLINE_LABEL} {intent.text}"
    tools = {tool.name for tool in info.function_tools}
    results = _results_since_prompt(messages)
    if not results:
        return _first_call(intent, tools, messages)
    last = results[-1]
    if last.outcome != "success":
        return (
            f"{OFFLINE_LABEL} The {last.tool_name} tool refused: "
            f"{_content(last).removeprefix('refused: ')}. "
            "Nothing was changed; rephrase the request and try again."
        )
    if intent.then is not None and last.tool_name == "list_jobs":
        words = intent.then.removeprefix("cancel-matching ")
        return _cancel_matching(words, last, tools, _next_call_id(messages))
    report = _report(last, _content(last), intent)
    if intent.tool == "open_page" and last.tool_name == "fetch_url":
        return report.replace(
            OFFLINE_LABEL,
            f"{OFFLINE_LABEL} The browser is off (BROWSER_CDP_URL is not set), so I fetched the "
            "page instead.",
            1,
        )
    return report


def _next_call_id(messages: list[ModelMessage]) -> str:
    """A tool call id unique in the session: providers match results to calls by it."""
    calls = sum(
        isinstance(part, ToolCallPart)
        for m in messages
        if isinstance(m, ModelResponse)
        for part in m.parts
    )
    return f"offline-{calls + 1}"


def _first_call(
    intent: Call, tools: set[str], messages: list[ModelMessage]
) -> list[ModelResponsePart] | str:
    tool, args = intent.tool, intent.args
    if tool == "open_page" and tool not in tools and "fetch_url" in tools:
        tool = "fetch_url"  # no browser configured (BROWSER_CDP_URL): fetch the page instead
    if tool not in tools:
        why = " (the browser tools need BROWSER_CDP_URL)" if tool == "open_page" else ""
        return (
            f"{OFFLINE_LABEL} I would use the {intent.tool} tool for that, but this agent does not "
            f"offer it{why}."
        )
    return [ToolCallPart(tool, args, tool_call_id=_next_call_id(messages))]


def _cancel_matching(
    words: str, listing: ToolReturnPart, tools: set[str], call_id: str
) -> list[ModelResponsePart] | str:
    lines = [line for line in _content(listing).splitlines() if re.match(r"[0-9a-f]{12} ", line)]
    wanted = [w for w in re.findall(r"\w+", words.lower()) if w not in {"all", "my", "the", "a"}]
    matching = [line for line in lines if all(w in line.lower() for w in wanted)]
    if len(matching) == 1 and "cancel_job" in tools:
        return [ToolCallPart("cancel_job", {"job_id": matching[0][:12]}, tool_call_id=call_id)]
    if not lines:
        return f"{OFFLINE_LABEL} There is no active job to cancel."
    shown = "\n".join(f"- {line}" for line in (matching or lines))
    return (
        f"{OFFLINE_LABEL} {'Several' if matching else 'No'} active jobs match {words!r}. "
        f"Say 'cancel job <id>' with one of these ids:\n{shown}"
    )


def _report(result: ToolReturnPart, content: str, intent: Call) -> str:
    """The reply written from a successful tool result."""
    content = content.strip()
    match result.tool_name:
        case "remember":
            return (
                f"{OFFLINE_LABEL} Noted: {intent.args.get('note', '')!r} ({content}). "
                "Ask 'what do you remember' to see it."
            )
        case "recall":
            if " does not exist. " in content:
                return f"{OFFLINE_LABEL} I do not remember anything yet ({content})."
            return f"{OFFLINE_LABEL} Here is what I remember:\n{content}"
        case "search_memory":
            return f"{OFFLINE_LABEL} From my memory:\n{content}"
        case "schedule_job":
            where = "It is on the Jobs page, where you can cancel it."
            return f"{OFFLINE_LABEL} {_scheduled(content)} {where}"
        case "list_jobs":
            if content == "no active jobs":
                return f"{OFFLINE_LABEL} You have no active jobs."
            return f"{OFFLINE_LABEL} Your active jobs:\n" + "\n".join(
                f"- {line}" for line in content.splitlines()
            )
        case "cancel_job":
            return f"{OFFLINE_LABEL} Done: {content}."
        case "send_file":
            return f"{OFFLINE_LABEL} Here it is: {content}."
        case "open_page":
            return _page_report(content, "Opened {url} in the browser")
        case "fetch_url":
            if content.startswith("fetch failed: "):
                failure = content.removeprefix("fetch failed: ")
                return f"{OFFLINE_LABEL} I could not fetch it: {failure}"
            return _page_report(content, "Fetched {url}")
        case _:
            return f"{OFFLINE_LABEL} The {result.tool_name} tool answered:\n{content}"


def _scheduled(content: str) -> str:
    """'scheduled <id> [active] <schedule>, next <when>: <prompt>' (tools/schedule.py) as a
    sentence."""
    job = re.fullmatch(
        r"scheduled (?P<id>\S+) \[\w+\] (?P<schedule>.+?), next (?P<next>.+?): (?P<prompt>.*)",
        content,
        re.DOTALL,
    )
    if job is None:
        return f"Done: {content}."
    prompt = job["prompt"]
    if job["schedule"] == "once" and prompt.startswith(REMINDER_PREFIX):
        what = prompt.removeprefix(REMINDER_PREFIX)
        return f"⏰ Reminder set for {job['next']}: {what} (job {job['id']})."
    return f"Scheduled {prompt!r}, {job['schedule']}, next run {job['next']} (job {job['id']})."


def _page_report(content: str, done: str) -> str:
    head, _, text = content.partition("\n\n")
    fields: dict[str, str] = {}
    for line in head.splitlines():
        name, colon, value = line.partition(": ")
        fields[name if colon else "Status"] = value if colon else line
    url = fields.get("URL", "the page")
    title = fields.get("Title")
    if title is None and text.startswith("# "):  # fetch_url puts the HTML title first
        title, _, text = text[2:].partition("\n")
    status = fields.get("Status", "")
    excerpt = " ".join(text.split())
    if len(excerpt) > _EXCERPT_CHARS:
        excerpt = excerpt[:_EXCERPT_CHARS] + "…"
    said = done.format(url=url) + (f" ({status.strip()})" if status.strip() else "") + ". "
    said += (
        f"The page title is {title.strip()!r}. "
        if title and title.strip()
        else "The page has no title. "
    )
    return f"{OFFLINE_LABEL} {said}It begins: {excerpt}" if excerpt else f"{OFFLINE_LABEL} {said}"


def _content(result: ToolReturnPart) -> str:
    content = result.content
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # validation errors of the arguments
        return "; ".join(
            str(item.get("msg", item)) if isinstance(item, dict) else str(item) for item in content
        )
    return json.dumps(content, default=str)


def offline_respond(
    messages: list[ModelMessage], info: AgentInfo, *, clock: Clock = now, timezone: str = "UTC"
) -> ModelResponse:
    """The offline model's answer to one request: tool calls, a reply, or a summary."""
    step = _step(messages, info, clock, timezone)
    return ModelResponse(parts=[TextPart(step)] if isinstance(step, str) else step)


async def _stream(
    messages: list[ModelMessage], info: AgentInfo, *, clock: Clock, timezone: str
) -> AsyncIterator[str | DeltaToolCalls]:
    step = _step(messages, info, clock, timezone)
    if isinstance(step, str):
        # Sentence by sentence and line by line: a real stream's shape without an event per word.
        for piece in re.split(r"(?<=\. )|(?<=\n)", step):
            if piece:
                yield piece
        return
    yield {
        index: DeltaToolCall(part.tool_name, json.dumps(part.args), tool_call_id=part.tool_call_id)
        for index, part in enumerate(step)
        if isinstance(part, ToolCallPart)
    }


def offline_model(timezone: str = "UTC", clock: Clock = now) -> FunctionModel:
    """The offline FunctionModel; `timezone` (AGENT_TIMEZONE) and `clock` date the reminders."""
    return FunctionModel(
        partial(offline_respond, clock=clock, timezone=timezone),
        stream_function=partial(_stream, clock=clock, timezone=timezone),
        model_name="offline",
    )
