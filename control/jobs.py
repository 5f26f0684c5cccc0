"""Training jobs: what a backend asks for, how it is stored, and the job document every answer,
event and callback carries."""

import hashlib
import json
import re
import secrets
from typing import Annotated, Any, Literal

from loguru import logger
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from control.allowlist import CallbackURLRefused, check_callback_url
from control.errors import Conflict, Invalid, NotFound
from control.jobstate import QUEUED
from control.settings import ControlSettings
from control.store import Database
from control.store import deliveries as delivery_rows
from control.store import events as event_log
from control.store import jobs as job_rows
from control.timeutil import iso, now
from control.trainconfig import ConfigInvalid, rules

MODEL = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
RUN_PREFIX = "control-"


def _alias(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", value) or value == "latest" or re.fullmatch(r"v\d+", value):
        raise ValueError(
            f"'{value}' is not a usable alias (letters, digits, '_', '-'; not 'latest' or 'v<n>')"
        )
    return value


Alias = Annotated[str, AfterValidator(_alias)]


class TrainingJobRequest(BaseModel):
    """POST /v1/training-jobs: the trainer's config, where the new version goes, how it is judged, and
    who to call back. The release fields are the DAG's trigger form (docs/dags.md)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    config: dict[str, Any] = Field(
        description="The trainer's JSON config (docs/trainer.md), validated with the trainer's rules.",
        json_schema_extra=lambda schema: schema.update(rules().json_schema()),
    )
    alias: Alias = Field(default="challenger", description="MLflow alias the new version gets and serves on.")
    strategy: Literal["canary", "ab", "bluegreen"] = Field(
        default="canary", description="Experiment strategy; must match the gateway's config for the model."
    )
    serving_model: str | None = Field(
        default=None, pattern=MODEL, description="Model name in the gateway (default: the registered name)."
    )
    quality_threshold: float = Field(default=0.8, description="Minimum primary metric (maximum for RMSE).")
    max_regression: float = Field(default=0.02, ge=0, description="Allowed loss against the champion.")
    champion_alias: Alias = Field(default="champion", description="Alias the quality gate compares with.")
    ab_weight: int = Field(default=50, ge=0, le=100, description="A/B: weight of the new version.")
    min_replicas: int = Field(
        default=1, ge=1, le=100, description="Replicas that must serve the new version."
    )
    verify_timeout_seconds: float = Field(default=60.0, gt=0, le=3600, description="How long verify waits.")
    git_commit: str | None = Field(default=None, pattern=r"^[0-9a-f]{7,40}$", description="Commit to record.")
    callback_url: str | None = Field(
        default=None,
        max_length=2048,
        description="POSTed the job on each terminal state (default: the service's CALLBACK_URL); "
        "its host must be on CALLBACK_ALLOWED_HOSTS.",
    )
    callback_events: Literal["terminal", "all"] | None = Field(
        default=None, description="`all`: also on every other state change (default: CALLBACK_EVENTS)."
    )


def new_job_id() -> str:
    """`tj_` + milliseconds (hex, so ids sort by creation) + randomness."""
    return f"tj_{int(now() * 1000):012x}{secrets.token_hex(5)}"


def request_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def dag_conf(request: dict[str, Any]) -> dict[str, Any]:
    """The trigger form of ml_train_register_and_reload for a job (the config inline, as JSON)."""
    keys = (
        "alias",
        "strategy",
        "serving_model",
        "quality_threshold",
        "max_regression",
        "champion_alias",
        "ab_weight",
        "min_replicas",
        "verify_timeout_seconds",
        "git_commit",
    )
    conf = {key: request[key] for key in keys if request.get(key) is not None}
    return {**conf, "config": json.dumps(request["config"], sort_keys=True), "overrides": {}}


def document(row: RowMapping, ui_base: str, deliveries: list[RowMapping] | None = None) -> dict[str, Any]:
    """The job as the API shows it."""
    request = dict(row["request"])
    results = dict(row["results"])
    train = results.get("train") or {}
    registered = results.get("register") or {}
    doc: dict[str, Any] = {
        "id": row["id"],
        "state": row["state"],
        "model": row["model"],
        "serving_model": request.get("serving_model") or row["model"],
        "alias": request["alias"],
        "strategy": request["strategy"],
        "error": row["error"],
        "airflow": {
            "dag_id": row["dag_id"],
            "run_id": row["dag_run_id"],
            "state": row["airflow_state"],
            "ui_url": f"{ui_base}/dags/{row['dag_id']}/runs/{row['dag_run_id']}",
            "triggered_at": iso(row["triggered_at"]),
        },
        "tasks": [{"task_id": task_id, **info} for task_id, info in dict(row["tasks"]).items()],
        "mlflow": {
            "run_id": train.get("run_id"),
            "metrics": train.get("metrics") or {},
            "primary_metric": train.get("primary_metric"),
            "primary_metric_value": train.get("primary_metric_value"),
        },
        "registered_version": str(registered["version"]) if registered.get("version") is not None else None,
        "serving": results.get("serving"),
        "rollback": results.get("rollback"),
        "request": request,
        "created_by": row["created_by"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "started_at": iso(row["started_at"]),
        "finished_at": iso(row["finished_at"]),
        "links": {
            "self": f"/v1/training-jobs/{row['id']}",
            "events": f"/v1/training-jobs/{row['id']}/events",
        },
    }
    callback: dict[str, Any] = {"url": row["callback_url"], "events": row["callback_events"]}
    if deliveries is not None:
        callback["deliveries"] = [
            {
                "id": d["id"],
                "event_id": d["event_id"],
                "state": d["state"],
                "attempts": d["attempts"],
                "next_attempt_at": iso(d["next_attempt_at"]) if d["state"] == "pending" else None,
                "delivered_at": iso(d["delivered_at"]),
                "history": d["history"],
            }
            for d in deliveries
        ]
    doc["callback"] = callback
    return doc


class JobService:
    """Create, read and list jobs (any replica); the follower moves them forward (one replica)."""

    def __init__(self, settings: ControlSettings, db: Database) -> None:
        self.settings = settings
        self.db = db

    def _callback(self, request: TrainingJobRequest) -> tuple[str | None, str]:
        url = request.callback_url or self.settings.callback_url
        events = request.callback_events or self.settings.callback_events
        if url is None:
            return None, events
        allowed = self.settings.allowed_hosts()
        if request.callback_url is None:
            return url, events  # the operator's own default needs no allow-listing
        try:
            return check_callback_url(url, allowed), events
        except CallbackURLRefused as error:
            raise Invalid(str(error), field="callback_url") from None

    def create(
        self, request: TrainingJobRequest, idempotency_key: str | None, caller: str
    ) -> tuple[dict[str, Any], bool]:
        """A new queued job (and its first event), or the job this Idempotency-Key created before."""
        if idempotency_key is not None and not IDEMPOTENCY_KEY.match(idempotency_key):
            raise Invalid(
                "Idempotency-Key must be 1 to 255 visible ASCII characters", field="Idempotency-Key"
            )
        try:
            config = rules().validate(request.config)
        except ConfigInvalid as error:
            raise Invalid(str(error), field="config") from None
        callback_url, callback_events = self._callback(request)
        body = {**request.model_dump(mode="json"), "config": config}
        body["serving_model"] = body["serving_model"] or config["model_name"]
        digest = request_hash(body)
        for attempt in (0, 1):
            try:
                return self._insert(body, digest, idempotency_key, caller, callback_url, callback_events)
            except IntegrityError:
                if attempt == 1 or idempotency_key is None:
                    raise
        raise AssertionError("unreachable")

    def _insert(
        self,
        body: dict[str, Any],
        digest: str,
        key: str | None,
        caller: str,
        callback_url: str | None,
        callback_events: str,
    ) -> tuple[dict[str, Any], bool]:
        at = now()
        with self.db.write() as conn:
            if key is not None:
                known = job_rows.idempotent_job(conn, key)
                if known is not None:
                    if known["request_hash"] != digest:
                        raise Conflict(
                            f"Idempotency-Key {key!r} was used for another request (job {known['job_id']})",
                            field="Idempotency-Key",
                        )
                    return self._document(conn, known["job_id"]), False
            job_id = new_job_id()
            row = {
                "id": job_id,
                "state": QUEUED,
                "model": body["config"]["model_name"],
                "request": body,
                "dag_id": self.settings.train_dag_id,
                "dag_run_id": RUN_PREFIX + job_id,
                "tasks": {},
                "results": {},
                "callback_url": callback_url,
                "callback_events": callback_events,
                "created_by": caller,
                "created_at": at,
                "updated_at": at,
            }
            job_rows.insert_job(conn, row)
            if key is not None:
                job_rows.remember_key(conn, key, digest, job_id, at)
            doc = self._document(conn, job_id)
            event = event_log.append(conn, "training_job.queued", {"job": doc}, job_id=job_id)
            ids = {"job_id": job_id, "run_id": row["dag_run_id"], "dag_id": row["dag_id"]}
            logger.bind(**ids).info("job {} queued for {} by {}", job_id, row["model"], caller)
            if callback_url and callback_events == "all":
                delivery_rows.enqueue(
                    conn, event.id, job_id, callback_url, at, at + self.settings.callback_retry_seconds
                )
        return doc, True

    def _document(self, conn: Connection, job_id: str, with_deliveries: bool = False) -> dict[str, Any]:
        row = job_rows.get(conn, job_id)
        if row is None:
            raise NotFound(f"no training job {job_id!r}")
        sent = delivery_rows.for_job(conn, job_id) if with_deliveries else None
        return document(row, self.settings.airflow_ui_base, sent)

    def get(self, job_id: str) -> dict[str, Any]:
        with self.db.read() as conn:
            return self._document(conn, job_id, with_deliveries=True)

    def exists(self, job_id: str) -> bool:
        with self.db.read() as conn:
            return job_rows.get(conn, job_id) is not None

    def settled(self, job_id: str) -> bool:
        """Finished, with no callback left to send (nothing more will happen to it)."""
        with self.db.read() as conn:
            row = job_rows.get(conn, job_id)
            return (
                row is not None
                and row["finished_at"] is not None
                and not delivery_rows.pending_for_job(conn, job_id)
            )

    def page(
        self, model: str | None, state: str | None, cursor: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        with self.db.read() as conn:
            rows = job_rows.page(conn, model=model, state=state, before=cursor, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        docs = [document(row, self.settings.airflow_ui_base) for row in rows]
        return docs, (rows[-1]["id"] if more and rows else None)
