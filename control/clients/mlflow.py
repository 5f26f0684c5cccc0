"""MLflow's REST API: check that a model version exists and point an alias at it."""

from typing import Any

import httpx

from control.errors import Invalid, Unavailable
from control.settings import ControlSettings


class MlflowClient:
    """The two registry calls a deployment needs."""

    def __init__(
        self, settings: ControlSettings, timeout: float = 30.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.base = settings.mlflow_tracking_uri
        self._http = httpx.Client(base_url=self.base, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, f"/api/2.0/mlflow{path}", **kwargs)
        except httpx.HTTPError as error:
            raise Unavailable(f"MLflow at {self.base} did not answer: {type(error).__name__}") from None

    def require_version(self, registered_model: str, version: str, field: str) -> None:
        """422 naming `field` when the version does not exist; 503 when MLflow fails."""
        response = self._call(
            "GET", "/model-versions/get", params={"name": registered_model, "version": version}
        )
        if response.status_code in (400, 404):
            raise Invalid(
                f"{field}: version {version} of {registered_model!r} does not exist in MLflow",
                field=field,
            )
        if response.status_code >= 400:
            raise Unavailable(f"MLflow answered {response.status_code} to a model version lookup")

    def set_alias(self, registered_model: str, alias: str, version: str) -> None:
        """Point `alias` at `version`."""
        body = {"name": registered_model, "alias": alias, "version": version}
        response = self._call("POST", "/registered-models/alias", json=body)
        if response.status_code >= 400:
            raise Unavailable(f"MLflow answered {response.status_code} to setting alias {alias!r}")
