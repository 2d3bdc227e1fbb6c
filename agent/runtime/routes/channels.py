"""Channel status and pairing approvals under /api (the admin UI's channel page)."""

from __future__ import annotations

import contextlib
import re
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from agent.runtime.channels.config import CHANNELS
from agent.runtime.channels.pairing import CODE_LENGTH
from agent.runtime.errors import RequestError
from agent.runtime.http import identity
from agent.runtime.outbox import OutboxError
from agent.runtime.runtime_state import runtime_of

if TYPE_CHECKING:
    from agent.runtime.channels import ChannelHub

CODE = re.compile(rf"^[A-Za-z0-9]{{{CODE_LENGTH}}}$")
APPROVED_NOTICE = "You're approved: write again and the agent will answer."


def _hub(request: Request) -> ChannelHub:
    hub = runtime_of(request).channels
    if hub is None:
        raise RequestError(503, "channels are not running", "retry shortly")
    return hub


async def list_channels(request: Request) -> JSONResponse:
    """Every channel: enabled, status (why not, when not), DM policy."""
    identity(request)
    return JSONResponse({"channels": _hub(request).statuses()})


async def list_pairings(request: Request) -> JSONResponse:
    """Pairing requests waiting for an owner, oldest first."""
    identity(request)
    pending = await _hub(request).pairing.pending()
    return JSONResponse(
        {
            "pairings": [
                {
                    "channel": p.channel,
                    "sender": p.sender,
                    "sender_name": p.sender_name,
                    "code": p.code,
                    "expires_at": p.expires_at.isoformat(),
                }
                for p in pending
            ]
        }
    )


async def approve_pairing(request: Request) -> JSONResponse:
    """Let the sender behind a pairing code talk to the agent."""
    user = identity(request)
    if user.startswith("channel:"):
        # Defence in depth: the edge never sends a chat identity to /api, but if it did, a chat
        # user must not approve themselves.
        raise RequestError(403, "chat identities cannot approve pairings", "sign in as the owner")
    channel, code = request.path_params["channel"], request.path_params["code"]
    if channel not in CHANNELS:
        raise RequestError(404, f"unknown channel {channel!r}", f"one of {', '.join(CHANNELS)}")
    if not CODE.match(code):
        raise RequestError(
            422, "invalid pairing code", f"{CODE_LENGTH} letters and digits, e.g. K7QM2XHP"
        )
    hub = _hub(request)
    approval = await hub.pairing.approve(channel, code, user)
    if approval is None:
        raise RequestError(
            404,
            f"no pending {channel} pairing with code {code.upper()}",
            "codes expire after 1 hour; list live ones at GET /api/pairings",
        )
    # Tell the sender; Discord's reply address (the interaction) has expired by now, so not there.
    # If the channel was disabled since, the approval stands; there is just nobody to tell.
    if channel != "discord":
        with contextlib.suppress(OutboxError):
            await hub.outbox.send(
                channel,
                approval.conversation,
                APPROVED_NOTICE,
                idempotency_key=f"{channel}:approved:{approval.sender}:{approval.code}",
            )
    # The conversation is a reply address (for Discord, a live interaction token): not shown.
    return JSONResponse({"approved": approval.model_dump(mode="json", exclude={"conversation"})})


routes = [
    Route("/api/channels", list_channels, methods=["GET"]),
    Route("/api/pairings", list_pairings, methods=["GET"]),
    Route("/api/pairings/{channel}/{code}/approve", approve_pairing, methods=["POST"]),
]
