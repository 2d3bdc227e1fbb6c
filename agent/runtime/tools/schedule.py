"""Scheduling tools: the agent creates, lists and cancels jobs (one-off or cron, with a zone)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field
from pydantic_ai import FunctionToolset, ModelRetry, RunContext

from agent.runtime.engine.deps import AgentDeps
from agent.runtime.jobs.book import JobBook, TooManyJobs
from agent.runtime.jobs.model import (
    MAX_PROMPT_CHARS,
    Job,
    ScheduleError,
    check_cron,
    new_job_id,
    next_cron_fire,
    parse_at,
    zone,
)
from agent.runtime.jobs.origin import current_origin
from agent.runtime.sessions import now
from agent.runtime.tools.limits import TOOL_RETRIES

Prompt = Annotated[str, Field(min_length=1, max_length=MAX_PROMPT_CHARS)]
Timeout = Annotated[float, Field(gt=0, le=3600)]


def new_job(
    deps: AgentDeps,
    prompt: str,
    *,
    cron: str | None,
    at: str | None,
    timezone: str | None,
    timeout_s: float | None,
    moment: datetime | None = None,
) -> Job:
    """A validated job created from the turn described by `deps`; ScheduleError if invalid."""
    moment = moment or now()
    tz = timezone or deps.settings.agent_timezone
    zone(tz)
    if (cron is None) == (at is None):
        raise ScheduleError("give exactly one of `cron` (repeating) or `at` (once)")
    if cron is not None:
        expression = check_cron(cron)
        kind, fire = "cron", next_cron_fire(expression, tz, moment)
        when = None
    else:
        assert at is not None
        fire = when = parse_at(at, tz)
        kind, expression = "once", None
        if fire <= moment:
            local_now = moment.astimezone(zone(tz))
            raise ScheduleError(
                f"{at!r} is in the past (it is {local_now:%Y-%m-%dT%H:%M} in {tz}); "
                "give a future time"
            )
    origin = current_origin(deps.channel, deps.session_id)
    return Job(
        id=new_job_id(),
        kind=kind,
        cron=expression,
        at=when,
        timezone=tz,
        prompt=prompt,
        channel=origin.channel,
        conversation=origin.conversation,
        session_id=deps.session_id,
        user=deps.user,
        created_at=moment,
        timeout_s=timeout_s or deps.settings.job_timeout_s,
        next_run=fire,
    )


def describe(job: Job) -> str:
    """One line about a job, for the model."""
    schedule = f"cron '{job.cron}'" if job.kind == "cron" else "once"
    upcoming = (
        f"next {job.next_run.astimezone(zone(job.timezone)):%Y-%m-%d %H:%M} {job.timezone}"
        if job.next_run is not None
        else "no further runs"
    )
    return f"{job.id} [{job.status}] {schedule}, {upcoming}: {job.prompt[:120]}"


def schedule_toolset(book: JobBook) -> FunctionToolset[AgentDeps]:
    """schedule_job / list_jobs / cancel_job over `book`."""
    toolset: FunctionToolset[AgentDeps] = FunctionToolset(id="schedule", max_retries=TOOL_RETRIES)

    @toolset.tool
    async def schedule_job(
        ctx: RunContext[AgentDeps],
        prompt: Prompt,
        cron: str | None = None,
        at: str | None = None,
        timezone: str | None = None,
        timeout_s: Timeout | None = None,
    ) -> str:
        """Schedule a prompt to run later; its answer is sent to this conversation.

        Args:
            prompt: what to do when the job fires, e.g. 'Remind me to call the dentist'.
            cron: a 5-field cron expression for a repeating job, e.g. '0 9 * * 1-5'.
            at: an ISO date-time for a one-off job, e.g. '2026-12-24T18:00'.
            timezone: IANA zone for `cron` and a naive `at`; defaults to the agent's zone.
            timeout_s: how long one run may take, in seconds.
        """
        try:
            job = await book.create(
                new_job(ctx.deps, prompt, cron=cron, at=at, timezone=timezone, timeout_s=timeout_s)
            )
        except (ScheduleError, TooManyJobs) as error:
            raise ModelRetry(str(error)) from None
        return f"scheduled {describe(job)}"

    @toolset.tool
    async def list_jobs(ctx: RunContext[AgentDeps]) -> str:
        """List the scheduled jobs that are still active."""
        active = [job for job in await book.list() if job.status == "active"]
        return "\n".join(describe(job) for job in active) or "no active jobs"

    @toolset.tool
    async def cancel_job(ctx: RunContext[AgentDeps], job_id: str) -> str:
        """Cancel an active job by its id (from list_jobs).

        Args:
            job_id: the 12-character job id.
        """
        job = await book.cancel(job_id)
        if job is None:
            raise ModelRetry(f"no job {job_id!r}; call list_jobs for the ids")
        return f"cancelled {describe(job)}" if job.status == "cancelled" else describe(job)

    return toolset
