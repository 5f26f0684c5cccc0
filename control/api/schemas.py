"""Response models: what the OpenAPI document promises and every answer is checked against."""

from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    """Every error answer."""

    error: str = Field(description="machine-readable code: unauthorized, forbidden, not_found, conflict, ...")
    status: int
    message: str = Field(description="what went wrong and what to fix, one line")
    field: str | None = Field(default=None, description="the request field or header at fault")


class AirflowRun(BaseModel):
    dag_id: str
    run_id: str
    state: str | None
    ui_url: str
    triggered_at: str | None


class TaskState(BaseModel):
    task_id: str
    state: str | None
    try_number: int
    start_date: str | None
    end_date: str | None
    duration: float | None


class MlflowRun(BaseModel):
    run_id: str | None
    metrics: dict[str, Any]
    primary_metric: str | None
    primary_metric_value: float | None


class Delivery(BaseModel):
    id: int
    event_id: int
    state: str = Field(description="pending, delivered or failed (gave up)")
    attempts: int
    next_attempt_at: str | None
    delivered_at: str | None
    history: list[dict[str, Any]] = Field(description="the latest attempts: at, status, error, duration_ms")


class Callback(BaseModel):
    url: str | None
    events: str
    deliveries: list[Delivery] | None = None


class TrainingJob(BaseModel):
    """A training job as GET /v1/training-jobs/{id} shows it (callbacks carry the same, minus deliveries)."""

    id: str
    state: str = Field(description="queued, running, succeeded, failed or rolled_back")
    model: str = Field(description="registered model name (the config's model_name)")
    serving_model: str
    alias: str
    strategy: str
    error: str | None = Field(description="why it failed or was rolled back")
    airflow: AirflowRun
    tasks: list[TaskState]
    mlflow: MlflowRun
    registered_version: str | None
    serving: dict[str, Any] | None = Field(
        description="the release summary: version, alias, replicas, experiment"
    )
    rollback: dict[str, Any] | None = Field(description="the rollback_model run a failed release started")
    request: dict[str, Any] = Field(description="the accepted request, the config with its defaults")
    created_by: str
    created_at: str
    updated_at: str
    started_at: str | None
    finished_at: str | None
    links: dict[str, str]
    callback: Callback


class TrainingJobPage(BaseModel):
    jobs: list[TrainingJob]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class StoredEvent(BaseModel):
    """The `data` of each Server-Sent Event (its `id` is the event id, its `event` the type)."""

    id: int
    type: str
    at: str
    job_id: str | None
    deployment: str | None
    data: dict[str, Any]


class Deployment(BaseModel):
    """A deployment: the last requested spec, its state and the gateway fleet's convergence."""

    model: str
    managed_by: str = Field(description="`git` (only versions and weights may change) or `api`")
    state: str = Field(description="applying, ready, failed or deleted")
    generation: int
    spec: dict[str, Any]
    fleet: dict[str, Any] = Field(description="alive replicas, those serving the targets, `converged`")
    error: str | None
    changed: bool
    created_at: str | None
    updated_at: str | None
    finished_at: str | None
    links: dict[str, str]


ERROR_MEANINGS = {
    400: "the body could not be read as JSON",
    401: "missing or unknown X-API-Key",
    403: "a read-only key asked to change something",
    404: "no such job or deployment",
    409: "conflicts with the current state (see the message)",
    413: "request body over CONTROL_MAX_BODY_BYTES",
    422: "invalid request (the message names the field)",
    503: "a dependency (Airflow, MLflow, the gateway) did not answer; retry",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for error codes, always JSON (also on routes that stream text/event-stream)."""
    ref = {"$ref": "#/components/schemas/ErrorBody"}
    return {
        code: {"description": ERROR_MEANINGS[code], "content": {"application/json": {"schema": ref}}}
        for code in codes
    }
