"""The chat service: one turn = open the session window, run the engine, store durably, then ack.

Every entry point (HTTP, WebSocket, and later channels and scheduled jobs) goes through `turn`, so
the durability rule lives in exactly one place: nothing is returned to the caller, and no event
callback is told the turn is done, before `SessionStore.append` has returned. A caller may stop a
turn while it is being generated (`stop`): nothing of it is stored, and `TurnStopped` is raised.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from agent.runtime.attachments import Attachment, AttachmentInfo, load_all
from agent.runtime.attribution import CallScope, attributed
from agent.runtime.budget import SpendLimits
from agent.runtime.engine import AgentDeps, Engine, StreamEvent, TurnOutcome
from agent.runtime.engine.model_errors import model_failure
from agent.runtime.errors import EngineError, RequestError
from agent.runtime.session_access import SessionAccess
from agent.runtime.sessions import SessionStore, SessionWindow, Turn, now
from agent.runtime.settings import RuntimeSettings
from agent.runtime.store.base import StateStore
from agent.runtime.transcription import Transcriber

# Called with each text delta, tool call and tool result while the turn is generated.
OnEvent = Callable[[StreamEvent], Awaitable[None]]


class TurnStopped(Exception):
    """The caller stopped the turn before its reply was complete: nothing was stored."""


@dataclass(frozen=True, slots=True)
class TurnRequest:
    """Who says what, where."""

    session_id: str
    prompt: str
    user: str
    channel: str
    request_id: str
    turn_id: str | None = None
    # The scheduled job whose firing this turn is (attribution, AGENT_JOB_MODEL).
    job: str | None = None
    # Attachment ids from POST /api/attachments (agent/runtime/attachments.py).
    attachments: tuple[str, ...] = ()


class ChatService:
    """Runs turns against the engine and the session store."""

    def __init__(
        self,
        settings: RuntimeSettings,
        store: StateStore,
        sessions: SessionStore,
        engine: Engine,
        http: httpx.AsyncClient,
        *,
        clock: Callable[[], datetime] = now,
    ) -> None:
        self.settings = settings
        self.store = store
        self.sessions = sessions
        self.access = SessionAccess(sessions.index, store, settings.admin_emails)
        self.engine = engine
        self.http = http
        self.limits = SpendLimits.from_settings(settings)
        self.transcriber = Transcriber(settings, store, http)
        self._clock = clock  # when a reached budget resets is computed from it

    async def turn(
        self,
        request: TurnRequest,
        on_event: OnEvent | None = None,
        *,
        stop: asyncio.Event | None = None,
    ) -> Turn:
        """Run one turn and return it once it is durably stored.

        Setting `stop` while the reply is generated cancels it and raises `TurnStopped`; once the
        reply is complete the turn is stored whatever `stop` says, so it is never half-written.
        """
        async with self.sessions.open(request.session_id) as window:
            await self.access.check_turn(
                request.session_id, request.user, request.channel, has_history=window.next_seq > 1
            )
            if request.turn_id is not None:
                done = await self.sessions.find_turn(window, request.turn_id)
                if done is not None:
                    return done
            files = await load_all(
                self.store,
                request.user,
                request.attachments,
                self.settings.agent_attachment_max_per_message,
            )
            if any(file.info.is_audio for file in files):
                files = await self.transcriber.transcribe_all(
                    request.user, files, self._scope(request)
                )
            sent: list[AttachmentInfo] = []
            outcome = await self._generate(request, window, on_event, stop, tuple(files), sent)
            draft = Turn(
                seq=1,  # the real number is claimed by the conditional create
                turn_id=request.turn_id or uuid.uuid4().hex,
                user=request.user,
                channel=request.channel,
                created_at=now(),
                prompt=request.prompt,
                reply=outcome.reply,
                model=outcome.model or self.engine.model_label,
                messages=outcome.messages,
                attachments=[file.info for file in files],
                files=sent,
            )
            return await self.sessions.append(request.session_id, draft)

    async def _generate(
        self,
        request: TurnRequest,
        window: SessionWindow,
        on_event: OnEvent | None,
        stop: asyncio.Event | None,
        files: tuple[Attachment, ...] = (),
        sent: list[AttachmentInfo] | None = None,
    ) -> TurnOutcome:
        deps = AgentDeps(
            settings=self.settings,
            store=self.store,
            http=self.http,
            session_id=request.session_id,
            user=request.user,
            channel=request.channel,
            request_id=request.request_id,
            job=request.job,
            attachments=files,
            outgoing=sent if sent is not None else [],
        )
        scope = self._scope(request)
        try:
            # The task _unless_stopped starts copies this context, so the scope reaches it.
            with attributed(scope):
                async with asyncio.timeout(self.settings.agent_turn_timeout_s):
                    return await _unless_stopped(
                        self._run(window, request.prompt, deps, on_event), stop
                    )
        except TimeoutError:
            raise RequestError(
                504,
                f"the model did not finish within {self.settings.agent_turn_timeout_s:g} s",
                "retry, or raise AGENT_TURN_TIMEOUT_S",
            ) from None
        except (RequestError, EngineError, TurnStopped):
            raise
        except Exception as error:  # model/provider failures: report as a failed run
            if scope.spend_limit is not None:  # a budget, not a failure (agent/runtime/budget.py)
                raise self.limits.exhausted(scope.spend_limit, self._clock()) from None
            raise model_failure(error, self.settings) from error

    def _scope(self, request: TurnRequest) -> CallScope:
        """Who this turn's AI Gateway calls are for (cf-aig-metadata)."""
        return CallScope(
            tenant=self.settings.agent_tenant,
            user=request.user,
            session=request.session_id,
            channel=f"job:{request.job}" if request.job else request.channel,
            engine=self.settings.agent_engine,
        )

    async def _run(
        self, window: SessionWindow, prompt: str, deps: AgentDeps, on_event: OnEvent | None
    ) -> TurnOutcome:
        async for event in self.engine.turn(window, prompt, deps):
            if isinstance(event, TurnOutcome):
                return event
            if on_event is not None:
                await on_event(event)
        raise EngineError("the engine finished without a reply")


async def _unless_stopped(
    work: Coroutine[Any, Any, TurnOutcome], stop: asyncio.Event | None
) -> TurnOutcome:
    """Await `work`, cancelling it (and raising TurnStopped) if `stop` is set first."""
    if stop is None:
        return await work
    task = asyncio.create_task(work)
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not task.done():
            task.cancel()
            await asyncio.wait({task})  # the engine's own clean-up runs before we go on
    if task.cancelled():
        raise TurnStopped
    return task.result()
