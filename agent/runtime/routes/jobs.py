"""The jobs API under /api/jobs: list scheduled jobs and cancel one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from agent.runtime.errors import RequestError
from agent.runtime.http import identity
from agent.runtime.jobs.book import JobBook
from agent.runtime.jobs.model import Job
from agent.runtime.runtime_state import runtime_of

if TYPE_CHECKING:
    from agent.runtime.runtime_state import Runtime


def job_view(job: Job) -> dict[str, Any]:
    """A job as the API shows it: without `conversation`, which can be a platform credential
    (a Discord interaction token)."""
    return job.model_dump(mode="json", exclude={"conversation"})


def _book(request: Request) -> JobBook:
    identity(request)
    runtime: Runtime = runtime_of(request)
    return runtime.tools.jobs


async def list_jobs(request: Request) -> JSONResponse:
    """Every job, newest first (active, done and cancelled)."""
    jobs = await _book(request).list()
    return JSONResponse({"jobs": [job_view(job) for job in jobs]})


async def cancel_job(request: Request) -> JSONResponse:
    """Cancel an active job (finished ones are left as they are)."""
    book = _book(request)
    job_id = request.path_params["job_id"]
    job = await book.cancel(job_id)
    if job is None:
        raise RequestError(404, f"no job {job_id!r}", "list jobs at /api/jobs")
    return JSONResponse({"cancelled": job_view(job)})


routes = [
    Route("/api/jobs", list_jobs, methods=["GET"]),
    Route("/api/jobs/{job_id}", cancel_job, methods=["DELETE"]),
]
