"""What every tool receives through pydantic-ai's `RunContext.deps`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from agent.runtime.attachments import Attachment, AttachmentInfo
from agent.runtime.settings import RuntimeSettings
from agent.runtime.store.base import StateStore

if TYPE_CHECKING:
    from agent.runtime.sessions import SessionWindow


@dataclass(frozen=True, slots=True)
class AgentDeps:
    """Per-turn dependencies: shared clients plus who is talking, where, in which session."""

    settings: RuntimeSettings
    store: StateStore
    http: httpx.AsyncClient
    session_id: str
    user: str
    channel: str
    request_id: str
    # The scheduled job this run belongs to (it then uses AGENT_JOB_MODEL when set).
    job: str | None = None
    # The message's attachments, loaded and checked before the run (agent/runtime/attachments.py).
    attachments: tuple[Attachment, ...] = ()
    # Files the agent sends back during the run (tools/send_file.py); the turn keeps them.
    outgoing: list[AttachmentInfo] = field(default_factory=list)
    # The session's window, set by the native engine for its context manager (engine/context.py).
    session: SessionWindow | None = None
