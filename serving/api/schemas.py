"""Request and response bodies as documented in the OpenAPI schema."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class DataframeSplit(BaseModel):
    """pandas `split` orientation."""

    columns: list[str] | None = None
    data: list[list[Any]]


class ScoringRequest(BaseModel):
    """MLflow scoring protocol: exactly one of the four keys."""

    dataframe_split: DataframeSplit | None = None
    dataframe_records: list[dict[str, Any]] | None = None
    instances: list[Any] | dict[str, list[Any]] | None = None
    inputs: list[Any] | dict[str, list[Any]] | None = None


class PredictResponse(BaseModel):
    """Predictions and which variant/version made them (also in X-Model-Variant / X-Model-Version)."""

    model: str
    variant: str
    version: str
    predictions: Any


class InvocationsResponse(BaseModel):
    """MLflow scoring server response."""

    predictions: Any


class V2Tensor(BaseModel):
    """Open Inference Protocol tensor."""

    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    data: list[Any] | None = None


class V2RequestedOutput(BaseModel):
    """An output the caller wants (`parameters.binary_data` for the binary extension)."""

    name: str
    parameters: dict[str, Any] | None = None


class V2InferRequest(BaseModel):
    """Open Inference Protocol inference request (JSON; binary tensor data after the JSON header)."""

    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[V2Tensor]
    outputs: list[V2RequestedOutput] | None = None


class V2InferResponse(BaseModel):
    """Open Inference Protocol inference response."""

    model_name: str
    model_version: str
    id: str | None = None
    outputs: list[V2Tensor]


class ErrorResponse(BaseModel):
    """Every error: a code and a message."""

    error_code: str
    message: str


class ReloadResponse(BaseModel):
    """Result of a reload."""

    model: str
    alias: str
    previous_version: str | None
    version: str
    changed: bool
    load_seconds: float | None = None


class TrafficRequest(BaseModel):
    """New weights per non-shadow variant; they must sum to 100."""

    weights: dict[str, int] = Field(examples=[{"champion": 75, "challenger": 25}])


class PromoteRequest(BaseModel):
    """Which variant's version becomes the champion (default: the canary / challenger variant)."""

    variant: str | None = None


class RollbackRequest(BaseModel):
    """Which alias to roll back (default: the one moved last)."""

    alias: str | None = None


def body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` documenting a body the route reads raw."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": model.model_json_schema(ref_template="#/components/schemas/{model}")
                }
            },
        }
    }


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 404, 409, 413, 415, 422, 500, 503)
}
