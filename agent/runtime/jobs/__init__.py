"""Scheduled jobs: stored in the state store, fired by `/internal/cron` ticks."""

from agent.runtime.jobs.book import JobBook
from agent.runtime.jobs.model import Job, JobRun, ScheduleError
from agent.runtime.jobs.origin import Origin, current_origin, reply_origin
from agent.runtime.jobs.runner import Delivery, Scheduler, TickReport

__all__ = [
    "Delivery",
    "Job",
    "JobBook",
    "JobRun",
    "Origin",
    "ScheduleError",
    "Scheduler",
    "TickReport",
    "current_origin",
    "reply_origin",
]
