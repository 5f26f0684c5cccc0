"""Deployments: create-or-update a model in the gateway fleet, read it, delete a runtime-added one."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from control.api.deps import PlaneDep, ReaderDep, WriterDep
from control.api.schemas import Deployment, ErrorBody, error_responses
from control.deployments import NAME, DeploymentRequest

router = APIRouter(
    prefix="/v1/deployments",
    tags=["deployments"],
    responses={422: {"model": ErrorBody, "description": "invalid"}},
)
ModelName = Annotated[str, Path(pattern=NAME, description="model name in the gateway")]


@router.put(
    "/{model}",
    response_model=Deployment,
    summary="Create or update a deployment",
    responses={
        202: {"model": Deployment, "description": "changed: the fleet applies it (follow `state`)"},
        **error_responses(400, 401, 403, 409, 413, 422, 503),
    },
)
def put_deployment(
    model: ModelName, body: DeploymentRequest, plane: PlaneDep, caller: WriterDep, response: Response
) -> dict[str, Any]:
    """A model of the gateway config: registered model, strategy and its settings, variants with their
    alias, weight and optionally the version the alias must point to. A model declared in Git: only
    versions and weights may change (else 409 "managed by Git"). A new model joins the fleet at runtime.
    Same request twice: 200 `changed: false`; a change: 202, `state` goes `applying` → `ready` (or
    `failed`) when every gateway replica serves it."""
    changed, deployment = plane.deployments.apply(model, body, caller.name)
    response.status_code = 202 if changed else 200
    response.headers["Location"] = deployment["links"]["self"]
    return {**deployment, "changed": changed}


@router.get(
    "/{model}", response_model=Deployment, summary="One deployment", responses=error_responses(401, 404, 422)
)
def get_deployment(model: ModelName, plane: PlaneDep, _caller: ReaderDep) -> dict[str, Any]:
    """The last requested spec, its state and the fleet's convergence when it was last checked."""
    return {**plane.deployments.get(model), "changed": False}


@router.delete(
    "/{model}",
    response_model=Deployment,
    summary="Delete a runtime-added deployment",
    responses=error_responses(401, 403, 404, 409, 422, 503),
)
def delete_deployment(model: ModelName, plane: PlaneDep, caller: WriterDep) -> dict[str, Any]:
    """Every gateway replica stops serving it; 409 for a model declared in Git."""
    return {**plane.deployments.delete(model, caller.name), "changed": True}
