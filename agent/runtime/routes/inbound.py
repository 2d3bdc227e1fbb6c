"""Entry points for channel webhooks and cron ticks: validated and recorded durably.

Each event is stored under `inbox/` with a conditional create keyed by its request id, so a
redelivered event is recognised instead of recorded twice. The handlers that act on these
records (channels, scheduled jobs) build on this: webhooks go on to `runtime.channels`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from agent.runtime.errors import DeliveryError, PreconditionFailed, RequestError, StoreError
from agent.runtime.http import MAX_BODY_BYTES, parse_body, parse_json_object, request_id
from agent.runtime.payloads import CronTick, WebhookEnvelope
from agent.runtime.sessions import now

if TYPE_CHECKING:
    from agent.runtime.channels import ChannelHub
    from agent.runtime.runtime_state import Runtime

log = logging.getLogger("agent.runtime.inbound")
CHANNEL = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
REQUEST_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
CRON_EXAMPLE = '{"cron": "*/5 * * * *", "scheduled_time": "2026-11-26T21:00:00Z"}'


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    if runtime.draining or not runtime.ready:
        raise RequestError(503, "not ready", "the edge retries webhooks and cron ticks")
    return runtime


async def _record(runtime: Runtime, key: str, body: bytes) -> bool:
    try:
        await runtime.store.put(key, body, if_none_match=True)
    except PreconditionFailed:
        return False
    return True


async def webhook(request: Request) -> JSONResponse:
    """Record a webhook the edge has already verified."""
    channel = request.path_params["channel"]
    if not CHANNEL.match(channel):
        raise RequestError(404, f"unknown channel {channel!r}", "e.g. /webhooks/telegram")
    if request.headers.get("x-agent-channel") != channel:
        raise RequestError(
            400,
            "X-Agent-Channel does not match the path",
            f"the edge sets X-Agent-Channel: {channel}",
        )
    rid = request_id(request)
    if not REQUEST_ID.match(rid):
        raise RequestError(422, "invalid X-Request-Id", "use letters, digits and -_.: only")
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise RequestError(413, "request body larger than 1 MiB", "platform events are smaller")
    envelope = WebhookEnvelope(
        channel=channel, request_id=rid, received_at=now(), payload=parse_json_object(raw)
    )
    runtime = _runtime(request)
    if runtime.channels is not None:
        # Files first: acknowledged implies stored (agent/runtime/channels/files.py).
        envelope = await _with_files(runtime.channels, envelope)
    key = f"inbox/{channel}/{rid}.json"
    created = await _record(runtime, key, envelope.model_dump_json().encode())
    # Recorded first, then handed to the channel processor (idempotent, resumed after a restart);
    # some platforms need a body in this very response (Slack's challenge, Discord's deferral).
    immediate = runtime.channels.accept(key, envelope) if runtime.channels else None
    if immediate is not None:
        return JSONResponse(immediate)
    return JSONResponse({"recorded": key, "duplicate": not created}, status_code=202)


async def _with_files(channels: ChannelHub, envelope: WebhookEnvelope) -> WebhookEnvelope:
    try:
        return await channels.fetch_files(envelope)
    except DeliveryError as error:
        # Answered 5xx: the edge lets the delivery back in and the platform sends it again.
        log.warning("%s webhook: attachment not fetched: %s", envelope.channel, error)
        raise RequestError(
            502,
            f"{envelope.channel}: an attachment could not be fetched ({error})",
            "not acknowledged: the platform redelivers the message and the file is fetched again",
        ) from None


async def cron_tick(request: Request) -> JSONResponse:
    """Record a scheduled tick from the Worker's cron trigger."""
    tick = await parse_body(request, CronTick, CRON_EXAMPLE)
    runtime = _runtime(request)
    stamp = tick.scheduled_time.strftime("%Y%m%dT%H%M%SZ")
    key = f"inbox/cron/{stamp}.json"
    created = await _record(runtime, key, tick.model_dump_json().encode())
    # Then run the jobs due now: each firing is claimed in the store, so a redelivered tick or a
    # second runtime never runs one twice; with nothing due no model is called.
    report = await runtime.tools.scheduler.run_due(runtime.service, runtime.outbox)
    await _expire_finished(runtime)
    return JSONResponse(
        {"recorded": key, "duplicate": not created, "jobs": asdict(report)}, status_code=202
    )


async def _expire_finished(runtime: Runtime) -> None:
    """The retention sweep (at most hourly, bounded); a store hiccup waits for a later tick."""
    hub = runtime.channels
    for retention in (hub.retention, hub.attachment_retention) if hub else ():
        if retention is None:
            continue
        try:
            await retention.sweep_due()
        except StoreError as error:
            log.warning("retention sweep: state store: %s; next tick retries", error)


routes = [
    Route("/webhooks/{channel}", webhook, methods=["POST"]),
    Route("/internal/cron", cron_tick, methods=["POST"]),
]
