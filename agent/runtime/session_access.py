"""Who may see and write which session, and the audit trail of admins reading others' sessions.

A session is private to the identity that created it (its owner record, agent.runtime.
session_index). Another identity is answered 404, like a missing session, so existence is not
leaked. Identities in AGENT_ADMIN_EMAILS may list and read every session; each read of someone
else's session is one structured line on the `agent.runtime.audit` logger and one object under
`audit/` in the store. Admins do not write to other identities' sessions (403).
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime

from agent.runtime.errors import RequestError, StoreError
from agent.runtime.session_index import (
    WEB_CHANNELS,
    SessionIndex,
    SessionMeta,
    canonical_identity,
    not_found,
    same_identity,
)
from agent.runtime.store.base import StateStore

audit_log = logging.getLogger("agent.runtime.audit")


class SessionAccess:
    """Who may see and write which session: its owner; admins may read (and list) all."""

    def __init__(self, index: SessionIndex, store: StateStore, admins: frozenset[str]) -> None:
        self.index = index
        self._store = store
        self._admins = frozenset(canonical_identity(a) for a in admins)

    def is_admin(self, identity: str) -> bool:
        """Whether `identity` is one of the configured admin emails."""
        return canonical_identity(identity) in self._admins

    async def readable(self, session_id: str, identity: str) -> SessionMeta:
        """The session's entry if `identity` may read it, else the 404 of a missing session."""
        meta = await self.index.meta(session_id)
        if meta is None:
            raise not_found(session_id)
        if same_identity(meta.created_by, identity):
            return meta
        if not self.is_admin(identity):
            raise not_found(session_id)
        await self.audit("read_session", identity, session_id, owner=meta.created_by)
        return meta

    async def check_turn(
        self, session_id: str, identity: str, channel: str, *, has_history: bool
    ) -> None:
        """Refuse a web identity's turn in a session it does not own (404; 403 for an admin).

        Called with the session held (SessionStore.open), so a session whose first turn is in
        flight is already registered or will be refused at `register`. A session with turns but
        no entry is nobody's: refused (fail closed).
        """
        if channel not in WEB_CHANNELS:
            return
        meta = await self.index.meta(session_id)
        if meta is None and not has_history:
            return
        if meta is not None and same_identity(meta.created_by, identity):
            return
        if meta is not None and self.is_admin(identity):
            raise RequestError(
                403,
                f"session {session_id!r} belongs to another identity",
                "admins may read other identities' sessions but not write to them",
            )
        raise not_found(session_id)

    async def audit(self, action: str, identity: str, session_id: str | None, **extra: str) -> None:
        """One structured audit line, and an audit object in the store."""
        at = datetime.now(UTC)
        record = {"audit": action, "admin": identity, "session_id": session_id, **extra}
        audit_log.info(json.dumps(record, sort_keys=True), extra={"audit": record})
        body = json.dumps({**record, "at": at.isoformat()}).encode()
        key = f"audit/{at:%Y-%m-%d}/{at:%H%M%S%f}-{uuid.uuid4().hex[:12]}.json"
        try:
            await self._store.put(key, body, if_none_match=True)
        except StoreError as error:  # the log line stands; say the object is missing
            audit_log.warning("audit object %s not stored: %s", key, error)
