"""The built-in offline model: deterministic replies with no key and no network.

It lets the whole loop (edge, runtime, state, UI) work on a fresh machine. Every reply starts with
`[offline model]` so nobody mistakes it for a language model. Asked to summarise (the context
manager's compaction), it writes a deterministic extractive summary that keeps every distinct
user statement.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from agent.runtime.engine.context import SUMMARY_INSTRUCTIONS, extractive_summary

OFFLINE_LABEL = "[offline model]"


def _last_prompt(messages: list[ModelMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart):
                    return part.content if isinstance(part.content, str) else "(non-text input)"
    return ""


def offline_reply(messages: list[ModelMessage]) -> str:
    """The deterministic reply: what was said, and how long the conversation is."""
    user_turns = sum(
        1
        for message in messages
        if isinstance(message, ModelRequest)
        and any(isinstance(part, UserPromptPart) for part in message.parts)
    )
    return (
        f"{OFFLINE_LABEL} You said: {_last_prompt(messages)!r}. "
        f"This is message {user_turns} of this session. No language model is configured: "
        "set AGENT_MODEL (and AI_GATEWAY_BASE_URL, AI_GATEWAY_TOKEN) for real answers."
    )


def offline_respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """The offline model's answer to one request (a reply, or a summary when asked for one)."""
    if info.instructions is not None and info.instructions.startswith(SUMMARY_INSTRUCTIONS[:60]):
        return ModelResponse(parts=[TextPart(extractive_summary(_last_prompt(messages)))])
    return ModelResponse(parts=[TextPart(offline_reply(messages))])


async def _stream(messages: list[ModelMessage], _info: AgentInfo) -> AsyncIterator[str]:
    # Sentence by sentence: a real stream's shape without an event per word.
    sentences = offline_reply(messages).split(". ")
    for index, sentence in enumerate(sentences):
        yield sentence if index == len(sentences) - 1 else sentence + ". "


def offline_model() -> FunctionModel:
    """A FunctionModel answering deterministically, streamed sentence by sentence."""
    return FunctionModel(offline_respond, stream_function=_stream, model_name="offline")
