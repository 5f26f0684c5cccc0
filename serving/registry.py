"""MLflow Model Registry access: resolve aliases, move them, download and load versions.

Blocking calls: the gateway runs them in worker threads. MLflow's client retries for minutes against
a dead server by default; the gateway wants a fast, truthful 503 instead, so retries are capped.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import weakref

from serving.errors import NotFound, Unavailable
from serving.exactness import LoadRefused
from serving.model import LoadedModel, build_model

os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")


def _reason(error: Exception) -> str:
    text = str(getattr(error, "message", error)) or type(error).__name__
    return text.splitlines()[0][:300]


class Registry:
    """One MLflow tracking server."""

    def __init__(self, tracking_uri: str | None) -> None:
        import mlflow
        from mlflow.tracking import MlflowClient

        self.tracking_uri = tracking_uri or mlflow.get_tracking_uri()
        self.client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def _classify(self, error: Exception, what: str) -> Exception:
        code = getattr(error, "error_code", "")
        not_found = code == "INVALID_PARAMETER_VALUE" and "not found" in str(error).lower()
        if code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND") or not_found:
            return NotFound(f"{what} does not exist in MLflow")
        return Unavailable(
            f"MLflow is unreachable or failed for {what}",
            detail=f"MLflow at {self.tracking_uri} failed for {what}: {_reason(error)}",
        )

    def resolve(self, registered_model: str, alias: str) -> str:
        """Version the alias points to; NotFound if the alias is not set, Unavailable if MLflow fails."""
        try:
            return str(self.client.get_model_version_by_alias(registered_model, alias).version)
        except Exception as error:
            raise self._classify(error, f"alias {alias!r} of registered model {registered_model!r}") from None

    def set_alias(self, registered_model: str, alias: str, version: str) -> None:
        """Point the alias at a version."""
        try:
            self.client.set_registered_model_alias(registered_model, alias, version)
        except Exception as error:
            raise self._classify(
                error, f"version {version} of registered model {registered_model!r}"
            ) from None

    def delete_alias(self, registered_model: str, alias: str) -> None:
        """Remove the alias (a compensation back to "no version"); a missing alias is fine."""
        try:
            self.client.delete_registered_model_alias(registered_model, alias)
        except Exception as error:
            classified = self._classify(error, f"alias {alias!r} of registered model {registered_model!r}")
            if not isinstance(classified, NotFound):
                raise classified from None

    def load(self, registered_model: str, version: str) -> LoadedModel:
        """Download, load and warm up one version; Unavailable with the reason on any failure."""
        import mlflow.artifacts

        started = time.perf_counter()
        workdir = tempfile.mkdtemp(prefix="serving-model-")
        try:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{registered_model}/{version}",
                dst_path=workdir,
                tracking_uri=self.tracking_uri,
                registry_uri=self.tracking_uri,
            )
        except Exception as error:
            shutil.rmtree(workdir, ignore_errors=True)
            raise self._classify(
                error, f"version {version} of registered model {registered_model!r}"
            ) from None
        try:
            model = build_model(registered_model, version, local, started)
        except LoadRefused as error:
            shutil.rmtree(workdir, ignore_errors=True)
            raise Unavailable(f"refusing {registered_model} version {version}: {error}") from None
        except Exception as error:
            shutil.rmtree(workdir, ignore_errors=True)
            raise Unavailable(
                f"cannot load {registered_model} version {version} ({type(error).__name__})",
                detail=f"cannot load {registered_model} version {version}: {_reason(error)}",
            ) from None
        # pyfunc models may read their files after load: keep them while the model lives
        weakref.finalize(model, shutil.rmtree, workdir, True)
        return model
