"""DM policy and pairing: who may talk to the agent on each channel.

`open` lets everyone in; `allowlist` only the ids in `<CHANNEL>_ALLOWLIST`; `pairing` (the
default) also lets in senders an owner approved. An unknown sender under `pairing` gets a one-time
8-character code (1 hour) that the owner approves in the admin UI. Layout in the state store:

    channels/pairing/<channel>/<sender>.json    a pending request (code, expiry, where to answer)
    channels/approved/<channel>/<sender>.json   an approval (created once, never overwritten)
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
from datetime import datetime, timedelta

from pydantic import BaseModel

from agent.runtime.channels.config import CHANNELS, ChannelConfig
from agent.runtime.errors import PreconditionFailed
from agent.runtime.sessions import now
from agent.runtime.store.base import StateStore

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are read aloud and typed
CODE_LENGTH = 8
CODE_TTL = timedelta(hours=1)
MAX_PENDING = 20  # per channel: a flood of strangers cannot grow the list without bound
SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class PairingRequest(BaseModel):
    """An unknown sender waiting for an owner's approval."""

    channel: str
    sender: str
    sender_name: str
    conversation: str
    code: str
    created_at: datetime
    expires_at: datetime


class Approval(BaseModel):
    """A sender an owner let in."""

    channel: str
    sender: str
    sender_name: str
    conversation: str
    code: str
    approved_by: str
    approved_at: datetime


def _pending_key(channel: str, sender: str) -> str:
    return f"channels/pairing/{channel}/{sender}.json"


def _approved_key(channel: str, sender: str) -> str:
    return f"channels/approved/{channel}/{sender}.json"


def new_code() -> str:
    """A random pairing code."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


class PairingBook:
    """Allow checks, pairing requests and approvals over the state store."""

    def __init__(self, store: StateStore) -> None:
        self._store = store
        self._lock = asyncio.Lock()  # one request at a time keeps MAX_PENDING exact per process

    async def is_allowed(self, config: ChannelConfig, sender: str) -> bool:
        """Whether this sender may talk to the agent on this channel."""
        if config.policy == "open" or sender in config.allowlist:
            return True
        if config.policy == "allowlist" or not SAFE_ID.match(sender):
            return False
        return await self._store.get(_approved_key(config.channel, sender)) is not None

    async def request(
        self, config: ChannelConfig, sender: str, sender_name: str, conversation: str
    ) -> PairingRequest | None:
        """The sender's live pairing request, created if needed; None when the list is full."""
        if not SAFE_ID.match(sender):
            return None
        key = _pending_key(config.channel, sender)
        async with self._lock:
            existing = await self._store.get(key)
            if existing is not None:
                current = PairingRequest.model_validate_json(existing.body)
                if current.expires_at > now():
                    return current
            elif len(await self.pending(config.channel)) >= MAX_PENDING:
                return None
            created = now()
            request = PairingRequest(
                channel=config.channel,
                sender=sender,
                sender_name=sender_name[:80],
                conversation=conversation,
                code=new_code(),
                created_at=created,
                expires_at=created + CODE_TTL,
            )
            body = request.model_dump_json().encode()
            try:
                if existing is None:
                    await self._store.put(key, body, if_none_match=True)
                else:
                    await self._store.put(key, body, if_match=existing.etag)
            except PreconditionFailed:  # another runtime answered the same sender first
                again = await self._store.get(key)
                return PairingRequest.model_validate_json(again.body) if again else None
            return request

    async def pending(self, channel: str | None = None) -> list[PairingRequest]:
        """Unexpired requests, oldest first."""
        channels = [channel] if channel else list(CHANNELS)
        found: list[PairingRequest] = []
        moment = now()
        for name in channels:
            for info in await self._store.list(f"channels/pairing/{name}/"):
                obj = await self._store.get(info.key)
                if obj is None:
                    continue
                request = PairingRequest.model_validate_json(obj.body)
                if request.expires_at > moment:
                    found.append(request)
        return sorted(found, key=lambda r: r.created_at)

    async def approve(self, channel: str, code: str, approver: str) -> Approval | None:
        """Approve the live request with this code; None if there is none (or it expired)."""
        wanted = code.strip().upper()
        for request in await self.pending(channel):
            if secrets.compare_digest(request.code, wanted):
                approval = Approval(
                    channel=channel,
                    sender=request.sender,
                    sender_name=request.sender_name,
                    conversation=request.conversation,
                    code=request.code,
                    approved_by=approver,
                    approved_at=now(),
                )
                with contextlib.suppress(PreconditionFailed):  # approved twice: the first stands
                    await self._store.put(
                        _approved_key(channel, request.sender),
                        approval.model_dump_json().encode(),
                        if_none_match=True,
                    )
                await self._store.delete(_pending_key(channel, request.sender))
                return approval
        return None
