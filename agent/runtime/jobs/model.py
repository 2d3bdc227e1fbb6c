"""Scheduled jobs: what is stored, and when a job fires next (croniter, IANA time zones)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field

MAX_PROMPT_CHARS = 4000
JOB_ID = re.compile(r"^[a-f0-9]{12}$")
CRON_EXAMPLE = "'0 9 * * 1-5' (09:00 on weekdays)"
AT_EXAMPLE = "'2026-12-24T18:00' (in the job's time zone) or '2026-12-24T17:00:00Z'"


class ScheduleError(ValueError):
    """A schedule that cannot fire: bad cron expression, unknown zone, time in the past."""


class Job(BaseModel):
    """One scheduled prompt, stored at `jobs/<id>.json`."""

    model_config = ConfigDict(frozen=True)

    id: str
    kind: Literal["once", "cron"]
    cron: str | None = None
    at: datetime | None = None
    timezone: str
    prompt: str
    # Where the job was created, so its result goes back there.
    channel: str
    conversation: str
    session_id: str
    user: str
    created_at: datetime
    timeout_s: Annotated[float, Field(gt=0, le=3600)]
    status: Literal["active", "done", "cancelled"] = "active"
    next_run: datetime | None = None
    runs: int = 0
    last_run: datetime | None = None
    last_result: str | None = None


class JobRun(BaseModel):
    """The claim on one firing of a job, stored at `job-runs/<job>/<fire>.json`.

    Creating it (If-None-Match) is what makes a runtime the one that runs this firing; a claim
    whose lease expired without finishing (the runtime died) may be taken over with If-Match.
    """

    job_id: str
    fire_at: datetime
    state: Literal["running", "done", "failed", "cancelled", "skipped"]
    claimed_at: datetime
    lease_until: datetime
    attempt: int = 1
    result: str | None = None


def new_job_id() -> str:
    """A short random id."""
    return uuid.uuid4().hex[:12]


def zone(name: str) -> ZoneInfo:
    """The IANA zone, or ScheduleError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"unknown time zone {name!r}; use an IANA name like 'Europe/Paris'"
        ) from None


def check_cron(expression: str) -> str:
    """A 5-field cron expression, or ScheduleError."""
    expression = " ".join(expression.split())
    if len(expression.split(" ")) != 5 or not croniter.is_valid(expression):
        raise ScheduleError(f"invalid cron expression {expression!r}; for example {CRON_EXAMPLE}")
    return expression


def parse_at(value: str, timezone: str) -> datetime:
    """An ISO date-time; a naive one is read in `timezone`. Returned in UTC."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ScheduleError(f"invalid time {value!r}; for example {AT_EXAMPLE}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone(timezone))
    return parsed.astimezone(UTC)


def next_cron_fire(expression: str, timezone: str, after: datetime) -> datetime:
    """The first firing strictly after `after`, evaluated in `timezone`, in UTC."""
    local = after.astimezone(zone(timezone))
    fire: datetime = croniter(expression, local).get_next(datetime)
    return fire.astimezone(UTC)


def following_fire(job: Job, fired_at: datetime, now: datetime) -> datetime | None:
    """When the job fires after the firing at `fired_at`, skipping any missed while asleep."""
    if job.kind == "once" or job.cron is None:
        return None
    return next_cron_fire(job.cron, job.timezone, max(fired_at, now))


def fire_stamp(fire_at: datetime) -> str:
    """A key-safe name for one firing."""
    return fire_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
