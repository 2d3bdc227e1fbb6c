"""The stored jobs: create, list, change and cancel them with conditional writes.

    jobs/<id>.json    one Job; created If-None-Match, every change If-Match on the version read

Listing re-reads only objects whose etag changed since the last look, so a cron tick with nothing
due costs one list call and no model tokens.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from agent.runtime.errors import PreconditionFailed, StoreError
from agent.runtime.jobs.model import JOB_ID, Job
from agent.runtime.store.base import StateStore

PREFIX = "jobs/"
MAX_ACTIVE_JOBS = 100
_UPDATE_TRIES = 16
_LOAD_CONCURRENCY = 8


class TooManyJobs(ValueError):
    """The sandbox already has MAX_ACTIVE_JOBS active jobs."""


def job_key(job_id: str) -> str:
    """Where a job lives."""
    return f"{PREFIX}{job_id}.json"


class JobBook:
    """Jobs in the state store, with a read cache keyed by etag."""

    def __init__(self, store: StateStore) -> None:
        self._store = store
        self._cache: dict[str, tuple[str, Job]] = {}

    async def create(self, job: Job) -> Job:
        """Store a new job (its id must be fresh)."""
        active = [j for j, _ in await self.list_with_etags() if j.status == "active"]
        if len(active) >= MAX_ACTIVE_JOBS:
            raise TooManyJobs(
                f"{len(active)} jobs are already active (limit {MAX_ACTIVE_JOBS}); "
                "cancel some first"
            )
        body = job.model_dump_json().encode()
        etag = await self._store.put(job_key(job.id), body, if_none_match=True)
        self._cache[job_key(job.id)] = (etag, job)
        return job

    async def list_with_etags(self) -> list[tuple[Job, str]]:
        """Every job with the etag it was read at, newest first."""
        infos = await self._store.list(PREFIX)
        gate = asyncio.Semaphore(_LOAD_CONCURRENCY)

        async def load(key: str, etag: str) -> tuple[Job, str] | None:
            cached = self._cache.get(key)
            if cached is not None and cached[0] == etag:
                return cached[1], etag
            async with gate:
                loaded = await self._load(key)
            return loaded

        found = await asyncio.gather(*(load(info.key, info.etag) for info in infos))
        live = {info.key for info in infos}
        for stale in set(self._cache) - live:
            del self._cache[stale]
        jobs = [item for item in found if item is not None]
        return sorted(jobs, key=lambda item: item[0].created_at, reverse=True)

    async def list(self) -> list[Job]:
        """Every job, newest first."""
        return [job for job, _ in await self.list_with_etags()]

    async def get(self, job_id: str) -> tuple[Job, str] | None:
        """The job and its etag, or None."""
        if not JOB_ID.match(job_id):
            return None
        return await self._load(job_key(job_id))

    async def update(self, job_id: str, change: Callable[[Job], Job | None]) -> Job | None:
        """Apply `change` to the current version until the If-Match write wins.

        `change` returning None leaves the job as it is; the result is the stored job, or None
        when there is no such job.
        """
        for _ in range(_UPDATE_TRIES):
            loaded = await self.get(job_id)
            if loaded is None:
                return None
            job, etag = loaded
            changed = change(job)
            if changed is None or changed == job:
                return job
            try:
                new_etag = await self._store.put(
                    job_key(job_id), changed.model_dump_json().encode(), if_match=etag
                )
            except PreconditionFailed:
                continue
            self._cache[job_key(job_id)] = (new_etag, changed)
            return changed
        raise StoreError(f"job {job_id!r} kept changing; gave up after {_UPDATE_TRIES} tries")

    async def cancel(self, job_id: str) -> Job | None:
        """Mark the job cancelled (kept for its history); None if it does not exist."""

        def cancelled(job: Job) -> Job | None:
            if job.status != "active":
                return None
            return job.model_copy(update={"status": "cancelled", "next_run": None})

        return await self.update(job_id, cancelled)

    async def _load(self, key: str) -> tuple[Job, str] | None:
        obj = await self._store.get(key)
        if obj is None:
            self._cache.pop(key, None)
            return None
        job = Job.model_validate_json(obj.body)
        self._cache[key] = (obj.etag, job)
        return job, obj.etag
