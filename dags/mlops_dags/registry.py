"""MLflow Model Registry over its REST API (httpx): versions, statuses, aliases, metrics."""

from dataclasses import dataclass
from typing import Any

import httpx


class RegistryError(RuntimeError):
    """MLflow answered with an error or could not be reached."""


@dataclass(frozen=True)
class Version:
    """One model version as the DAGs need it."""

    name: str
    version: str
    status: str
    run_id: str | None
    tags: dict[str, str]

    def metric(self, name: str) -> float | None:
        """A metric the trainer copied into the version's tags (metric.<name>)."""
        value = self.tags.get(f"metric.{name}")
        return float(value) if value is not None else None


def _version(data: dict[str, Any]) -> Version:
    return Version(
        name=data["name"],
        version=str(data["version"]),
        status=data.get("status", ""),
        run_id=data.get("run_id"),
        tags={t["key"]: t["value"] for t in data.get("tags", [])},
    )


class Registry:
    """A small MLflow registry client; every call has a timeout and raises RegistryError on failure."""

    def __init__(self, tracking_uri: str, token: str | None = None, timeout: float = 15.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base = tracking_uri.rstrip("/") + "/api/2.0/mlflow"
        self.client = httpx.Client(timeout=timeout, headers=headers)

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.client.request(method, self.base + path, **kwargs)
        except httpx.HTTPError as error:
            raise RegistryError(f"MLflow at {self.base} unreachable: {error}") from None

    @staticmethod
    def _check(response: httpx.Response, what: str) -> dict[str, Any]:
        if response.status_code >= 400:
            raise RegistryError(f"MLflow {what}: HTTP {response.status_code} {response.text[:300]}")
        return response.json() if response.content else {}

    def version(self, name: str, version: str) -> Version:
        response = self._call("GET", "/model-versions/get", params={"name": name, "version": version})
        return _version(self._check(response, f"get {name} v{version}")["model_version"])

    def alias_version(self, name: str, alias: str) -> Version | None:
        """The version an alias points to, or None when the alias (or the model) does not exist."""
        response = self._call("GET", "/registered-models/alias", params={"name": name, "alias": alias})
        if response.status_code == 404 or (response.status_code == 400 and "not found" in response.text):
            return None
        return _version(self._check(response, f"get alias {name}@{alias}")["model_version"])

    def set_alias(self, name: str, alias: str, version: str) -> None:
        body = {"name": name, "alias": alias, "version": str(version)}
        self._check(self._call("POST", "/registered-models/alias", json=body), f"set {name}@{alias}")

    def delete_alias(self, name: str, alias: str) -> None:
        response = self._call("DELETE", "/registered-models/alias", json={"name": name, "alias": alias})
        missing = response.status_code == 404 or "RESOURCE_DOES_NOT_EXIST" in response.text
        if not missing:
            self._check(response, f"delete {name}@{alias}")

    def model_tags(self, name: str) -> dict[str, str]:
        """Tags of a registered model ({} when the model does not exist)."""
        response = self._call("GET", "/registered-models/get", params={"name": name})
        if response.status_code == 404 or "RESOURCE_DOES_NOT_EXIST" in response.text:
            return {}
        model = self._check(response, f"get model {name}")["registered_model"]
        return {t["key"]: t["value"] for t in model.get("tags", [])}

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        body = {"name": name, "key": key, "value": value}
        self._check(self._call("POST", "/registered-models/set-tag", json=body), f"tag {name} {key}")

    def latest_ready(self, name: str) -> Version | None:
        """The highest READY version of a model, or None."""
        params = {"filter": f"name='{name}'", "max_results": 200, "order_by": ["version_number DESC"]}
        response = self._call("GET", "/model-versions/search", params=params)
        if response.status_code == 404:
            return None
        versions = [_version(v) for v in self._check(response, f"search {name}").get("model_versions", [])]
        ready = [v for v in versions if v.status == "READY"]
        return max(ready, key=lambda v: int(v.version)) if ready else None
