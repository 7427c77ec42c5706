"""Compression jobs: submit a spec, follow it, list recent jobs, cancel. Every endpoint needs the bearer token.

The broker's send and the job folders' reads block, so none runs on the event loop that serves translations:
the plain `def` handlers run in FastAPI's thread pool, and the submission sends from it.
"""

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from ganc.job_store import JobRecord

from ...job_queue import JobError, JobQueue, token_problem
from ..errors import error_responses


def get_jobs(request: Request) -> JobQueue:
    return request.app.state.jobs


def require_token(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    expected = request.app.state.settings.api_token
    problem = token_problem(expected)
    if problem:
        raise JobError(401, f"job endpoints are off: {problem}")
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise JobError(401, "send the API token as `Authorization: Bearer <token>`")


router = APIRouter(tags=["jobs"], dependencies=[Depends(require_token)], responses=error_responses(401, 422))
SPEC_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"type": "object", "description": "the spec, as `ganc compress` reads"}}
    },
}
JobsDep = Annotated[JobQueue, Depends(get_jobs)]


@router.post(
    "/v1/jobs",
    status_code=202,
    response_model=JobRecord,
    responses=error_responses(400, 503),
    openapi_extra={"requestBody": SPEC_BODY},
)
async def submit_job(request: Request, jobs: JobsDep) -> JSONResponse:
    """Queue a compression job from a spec (the JSON form of `ganc compress`'s YAML)."""
    try:
        spec: Any = await request.json()
    except ValueError:
        raise JobError(400, "the body must be the job's spec as JSON") from None
    record = await run_in_threadpool(jobs.submit, spec)  # the broker's send (and its retries) blocks
    return JSONResponse(record.model_dump(mode="json"), status_code=202, headers={"Location": f"/v1/jobs/{record.id}"})


@router.get("/v1/jobs", response_model=list[JobRecord])
def list_jobs(jobs: JobsDep, limit: Annotated[int, Query(gt=0, le=500)] = 50) -> list[JobRecord]:
    """Recent jobs, newest first."""
    return jobs.recent(limit)


@router.get("/v1/jobs/{job_id}", response_model=JobRecord, responses=error_responses(404))
def get_job(job_id: str, jobs: JobsDep) -> JobRecord:
    """A job's state, stage and progress, timestamps, published variants with their cards, or its error."""
    return jobs.get(job_id)


@router.get(
    "/v1/jobs/{job_id}/report",
    response_class=FileResponse,
    responses={**error_responses(404), 200: {"content": {"text/html": {}}, "description": "the report"}},
)
def job_report(job_id: str, jobs: JobsDep) -> FileResponse:
    """The job's report (one self-contained page: the ladder, the photos, the search, the stage times, the spec)."""
    return FileResponse(jobs.report(job_id), media_type="text/html")


@router.delete("/v1/jobs/{job_id}", status_code=202, response_model=JobRecord, responses=error_responses(404, 409))
def cancel_job(job_id: str, jobs: JobsDep) -> JobRecord:
    """Cancel a job: at once when queued, at the next step when running; nothing of it is published."""
    return jobs.cancel(job_id)
