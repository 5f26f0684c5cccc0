"""Server-Sent Events from the stored event log: every replica serves the same stream, and a client
resumes after the last event it saw (`Last-Event-ID`, which browsers send on reconnect)."""

from collections.abc import AsyncIterator, Callable
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Header, Query
from fastapi.sse import EventSourceResponse, ServerSentEvent

from control.api.deps import PlaneDep, ReaderDep
from control.api.schemas import StoredEvent, error_responses
from control.errors import Invalid, NotFound
from control.plane import ControlPlane
from control.store import events as event_log

router = APIRouter(tags=["events"])
BATCH = 200
MAX_EVENT_ID = 2**63 - 1  # the largest id SQLite and PostgreSQL (bigint) can hold
RECONNECT_MS = 2000


def resume_point(
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", description="resume after this event id")
    ] = None,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_EVENT_ID, description="resume after this event id (when no header)")
    ] = None,
) -> int:
    """Where the stream starts: after Last-Event-ID, else after `after`, else from the beginning."""
    if last_event_id is not None and last_event_id.strip():
        if not last_event_id.strip().isdigit() or int(last_event_id.strip()) > MAX_EVENT_ID:
            raise Invalid(
                f"Last-Event-ID must be an event id (an integer from 0 to {MAX_EVENT_ID})",
                field="Last-Event-ID",
            )
        return int(last_event_id.strip())
    return after or 0


def existing_job(job_id: str, plane: PlaneDep) -> str:
    if not plane.jobs.exists(job_id):
        raise NotFound(f"no training job {job_id!r}")
    return job_id


async def stream(
    plane: ControlPlane,
    after: int,
    *,
    job_id: str | None = None,
    types: set[str] | None = None,
    follow: bool = True,
    finished: Callable[[], bool] | None = None,
) -> AsyncIterator[ServerSentEvent]:
    """Stored events after `after`, then new ones as they are written (polling the database)."""
    yield ServerSentEvent(comment="connected", retry=RECONNECT_MS)
    last = after
    while True:
        done = finished is not None and await anyio.to_thread.run_sync(finished)

        def read(start: int = last) -> list[event_log.Event]:
            with plane.db.read() as conn:
                return event_log.after(conn, start, job_id=job_id, types=types, limit=BATCH)

        batch = await anyio.to_thread.run_sync(read)
        for event in batch:
            yield ServerSentEvent(data=event.as_dict(), event=event.type, id=str(event.id))
            last = event.id
        if len(batch) == BATCH:
            continue
        if done or not follow:
            return
        await anyio.sleep(plane.event_poll_seconds)


@router.get(
    "/v1/training-jobs/{job_id}/events",
    response_class=EventSourceResponse,
    summary="A job's events (Server-Sent Events)",
    responses=error_responses(401, 404, 422),
)
async def job_events(
    plane: PlaneDep,
    _caller: ReaderDep,
    job_id: Annotated[str, Depends(existing_job)],
    after: Annotated[int, Depends(resume_point)],
    follow: Annotated[
        bool, Query(description="keep the stream open for new events (false: send the stored ones and end)")
    ] = True,
) -> AsyncIterator[StoredEvent]:
    """`training_job.<state>` (data.job is the job), `training_job.task` per task change, `callback.delivered`
    and `callback.failed`. The stream ends once the job is finished and its callbacks are settled."""
    async for item in stream(
        plane, after, job_id=job_id, follow=follow, finished=lambda: plane.jobs.settled(job_id)
    ):
        yield item  # type: ignore[misc]


@router.get(
    "/v1/events",
    response_class=EventSourceResponse,
    summary="Every event (Server-Sent Events)",
    responses=error_responses(401, 422),
)
async def all_events(
    plane: PlaneDep,
    _caller: ReaderDep,
    after: Annotated[int, Depends(resume_point)],
    types: Annotated[
        str | None, Query(max_length=1000, description="comma-separated event types to keep")
    ] = None,
    follow: Annotated[bool, Query(description="keep the stream open (false: stored events only)")] = True,
) -> AsyncIterator[StoredEvent]:
    """Jobs, deployments and callbacks, in the order they happened."""
    wanted = {t.strip() for t in types.split(",") if t.strip()} if types else None
    async for item in stream(plane, after, types=wanted, follow=follow):
        yield item  # type: ignore[misc]
