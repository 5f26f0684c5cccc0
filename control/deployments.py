"""Deployments: create-or-update a model in the gateway fleet, follow it until every replica serves it.

A model declared in Git may change only where the API is allowed to: the version each variant's alias
points to (moved in MLflow, then reloaded across the fleet) and the traffic weights; anything else is
409 "managed by Git". A model the gateway does not declare is added as a runtime model through the
gateway's admin API (validated there like the config file) and may later change in any way or be
deleted. The same request twice changes nothing (200, `changed: false`); a change answers 202 and the
lease holder follows the fleet until it converges (`ready`) or the deadline passes (`failed`)."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from control.clients.gateway import GatewayClient
from control.clients.mlflow import MlflowClient
from control.errors import Conflict, NotFound
from control.settings import ControlSettings
from control.store import Database, Fence
from control.store import deployments as rows
from control.store import events as event_log
from control.timeutil import iso, now

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
READY, FAILED, DELETED = "ready", "failed", "deleted"
EVENT_TYPES = ("deployment_applying", "deployment_ready", "deployment_failed", "deployment_deleted")


class DeploymentVariant(BaseModel):
    """One variant: the alias it serves, optionally the version that alias must point to, its weight."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME)
    alias: str = Field(pattern=NAME)
    version: str | None = Field(
        default=None, pattern=r"^[1-9][0-9]{0,9}$", description="point the alias at this version first"
    )
    weight: int = Field(default=0, ge=0, le=100)
    shadow: bool = False


class DeploymentRequest(BaseModel):
    """PUT /v1/deployments/{model}: one model of the gateway config (docs/serving.md), plus versions."""

    model_config = ConfigDict(extra="forbid")

    registered_model: str = Field(min_length=1, max_length=256)
    strategy: Literal["single", "ab", "canary", "bluegreen", "shadow"] = "single"
    variants: list[DeploymentVariant] = Field(min_length=1, max_length=16)
    canary: dict[str, Any] | None = Field(default=None, description="the gateway's canary section")
    bluegreen: dict[str, Any] | None = Field(default=None, description="the gateway's bluegreen section")
    shadow_queue_size: int | None = Field(default=None, ge=1, le=1_000_000)

    def gateway_spec(self) -> dict[str, Any]:
        """The gateway's model document (versions are the control API's: they move aliases)."""
        spec = self.model_dump(exclude_none=True)
        for variant in spec["variants"]:
            variant.pop("version", None)
        return spec


def _covers(declared: Any, asked: Any) -> bool:
    """True when every key the request gives has the declared value (nested sections too)."""
    if isinstance(asked, dict) and isinstance(declared, dict):
        return all(key in declared and _covers(declared[key], value) for key, value in asked.items())
    return declared == asked


def git_conflict(declared: dict[str, Any], request: DeploymentRequest) -> str | None:
    """The first field a request would change that Git owns (None: only versions and weights differ)."""
    asked = request.gateway_spec()
    for key in ("registered_model", "strategy", "canary", "bluegreen", "shadow_queue_size"):
        if key in asked and not _covers(declared.get(key), asked[key]):
            return key
    shape = [(v["name"], v["alias"], v.get("shadow", False)) for v in declared["variants"]]
    if [(v.name, v.alias, v.shadow) for v in request.variants] != shape:
        return "variants"
    return None


