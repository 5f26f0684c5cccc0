"""The serving gateway over HTTP: status, reload, traffic, and the check that every replica serves it."""

import time
from collections.abc import Callable
from typing import Any

import httpx


class ServingError(RuntimeError):
    """The gateway refused an action, could not be reached, or does not serve what was expected."""


class Gateway:
    """Admin client of one gateway (X-API-Key from the `serving_admin` connection)."""

    def __init__(self, url: str, api_key: str | None, actor: str = "airflow", timeout: float = 120.0) -> None:
        self.url = url.rstrip("/")
        headers = {"X-Actor": actor, **({"X-API-Key": api_key} if api_key else {})}
        self.client = httpx.Client(base_url=self.url, timeout=timeout, headers=headers)

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise ServingError(f"gateway {self.url} unreachable ({method} {path}): {error}") from None
        if response.status_code >= 400:
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text
            raise ServingError(f"gateway {method} {path}: HTTP {response.status_code}: {message[:400]}")
        return response.json()

    def status(self, model: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/models/{model}")

    def reload(self, model: str, alias: str) -> dict[str, Any]:
        """POST /variant/{alias}/reload: the gateway resolves the alias in MLflow and swaps atomically."""
        return self._call("POST", f"/variant/{alias}/reload", params={"model": model})

    def set_traffic(self, model: str, weights: dict[str, int]) -> dict[str, Any]:
        return self._call("PUT", f"/v1/models/{model}/traffic", json={"weights": weights})

    def predict(self, model: str, body: dict[str, Any], variant: str | None = None) -> dict[str, Any]:
        headers = {"X-Variant": variant} if variant else {}
        return self._call("POST", f"/v1/models/{model}/predict", json=body, headers=headers)


def variants_of(status: dict[str, Any], alias: str) -> list[str]:
    """Names of the (non-shadow and shadow) variants that serve an alias."""
    return [v["name"] for v in status.get("variants", []) if v.get("alias") == alias]


def serving_state(status: dict[str, Any], alias: str) -> str:
    """One line: the version each alive replica serves for the alias."""
    names = variants_of(status, alias)
    replicas = [r for r in status.get("replicas", []) if r.get("alive")]
    parts = [
        f"{r['replica_id']}: " + ",".join(f"{n}=v{r.get('versions', {}).get(n)}" for n in names)
        for r in replicas
    ]
    return f"alias {alias} → v{status.get('aliases', {}).get(alias)}; replicas: " + (
        "; ".join(parts) or "none alive"
    )


def replicas_behind(status: dict[str, Any], alias: str, version: str | None, min_replicas: int) -> str | None:
    """Why not every alive replica serves `version` for `alias` yet, or None when they all do."""
    names = variants_of(status, alias)
    if not names:
        return f"model {status.get('name')} has no variant with alias {alias}"
    alive = [r for r in status.get("replicas", []) if r.get("alive")]
    if len(alive) < min_replicas:
        return f"{len(alive)} alive replica(s) report, {min_replicas} expected"
    for replica in alive:
        for name in names:
            served = replica.get("versions", {}).get(name)
            if served != version:
                return f"replica {replica['replica_id']} serves {name}=v{served}, expected v{version}"
    return None


def wait_until_served(
    gateway: Gateway,
    model: str,
    alias: str,
    version: str | None,
    min_replicas: int,
    timeout: float,
    interval: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll the gateway's status until every alive replica serves `version`; ServingError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        status = gateway.status(model)
        behind = replicas_behind(status, alias, version, min_replicas)
        if behind is None:
            return status
        if time.monotonic() >= deadline:
            raise ServingError(
                f"not every replica serves {model}@{alias} v{version} after {timeout:.0f}s: {behind} "
                f"({serving_state(status, alias)})"
            )
        sleep(interval)
