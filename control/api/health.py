"""Health: the process is up (liveness), the database answers (readiness), who follows (status)."""

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from control.api.deps import PlaneDep, ReaderDep
from control.api.schemas import error_responses
from control.leader import LEASE_NAME
from control.store import events as event_log
from control.store import leases
from control.timeutil import iso

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz", summary="The database answers", responses={503: {"description": "database unreachable"}}
)
def readyz(plane: PlaneDep) -> Any:
    try:
        with plane.db.read() as conn:
            event_log.last_id(conn)
    except Exception as error:
        return JSONResponse(
            {"status": "unavailable", "message": f"database: {type(error).__name__}"}, status_code=503
        )
    return {"status": "ready"}


@router.get(
    "/v1/status",
    summary="This replica and the one that follows Airflow and the gateway",
    responses=error_responses(401),
)
def status(plane: PlaneDep, _caller: ReaderDep) -> dict[str, Any]:
    with plane.db.read() as conn:
        held = leases.holder(conn, LEASE_NAME)
        last = event_log.last_id(conn)
    return {
        "replica": plane.settings.replica_id,
        "leader": held[0] if held else None,
        "lease_expires_at": iso(held[1]) if held else None,
        "is_leader": plane.leadership.fence is not None,
        "last_event_id": last,
    }
