"""Connection to the MLflow tracking server, with a fast reachability check."""

import os

import httpx
import mlflow
from mlflow.tracking import MlflowClient

from trainer.errors import TrackingError


def connect(tracking_uri: str, timeout: float = 10.0) -> MlflowClient:
    """Point MLflow at the server and fail fast with a clear message when it is unreachable."""
    # MLflow's own retries take minutes against a dead server; the health check answers in seconds.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    if tracking_uri.startswith(("http://", "https://")):
        url = tracking_uri.rstrip("/") + "/health"
        try:
            response = httpx.get(url, timeout=timeout)
        except httpx.HTTPError as error:
            raise TrackingError(f"MLflow at {tracking_uri} is unreachable: {error}") from None
        if response.status_code != 200:
            raise TrackingError(f"MLflow at {tracking_uri} is not healthy: HTTP {response.status_code}")
    mlflow.set_tracking_uri(tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri)
