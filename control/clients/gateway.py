"""The serving gateway's admin API over HTTP (`X-API-Key`: INTERNAL_API_KEY), like any other client.

Its answers map onto the control API's errors: 422 and 409 keep the gateway's one-line message, an
unreachable gateway or a 5xx is 503 (the caller may retry)."""

from typing import Any

import httpx

from control.errors import Conflict, ControlError, Invalid, NotFound, Unavailable
from control.settings import ControlSettings

STATUS_ERRORS: dict[int, type[ControlError]] = {404: NotFound, 409: Conflict, 422: Invalid}


class GatewayClient:
    """Runtime model declarations, traffic and reloads of the gateway fleet."""

    def __init__(
        self, settings: ControlSettings, timeout: float = 30.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.base = settings.serving_url
        headers = {"X-API-Key": settings.internal_api_key.get_secret_value(), "X-Actor": "control-api"}
        self._http = httpx.Client(base_url=self.base, headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise Unavailable(f"the gateway at {self.base} did not answer: {type(error).__name__}") from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        message = str(body.get("message") or body.get("error") or response.reason_phrase)
        if response.status_code in STATUS_ERRORS:
            raise STATUS_ERRORS[response.status_code](f"gateway: {message}")
        if response.status_code >= 400:
            raise Unavailable(f"the gateway answered {response.status_code}: {message}")
        return body

    def declaration(self, model: str) -> dict[str, Any] | None:
        """The model's declaration (`managed_by` git or api, its spec, the fleet's convergence), or None."""
        try:
            return self._call("GET", f"/v1/fleet/models/{model}")
        except NotFound:
            return None

    def declare(self, model: str, spec: dict[str, Any]) -> dict[str, Any]:
        """Create or update a runtime model (`changed` says whether anything changed)."""
        return self._call("PUT", f"/v1/fleet/models/{model}", json=spec)

    def delete(self, model: str) -> dict[str, Any]:
        """Stop serving a runtime model on every replica."""
        return self._call("DELETE", f"/v1/fleet/models/{model}")

    def set_traffic(self, model: str, weights: dict[str, int]) -> dict[str, Any]:
        """Store new weights in the model's rollout record."""
        return self._call("PUT", f"/v1/models/{model}/traffic", json={"weights": weights})

    def reload(self, model: str, alias: str) -> dict[str, Any]:
        """Resolve `alias` in MLflow again and record its version for the fleet."""
        return self._call("POST", f"/variant/{alias}/reload", params={"model": model})
