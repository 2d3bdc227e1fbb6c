"""Inbox processing: recorded webhook events become turns, and replies go to the outbox.

`routes/inbound.py` records each verified webhook under `inbox/<channel>/` before anything acts
on it (after `ChannelHub.fetch_files` has stored the files the message carries); then
`ChannelHub.accept` answers what the platform needs in the HTTP response and processes the record
in the background. Processing is idempotent and resumable:

1. dedupe by the platform's own id: `channels/events/<channel>/<id>.json` is created with
   If-None-Match, naming the inbox record that owns the event; a redelivery (Telegram retries,
   Slack's `X-Slack-Retry-Num`) finds it and is dropped;
2. DM policy: unknown senders get a pairing code, or nothing;
3. the turn runs through `ChatService.turn` with `turn_id = <channel>-<platform id>` and the
   record's attachment ids, so a re-run after a crash returns the stored turn instead of a second
   one; a message with refused files is answered with the reasons instead;
4. the reply goes to the outbox keyed by the same id (stored once, delivered with retries);
5. the marker is indexed for expiry (`done/<day>/channels/events/...`, agent.runtime.retention),
   and only then is the inbox record deleted. Whatever is still under `inbox/<channel>/` at
   startup is unfinished and processed again; a marker whose inbox record still exists is
   never expired.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections.abc import Coroutine, Mapping
from typing import Any

import stamina

from agent.runtime.budget import BudgetExhausted
from agent.runtime.channels.base import ChannelAdapter, Ignored, InboundMessage, Parsed
from agent.runtime.channels.config import ChannelConfig
from agent.runtime.channels.files import FileSource, store_files
from agent.runtime.channels.pairing import CODE_TTL, PairingBook, PairingRequest
from agent.runtime.errors import (
    EngineError,
    PreconditionFailed,
    RequestError,
    RuntimeHostError,
    StoreError,
)
from agent.runtime.jobs.origin import reply_origin
from agent.runtime.keyed_tasks import KeyedTasks
from agent.runtime.outbox import OUTBOX_MESSAGES, Outbox, OutboxFile, outbox_files
from agent.runtime.payloads import WebhookEnvelope
from agent.runtime.retention import Retention, mark_done
from agent.runtime.service import ChatService, TurnRequest
from agent.runtime.sessions import SESSION_ID, now
from agent.runtime.store.base import StateStore

log = logging.getLogger("agent.runtime.channels")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
EVENTS_PREFIX = "channels/events/"
_STORE_RETRIES = 5  # in-process tries when the state store fails; then the next start resumes
TURN_CONCURRENCY = 8  # channel turns at once: a burst over many chats queues instead of piling up


def session_for(channel: str, thread: str) -> str:
    """The session of a chat: readable when the platform id allows, hashed otherwise."""
    candidate = f"{channel}-{_UNSAFE.sub('_', thread)}"
    if SESSION_ID.fullmatch(candidate):
        return candidate
    return f"{channel}-{hashlib.sha256(thread.encode()).hexdigest()[:32]}"


def event_marker(channel: str, event_id: str) -> str:
    """The dedupe marker of one platform event."""
    digest = hashlib.sha256(event_id.encode()).hexdigest()[:40]
    return f"{EVENTS_PREFIX}{channel}/{digest}.json"


def pairing_text(request: PairingRequest) -> str:
    """What an unknown sender is told."""
    minutes = int(CODE_TTL.total_seconds() // 60)
    return (
        f"Hi {request.sender_name or 'there'}! This agent only answers people its owner has "
        f"approved. Your pairing code is {request.code} (valid {minutes} minutes): ask the "
        "owner to approve it in the admin UI under Channels, then write again."
    )


def refusal_text(reasons: list[str]) -> str:
    """What a sender is told when files of their message were not taken."""
    return (
        "I could not take your message: "
        + "; ".join(reasons)
        + ". Nothing was passed to the agent: send a smaller file, an image, a PDF, a text file "
        "or a voice note, or the text alone."
    )


def _parse(adapter: ChannelAdapter, payload: dict[str, Any]) -> Parsed:
    # Signed by the platform yet malformed (or a schema newer than the library): ignore it
    # rather than fail the webhook, which the platform would only retry.
    try:
        return adapter.parse(payload)
    except Exception as error:
        return Ignored(f"unparseable {adapter.name} event ({type(error).__name__})")


class ChannelHub:
    """The enabled channels, their status, and the processing of their inbox records."""

    def __init__(
        self,
        store: StateStore,
        service: ChatService,
        outbox: Outbox,
        configs: Mapping[str, ChannelConfig],
        adapters: Mapping[str, ChannelAdapter],
        retention: Retention | None = None,
    ) -> None:
        self.store = store
        self.service = service
        self.outbox = outbox
        self.configs = dict(configs)
        self.adapters = dict(adapters)
        self.pairing = PairingBook(store)
        self._tasks = KeyedTasks()
        self._chains: dict[str, asyncio.Task[None]] = {}  # last task per session: keeps order
        self._turns = asyncio.Semaphore(TURN_CONCURRENCY)
        # Finished dedupe markers and outbox messages expire; pending ones never do.
        self.retention = retention
        # Attachments expire on their own schedule (agent/runtime/attachment_retention.py).
        self.attachment_retention: Retention | None = None
        if retention is not None:
            retention.guard(EVENTS_PREFIX, self.event_finished)
            retention.guard(OUTBOX_MESSAGES, outbox.is_finished)

    def statuses(self) -> list[dict[str, Any]]:
        """Every channel: enabled, a readable status, its DM policy, the last delivery error."""
        rows = []
        for name, config in self.configs.items():
            error = self.outbox.last_error.get(name) if config.enabled else None
            rows.append(
                {
                    "channel": name,
                    "enabled": config.enabled,
                    "status": f"delivery failing: {error}" if error else config.status,
                    "policy": config.policy,
                    "allowlist_size": len(config.allowlist),
                }
            )
        return rows

    async def fetch_files(self, envelope: WebhookEnvelope) -> WebhookEnvelope:
        """The envelope with the message's files stored (before it is recorded and acknowledged).

        DeliveryError (a platform hiccup) and StoreError propagate: the webhook is then not
        acknowledged and the platform redelivers it. An event the inbox already claimed (a
        redelivery) fetches nothing: its record carries the files.
        """
        adapter, config = self.adapters.get(envelope.channel), self.configs.get(envelope.channel)
        if not isinstance(adapter, FileSource) or config is None:
            return envelope
        parsed = _parse(adapter, envelope.payload)
        if not isinstance(parsed, InboundMessage) or not parsed.files:
            return envelope
        if await self.store.get(event_marker(envelope.channel, parsed.event_id)) is not None:
            return envelope
        # A stranger's files are never fetched: their message only gets a pairing code.
        if not await self.pairing.is_allowed(config, parsed.sender):
            return envelope
        settings = self.service.settings
        stored = await store_files(
            adapter,
            parsed,
            self.store,
            f"{envelope.channel}:{parsed.sender}",
            max_bytes=settings.agent_attachment_max_bytes,
            max_count=settings.agent_attachment_max_per_message,
        )
        return envelope.model_copy(
            update={"attachments": stored.attachments, "refused": stored.refused}
        )

    def accept(self, key: str, envelope: WebhookEnvelope) -> dict[str, Any] | None:
        """Schedule a recorded event; return the body the platform needs now, if any."""
        adapter = self.adapters.get(envelope.channel)
        if adapter is None:  # disabled: the record stays for when the channel is fixed
            return None
        parsed = _parse(adapter, envelope.payload)
        if isinstance(parsed, InboundMessage):
            self._spawn(key, chain=session_for(envelope.channel, parsed.thread))
        else:
            self._spawn(key)
        return adapter.immediate_response(envelope.payload)

    async def start(self) -> None:
        """Resume unfinished inbox records and outbox messages in the background."""
        if self.adapters:  # with no channel enabled nothing could be delivered: read nothing
            self._spawn_task("resume", self._resume())

    async def close(self) -> None:
        """Stop processing; unfinished records stay in the inbox for the next start."""
        await self._tasks.close()
        await self.outbox.close()
        for adapter in self.adapters.values():
            await adapter.close()

    async def idle(self) -> None:
        """Wait until no record is being processed and no message is being delivered."""
        await self._tasks.idle()
        await self.outbox.idle()

    def _spawn(self, key: str, chain: str | None = None) -> None:
        # Messages of one chat are processed in arrival order: each waits for the one before.
        previous = self._chains.get(chain) if chain else None
        task = self._spawn_task(key, self._process_logged(key, previous))
        if chain and task is not None:
            self._chains[chain] = task
            task.add_done_callback(
                lambda t: self._chains.pop(chain, None) if self._chains.get(chain) is t else None
            )

    def _spawn_task(self, name: str, work: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
        return self._tasks.spawn(name, work, name=f"inbox-{name}")

    async def _resume(self) -> None:
        # In-memory retries (nothing to persist: the next start lists the inbox again).
        async for attempt in stamina.retry_context(
            on=StoreError, attempts=None, timeout=None, wait_initial=0.5, wait_max=30.0
        ):
            with attempt:
                resumed = await self.outbox.start()
                keys = [
                    info.key
                    for channel in self.adapters
                    for info in await self.store.list(f"inbox/{channel}/")
                ]
        if keys or resumed:
            log.info("resuming %d inbox record(s) and %d outbox message(s)", len(keys), resumed)
        for key in keys:  # in arrival order per channel: turns of one chat stay in order
            # Under the record's own key, like `accept`: a webhook recorded after startup may be
            # listed here while its accepted task is still running, and two tasks on one record
            # would both claim it (the claim names the record) and answer twice.
            task = self._spawn_task(key, self._process_logged(key))
            if task is not None:
                await asyncio.wait([task])

    async def _process_logged(self, key: str, after: asyncio.Task[None] | None = None) -> None:
        if after is not None:
            await asyncio.wait([after])  # its outcome is its own business: only order matters
        try:
            async for attempt in stamina.retry_context(
                on=StoreError,
                attempts=_STORE_RETRIES,
                timeout=None,
                wait_initial=1.0,
                wait_max=30.0,
            ):
                with attempt:
                    await self.process(key)
        except StoreError as error:
            # Still in the inbox: the next start processes it again.
            log.warning("inbox %s: state store: %s; left for the next start", key, error)
        except (RuntimeHostError, ValueError) as error:
            log.warning("inbox %s: not processed: %s", key, error)

    async def process(self, key: str) -> None:
        """Process one inbox record to completion (safe to repeat)."""
        obj = await self.store.get(key)
        if obj is None:
            return  # already done
        envelope = WebhookEnvelope.model_validate_json(obj.body)
        channel = envelope.channel
        adapter, config = self.adapters.get(channel), self.configs.get(channel)
        if adapter is None or config is None:
            return
        parsed = _parse(adapter, envelope.payload)
        if isinstance(parsed, Ignored):
            log.debug("inbox %s: ignored: %s", key, parsed.reason)
            await self.store.delete(key)
            return
        if not await self._claim(channel, parsed.event_id, key):
            log.info("inbox %s: duplicate of %s event %s", key, channel, parsed.event_id)
            await self.store.delete(key)
            return
        if await self.pairing.is_allowed(config, parsed.sender):
            await self._answer(channel, parsed, envelope)
        else:
            await self._refuse(config, parsed)
        await mark_done(self.store, event_marker(channel, parsed.event_id), now())
        await self.store.delete(key)

    async def event_finished(self, marker_key: str) -> bool:
        """Retention guard: a dedupe marker is finished once the inbox record it names is gone."""
        marker = await self.store.get(marker_key)
        if marker is None:
            return True
        owner = json.loads(marker.body).get("inbox")
        return not isinstance(owner, str) or await self.store.get(owner) is None

    async def _claim(self, channel: str, event_id: str, key: str) -> bool:
        marker = event_marker(channel, event_id)
        body = json.dumps({"inbox": key, "event_id": event_id, "at": now().isoformat()})
        try:
            await self.store.put(marker, body.encode(), if_none_match=True)
        except PreconditionFailed:
            existing = await self.store.get(marker)
            # Our own claim from before a restart: carry on where it stopped.
            return existing is not None and json.loads(existing.body).get("inbox") == key
        return True

    async def _answer(
        self, channel: str, message: InboundMessage, envelope: WebhookEnvelope
    ) -> None:
        if envelope.refused:
            await self.outbox.send(
                channel,
                message.conversation,
                refusal_text(envelope.refused),
                idempotency_key=f"{channel}:{message.event_id}",
            )
            return
        files: list[OutboxFile] = []  # what the agent sent back (tools/send_file.py)
        try:
            # Jobs the agent schedules in this turn answer in this chat (agent.runtime.jobs).
            async with self._turns:
                with reply_origin(channel, message.home or message.conversation):
                    turn = await self.service.turn(
                        TurnRequest(
                            session_id=session_for(channel, message.thread),
                            prompt=message.text,
                            user=f"{channel}:{message.sender}",
                            channel=channel,
                            request_id=envelope.request_id,
                            turn_id=f"{channel}-{message.event_id}",
                            attachments=tuple(a.id for a in envelope.attachments),
                        )
                    )
            reply = turn.reply
            files = outbox_files(turn)
        except BudgetExhausted as error:
            # A reached spend limit is news, not a failure: say which budget and when it returns.
            # The message is marked done like a reply: resending would only meet the same wall.
            log.info("%s event %s: %s", channel, message.event_id, error.error)
            reply = error.error
        except (EngineError, RequestError) as error:
            # The model failed (nothing was stored): say so once, under the same key a reply
            # would have used, instead of leaving the sender (or Discord's "thinking...") waiting.
            log.warning("%s event %s: turn failed: %s", channel, message.event_id, error)
            reply = (
                "Sorry, the agent could not answer this time (its model failed or took too "
                "long). Please send your message again."
            )
        await self.outbox.send(
            channel,
            message.conversation,
            reply,
            idempotency_key=f"{channel}:{message.event_id}",
            files=files,
        )

    async def _refuse(self, config: ChannelConfig, message: InboundMessage) -> None:
        channel = config.channel
        reply: str | None = None
        # Discord shows "thinking..." until a followup arrives, so it always gets an answer.
        if config.policy == "pairing" and (message.direct or channel == "discord"):
            request = await self.pairing.request(
                config, message.sender, message.sender_name, message.conversation
            )
            if request is not None:
                reply = pairing_text(request)
        if reply is None and channel == "discord":
            reply = "This agent only answers people its owner has approved."
        log.info("%s: sender %s not allowed (policy %s)", channel, message.sender, config.policy)
        if reply is not None:
            await self.outbox.send(
                channel,
                message.conversation,
                reply,
                idempotency_key=f"{channel}:{message.event_id}:pairing",
            )