def document(row: RowMapping) -> dict[str, Any]:
    """The deployment as every answer and event carries it."""
    return {
        "model": row["model"],
        "managed_by": row["managed_by"],
        "state": row["state"],
        "generation": row["generation"],
        "spec": row["spec"],
        "fleet": row["status"],
        "error": row["error"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "finished_at": iso(row["finished_at"]),
        "links": {
            "self": f"/v1/deployments/{row['model']}",
            "events": f"/v1/events?types={','.join(EVENT_TYPES)}",
        },
    }


class DeploymentService:
    """Create-or-update, read, delete, and the follower's convergence check."""

    def __init__(
        self, settings: ControlSettings, db: Database, gateway: GatewayClient, mlflow: MlflowClient
    ) -> None:
        self.settings = settings
        self.db = db
        self.gateway = gateway
        self.mlflow = mlflow

    def apply(self, model: str, request: DeploymentRequest, actor: str) -> tuple[bool, dict[str, Any]]:
        """(changed, deployment): validate, move aliases, declare or adjust traffic, store and announce."""
        declared = self.gateway.declaration(model)
        managed_by = declared["managed_by"] if declared else "api"
        if declared is not None and declared["managed_by"] == "git":
            field = git_conflict(declared["spec"], request)
            if field is not None:
                raise Conflict(
                    f"model {model!r} is managed by Git: {field} differs from the gateway config; "
                    "the API may change only variant versions and weights",
                    field=field,
                )
        moves = self._alias_moves(declared, request)  # checked in MLflow before anything changes
        changed = bool(moves)
        if managed_by == "api":  # the gateway validates the spec like its config file
            changed |= bool(self.gateway.declare(model, request.gateway_spec()).get("changed"))
        elif request.strategy != "bluegreen":
            weights = {v.name: v.weight for v in request.variants if not v.shadow}
            if declared["fleet"]["weights"] != weights:
                self.gateway.set_traffic(model, weights)
                changed = True
        for alias, version in moves.items():
            self.mlflow.set_alias(request.registered_model, alias, version)
            self.gateway.reload(model, alias)
        return changed, self._record(model, managed_by, request, changed, actor)

    def _alias_moves(self, declared: dict[str, Any] | None, request: DeploymentRequest) -> dict[str, str]:
        """Aliases whose version the request sets and the fleet does not serve as its target yet."""
        targets = declared["fleet"]["targets"] if declared else {}
        moves: dict[str, str] = {}
        for index, variant in enumerate(request.variants):
            if variant.version is None or targets.get(variant.name) == variant.version:
                continue
            if moves.get(variant.alias, variant.version) != variant.version:
                raise Conflict(f"variants.{index}.version: alias {variant.alias!r} is given two versions")
            self.mlflow.require_version(
                request.registered_model, variant.version, f"variants.{index}.version"
            )
            moves[variant.alias] = variant.version
        return moves

    def _record(
        self, model: str, managed_by: str, request: DeploymentRequest, changed: bool, actor: str
    ) -> dict[str, Any]:
        """Store the deployment and its event; a replica that inserted the same new row first wins the
        insert, this one then updates it."""
        for _ in range(2):
            try:
                return self._write(model, managed_by, request, changed, actor)
            except IntegrityError:
                continue
        return self._write(model, managed_by, request, changed, actor)

    def _write(
        self, model: str, managed_by: str, request: DeploymentRequest, changed: bool, actor: str
    ) -> dict[str, Any]:
        at = now()
        with self.db.write() as conn:
            row = rows.get(conn, model)
            if row is not None and not changed and row["state"] != DELETED:
                return document(row)
            values: dict[str, Any] = {
                "managed_by": managed_by,
                "state": rows.APPLYING if changed else READY,
                "spec": request.model_dump(exclude_none=True),
                "generation": (row["generation"] if row else 0) + 1,
                "status": row["status"] if row else {},
                "error": None,
                "updated_at": at,
                "finished_at": None if changed else at,
            }
            if row is None or row["state"] == DELETED:
                values["created_at"] = at
            rows.upsert(conn, model, **values)
            stored = rows.get(conn, model)
            assert stored is not None
            body = document(stored)
            kind = "deployment_applying" if changed else "deployment_ready"
            event_log.append(conn, kind, {"deployment": body, "actor": actor}, deployment=model)
            return body

    def get(self, model: str) -> dict[str, Any]:
        with self.db.read() as conn:
            row = rows.get(conn, model)
        if row is None:
            raise NotFound(f"no deployment of model {model!r}")
        return document(row)

    def delete(self, model: str, actor: str) -> dict[str, Any]:
        """Remove a runtime model from the fleet (409 for one declared in Git)."""
        declared = self.gateway.declaration(model)
        if declared is None:
            raise NotFound(f"the gateway serves no model {model!r}")
        if declared["managed_by"] == "git":
            raise Conflict(f"model {model!r} is managed by Git: remove it from the gateway config")
        self.gateway.delete(model)
        at = now()
        with self.db.write() as conn:
            row = rows.get(conn, model)
            values = {"state": DELETED, "updated_at": at, "finished_at": at, "error": None}
            if row is None:
                values |= {"managed_by": "api", "spec": {}, "generation": 1, "status": {}, "created_at": at}
            rows.upsert(conn, model, **values)
            stored = rows.get(conn, model)
            assert stored is not None
            body = document(stored)
            event_log.append(
                conn, "deployment_deleted", {"deployment": body, "actor": actor}, deployment=model
            )
        return body

    # -- the lease holder follows applying deployments ------------------------------------------------------
    def follow_all(self, fence: Fence) -> int:
        """Check every applying deployment against the fleet; the number that changed state."""
        with self.db.read() as conn:
            pending = rows.applying(conn)
        return sum(self.follow(row, fence) for row in pending)

    def follow(self, row: RowMapping, fence: Fence) -> bool:
        model = row["model"]
        declared = self.gateway.declaration(model)
        fleet = declared["fleet"] if declared else {}
        wanted = {v["name"]: v["version"] for v in row["spec"].get("variants", []) if v.get("version")}
        versions_ok = all(fleet.get("targets", {}).get(name) == version for name, version in wanted.items())
        state, error = rows.APPLYING, None
        if declared is not None and fleet.get("converged") and versions_ok:
            state = READY
        elif now() - row["updated_at"] > self.settings.deploy_timeout_seconds:
            state, error = (
                FAILED,
                f"the fleet did not serve it within {self.settings.deploy_timeout_seconds:g} s",
            )
        if state == rows.APPLYING and fleet == row["status"]:
            return False
        at = now()
        with self.db.write(fence) as conn:
            current = rows.get(conn, model)
            if (
                current is None
                or current["state"] != rows.APPLYING
                or current["generation"] != row["generation"]
            ):
                return False
            finished = at if state != rows.APPLYING else None
            rows.upsert(conn, model, state=state, status=fleet, error=error, finished_at=finished)
            if state != rows.APPLYING:
                stored = rows.get(conn, model)
                assert stored is not None
                event_log.append(
                    conn, f"deployment_{state}", {"deployment": document(stored)}, deployment=model
                )
        return state != rows.APPLYING
