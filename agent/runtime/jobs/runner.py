"""Running due jobs on a cron tick: claimed once, run through ChatService, delivered once.

For each due firing (a job's `next_run` at or before now):

1. claim it by creating `job-runs/<job>/<fire>.json` with If-None-Match. Only the creator runs it,
   so two runtimes or a redelivered tick never run one firing twice. A claim carries a lease
   (the job's timeout plus a margin); a runtime that died mid-run leaves a claim another one may
   take over after the lease, with If-Match.
2. run the prompt as a turn through `ChatService.turn` with a fixed `turn_id` per firing, under the
   job's own timeout. A taken-over firing whose turn was already stored gets that turn back
   instead of a new model call.
3. deliver the reply through the outbox with an idempotency key per firing (never twice).
4. mark the claim finished, then advance the job (If-Match): next cron firing, or done.

A crash between any two steps repeats only what is idempotent. With nothing due, a tick costs one
state-store listing and no model tokens.

A firing that meets a reached spend limit (agent/runtime/budget.py) is skipped, not failed: its
claim records why, nothing is delivered, and the job's next firing moves to when the budget comes
back (a one-off job then runs at that moment; a cron job at its first firing from then on), so no
tick spends calls against the same wall.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from agent.runtime.budget import BudgetExhausted
from agent.runtime.errors import PreconditionFailed, RuntimeHostError, StoreError
from agent.runtime.jobs.book import JobBook
from agent.runtime.jobs.model import Job, JobRun, fire_stamp, following_fire, next_cron_fire
from agent.runtime.jobs.origin import reply_origin
from agent.runtime.outbox import OutboxFile, outbox_files
from agent.runtime.service import TurnRequest
from agent.runtime.sessions import now
from agent.runtime.store.base import StateStore

if TYPE_CHECKING:
    from agent.runtime.service import ChatService

log = logging.getLogger("agent.runtime.jobs")

# Turns from these channels are read in the session itself: the outbox's "web" sends nothing.
IN_SESSION_CHANNELS = frozenset({"web", "api", "ws"})
LEASE_MARGIN = timedelta(seconds=60)
MAX_RESULT_CHARS = 500


class Delivery(Protocol):
    """The outbox seam (`agent.runtime.outbox.Outbox`)."""

    async def send(
        self,
        channel: str,
        conversation: str,
        text: str,
        *,
        idempotency_key: str,
        files: Sequence[OutboxFile] = (),
    ) -> None:
        """Store the message durably and deliver it (once per idempotency key), files after."""
        ...


@dataclass
class TickReport:
    """What one tick did."""

    due: int = 0
    ran: int = 0
    failed: int = 0
    skipped: int = 0


def run_key(job_id: str, fire_at: datetime) -> str:
    """Where the claim on one firing lives."""
    return f"job-runs/{job_id}/{fire_stamp(fire_at)}.json"


def is_due(job: Job, moment: datetime) -> bool:
    """Active and its next firing is not in the future."""
    return job.status == "active" and job.next_run is not None and job.next_run <= moment


class Scheduler:
    """Runs the due firings of the jobs in `book`."""

    def __init__(
        self,
        book: JobBook,
        store: StateStore,
        *,
        concurrency: int = 4,
        clock: Callable[[], datetime] = now,
    ) -> None:
        self.book = book
        self._store = store
        self._gate = asyncio.Semaphore(concurrency)
        self._clock = clock

    async def run_due(self, service: ChatService, outbox: Delivery | None) -> TickReport:
        """Run every firing due now; return counts."""
        moment = self._clock()
        due = [job for job, _ in await self.book.list_with_etags() if is_due(job, moment)]
        report = TickReport(due=len(due))
        if not due:
            return report

        async def guarded(job: Job) -> str:
            async with self._gate:
                try:
                    return await self._fire(job, moment, service, outbox)
                except StoreError as error:
                    log.warning("job %s: state store failed: %s", job.id, error)
                    return "failed"

        for outcome in await asyncio.gather(*(guarded(job) for job in due)):
            if outcome == "ran":
                report.ran += 1
            elif outcome == "failed":
                report.failed += 1
            else:
                report.skipped += 1
        log.info("cron tick: %s", report)
        return report

    async def _fire(
        self, job: Job, moment: datetime, service: ChatService, outbox: Delivery | None
    ) -> str:
        assert job.next_run is not None
        fire_at = job.next_run
        key = run_key(job.id, fire_at)
        claim = await self._claim(key, job, moment)
        if claim is None:
            return "skipped"
        run, etag, ours = claim
        if not ours:  # finished earlier, but the job was not advanced (crash in between)
            await self._advance(job.id, fire_at, run.result or run.state)
            return "skipped"
        current = await self.book.get(job.id)
        if current is None or current[0].status != "active":
            await self._finish(key, run, etag, "cancelled", "cancelled before it ran")
            return "skipped"
        try:
            ok, result, files = await self._execute(job, fire_at, service)
        except BudgetExhausted as budget:
            reason = f"skipped: {budget.error}"
            log.info("job %s: %s", job.id, reason)
            await self._finish(key, run, etag, "skipped", reason)
            await self._postpone(job.id, fire_at, budget.resets_at, reason)
            return "skipped"
        delivered = await self._deliver(job, fire_at, result, ok, outbox, files)
        summary = result if ok else f"failed: {result}"
        if delivered is not None:
            summary = f"{summary} ({delivered})"
        await self._finish(key, run, etag, "done" if ok else "failed", summary)
        await self._advance(job.id, fire_at, summary)
        return "ran" if ok else "failed"

    async def _claim(self, key: str, job: Job, moment: datetime) -> tuple[JobRun, str, bool] | None:
        assert job.next_run is not None
        run = JobRun(
            job_id=job.id,
            fire_at=job.next_run,
            state="running",
            claimed_at=moment,
            lease_until=moment + timedelta(seconds=job.timeout_s) + LEASE_MARGIN,
        )
        try:
            return run, await self._store.put(key, _dump(run), if_none_match=True), True
        except PreconditionFailed:
            pass
        existing_obj = await self._store.get(key)
        if existing_obj is None:
            return None
        existing = JobRun.model_validate_json(existing_obj.body)
        if existing.state != "running":
            return existing, existing_obj.etag, False
        if existing.lease_until > moment:
            return None  # another runtime is on it
        takeover = run.model_copy(update={"attempt": existing.attempt + 1})
        try:
            etag = await self._store.put(key, _dump(takeover), if_match=existing_obj.etag)
        except PreconditionFailed:
            return None
        log.warning("job %s: took over firing %s after its lease expired", job.id, key)
        return takeover, etag, True

    async def _execute(
        self, job: Job, fire_at: datetime, service: ChatService
    ) -> tuple[bool, str, list[OutboxFile]]:
        firing = f"job-{job.id}-{fire_stamp(fire_at)}"
        request = TurnRequest(
            session_id=job.session_id,
            prompt=f"[scheduled job {job.id}] {job.prompt}",
            user=job.user,
            channel=job.channel,
            request_id=firing,
            turn_id=firing,
            job=job.id,
        )
        try:
            async with asyncio.timeout(job.timeout_s):
                with reply_origin(job.channel, job.conversation):
                    turn = await service.turn(request)
        except TimeoutError:
            return False, f"timed out after {job.timeout_s:g} s", []
        except BudgetExhausted:
            raise
        except RuntimeHostError as error:
            return False, f"{type(error).__name__}: {error}", []
        return True, turn.reply, outbox_files(turn)  # files the agent sent (tools/send_file.py)

    async def _deliver(
        self,
        job: Job,
        fire_at: datetime,
        result: str,
        ok: bool,
        outbox: Delivery | None,
        files: Sequence[OutboxFile] = (),
    ) -> str | None:
        channel = "web" if job.channel in IN_SESSION_CHANNELS else job.channel
        text = result if ok else f"Scheduled job {job.id} ({job.prompt[:60]!r}) {result}."
        if channel == "web" and ok:
            return None  # the reply is already in the session
        if outbox is None:
            log.warning("job %s: no outbox to deliver to %s", job.id, channel)
            return "not delivered: no outbox"
        try:
            await outbox.send(
                channel,
                job.conversation,
                text,
                idempotency_key=f"job:{job.id}:{fire_stamp(fire_at)}",
                files=files,
            )
        except StoreError:
            raise
        except RuntimeHostError as error:  # e.g. the channel was disabled since
            log.warning("job %s: not delivered: %s", job.id, error)
            return f"not delivered: {error}"
        return None

    async def _finish(self, key: str, run: JobRun, etag: str, state: str, result: str) -> None:
        done = run.model_copy(update={"state": state, "result": result[:MAX_RESULT_CHARS]})
        try:
            await self._store.put(key, _dump(done), if_match=etag)
        except PreconditionFailed:
            log.warning("job run %s was taken over while running; keeping the newer claim", key)

    async def _postpone(
        self, job_id: str, fire_at: datetime, resets_at: datetime, reason: str
    ) -> None:
        def postpone(job: Job) -> Job | None:
            if job.next_run != fire_at:
                return None  # already moved, or cancelled meanwhile
            later = resets_at
            if job.kind == "cron" and job.cron is not None:
                # The first firing at or after the reset (cron firings are whole minutes).
                later = next_cron_fire(job.cron, job.timezone, resets_at - timedelta(seconds=1))
            return job.model_copy(
                update={"next_run": later, "last_result": reason[:MAX_RESULT_CHARS]}
            )

        await self.book.update(job_id, postpone)

    async def _advance(self, job_id: str, fire_at: datetime, result: str) -> None:
        finished = self._clock()

        def advance(job: Job) -> Job | None:
            if job.next_run != fire_at:
                return None  # already advanced, or cancelled meanwhile
            following = following_fire(job, fire_at, finished)
            return job.model_copy(
                update={
                    "next_run": following,
                    "status": job.status if following is not None else "done",
                    "runs": job.runs + 1,
                    "last_run": fire_at,
                    "last_result": result[:MAX_RESULT_CHARS],
                }
            )

        await self.book.update(job_id, advance)


def _dump(run: JobRun) -> bytes:
    return run.model_dump_json().encode()
