"""`send_file`: the agent sends one of its workspace files to the person it is talking to.

What it can send is what it writes: a browser screenshot (`screenshots/<name>.png`, the path the
`screenshot` tool answers) or a memory file (`MEMORY.md`, `memory/<day>.md`). The file is stored
as the user's attachment (content-addressed, under their owner prefix, agent/runtime/attachments.py)
and named in the turn's `files`: the web chat shows it with the reply through
`GET /api/attachments/<id>`, and a chat channel gets it through the durable outbox after the reply
text (agent/runtime/channels/inbox.py), which names the attachment by id, never the bytes.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field
from pydantic_ai import FunctionToolset, ModelRetry, RunContext

from agent.runtime.attachments import save
from agent.runtime.engine.deps import AgentDeps
from agent.runtime.errors import RequestError
from agent.runtime.tools.limits import TOOL_RETRIES
from agent.runtime.tools.memory import PATH_PATTERN, WORKSPACE

SCREENSHOT_PATTERN = re.compile(r"^screenshots/[A-Za-z0-9][A-Za-z0-9_.-]{0,150}\.png$")
PATH_EXAMPLE = (
    "screenshots/<name>.png (as the screenshot tool answered), MEMORY.md or memory/2026-11-26.md"
)

Path = Annotated[str, Field(min_length=1, max_length=200)]


def sendable(path: str) -> bool:
    """Whether `path` names a workspace file the agent may send."""
    return bool(SCREENSHOT_PATTERN.fullmatch(path) or PATH_PATTERN.fullmatch(path))


def send_file_toolset() -> FunctionToolset[AgentDeps]:
    """The `send_file` tool."""
    toolset: FunctionToolset[AgentDeps] = FunctionToolset(id="send_file", max_retries=TOOL_RETRIES)

    @toolset.tool
    async def send_file(ctx: RunContext[AgentDeps], path: Path) -> str:
        """Send a workspace file to the user in this chat: a screenshot you took or a memory file.

        Args:
            path: screenshots/<name>.png as the screenshot tool answered, MEMORY.md, or
                memory/YYYY-MM-DD.md.
        """
        deps = ctx.deps
        path = path.strip().removeprefix(WORKSPACE)
        if not sendable(path):
            raise ModelRetry(f"{path!r} cannot be sent; send one of {PATH_EXAMPLE}")
        limit = deps.settings.agent_attachment_max_per_message
        if len(deps.outgoing) >= limit:
            raise ModelRetry(
                f"already sent {limit} files in this answer (AGENT_ATTACHMENT_MAX_PER_MESSAGE)"
            )
        stored = await deps.store.get(WORKSPACE + path)
        if stored is None:
            raise ModelRetry(f"there is no workspace file {path!r}; use {PATH_EXAMPLE}")
        if len(stored.body) > deps.settings.agent_attachment_max_bytes:
            raise ModelRetry(
                f"{path} is {len(stored.body)} bytes, over AGENT_ATTACHMENT_MAX_BYTES; "
                "take a viewport screenshot instead of a full-page one"
            )
        name = path.rsplit("/", 1)[-1]
        try:
            info = await save(deps.store, deps.user, name, stored.body)
        except RequestError as error:  # an empty memory file, say
            raise ModelRetry(f"{path} cannot be sent: {error.error}") from None
        # The same bytes uploaded before keep their first name in the store; this one is sent as
        # what the agent called it.
        info = info.model_copy(update={"name": name})
        if all(sent.id != info.id for sent in deps.outgoing):
            deps.outgoing.append(info)
        return f"sent {info.name} ({info.type}, {info.size} bytes) to the user in this chat"

    return toolset
