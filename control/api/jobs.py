"""Training jobs: start one (202), read one, list them."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Header, Query, Response

from control.api.deps import PlaneDep, ReaderDep, WriterDep
from control.api.schemas import ErrorBody, TrainingJob, TrainingJobPage, error_responses
from control.jobs import TrainingJobRequest

JobState = Literal["queued", "running", "succeeded", "failed", "rolled_back"]
# ErrorBody as a model once, so the error responses' $ref to it resolves.
router = APIRouter(
    prefix="/v1/training-jobs",
    tags=["training jobs"],
    responses={422: {"model": ErrorBody, "description": "invalid"}},
)


@router.post(
    "",
    status_code=202,
    response_model=TrainingJob,
    summary="Start a training job",
    responses=error_responses(400, 401, 403, 409, 413, 422),
)
def create_job(
    body: TrainingJobRequest,
    plane: PlaneDep,
    caller: WriterDep,
    response: Response,
    background: BackgroundTasks,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="the same key with the same body answers the same job and starts nothing; "
            "with another body: 409",
        ),
    ] = None,
) -> dict[str, Any]:
    """Validate the config with the trainer's rules, store the job and trigger `ml_train_register_and_reload`.

    Answers 202 with the job; follow it at `links.self` or its Server-Sent Events at `links.events`."""
    job, created = plane.jobs.create(body, idempotency_key, caller.name)
    response.headers["Location"] = job["links"]["self"]
    if created:
        background.add_task(plane.trigger_now, job["id"])
    else:
        response.headers["Idempotent-Replayed"] = "true"
    return job


@router.get(
    "/{job_id}",
    response_model=TrainingJob,
    summary="One training job",
    responses=error_responses(401, 404, 422),
)
def get_job(job_id: str, plane: PlaneDep, _caller: ReaderDep) -> dict[str, Any]:
    """State, each task's state, MLflow run and metrics, the registered version and where it serves,
    the Airflow UI link, timestamps and the callback deliveries."""
    return plane.jobs.get(job_id)


@router.get(
    "", response_model=TrainingJobPage, summary="List training jobs", responses=error_responses(401, 422)
)
def list_jobs(
    plane: PlaneDep,
    _caller: ReaderDep,
    model: Annotated[str | None, Query(max_length=128, description="registered model name")] = None,
    state: Annotated[JobState | None, Query(description="only jobs in this state")] = None,
    cursor: Annotated[
        str | None, Query(max_length=64, description="next_cursor of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Newest first."""
    jobs, next_cursor = plane.jobs.page(model, state, cursor, limit)
    return {"jobs": jobs, "next_cursor": next_cursor}
