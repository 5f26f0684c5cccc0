"""The release steps the DAGs share, against a real MLflow and a real gateway (the local stack, free ports):
the target check names the registered model, and a rollback without before_version never leaves the failed
version taking traffic."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from mlops_dags.conf import RollbackConf
from mlops_dags.registry import Registry
from mlops_dags.release import check_target, known_good_tag, record_known_good, rollback
from mlops_dags.serving import Gateway, ServingError

from ops.stack import Stack
from tests.support.stack import RunningStack, stack_settings, train_and_register


@dataclass
class Served:
    running: RunningStack
    registry: Registry
    gateway: Gateway
    versions: list[str]
    folder: Path

    def train(self) -> str:
        """One more iris version (not aliased); returns its number."""
        folder = self.folder / f"v{len(self.versions) + 1}"
        version = str(train_and_register(self.running, folder, "iris")["register"]["version"])
        self.versions.append(version)
        return version

    def release(self, alias: str, version: str) -> None:
        """What set_alias + reload do: the alias moves, the gateway serves it."""
        self.registry.set_alias("iris", alias, version)
        assert str(self.gateway.reload("iris", alias)["version"]) == version

    def served_versions(self, requests: int = 20) -> set[str]:
        """Versions that answer plain predictions (no X-Variant: the traffic split decides)."""
        url = f"{self.running.settings.serving_url}/v1/models/iris/predict"
        return {
            str(httpx.post(url, json={"inputs": [[5.1, 3.5, 1.4, 0.2]]}, timeout=30).json()["version"])
            for _ in range(requests)
        }


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """iris v1 on champion and v2 on challenger, served by a gateway (canary config, 90/10)."""
    state = tmp_path_factory.mktemp("release")
    stack = Stack(stack_settings(state / "stack", with_gateway=True))
    try:
        stack.up(log=lambda _line: None)
        running = RunningStack(stack)
        registry = Registry(running.tracking_uri)
        gateway = Gateway(stack.settings.serving_url, stack.api_key(), actor="test")
        served = Served(running, registry, gateway, [], state)
        served.release("champion", served.train())
        served.release("challenger", served.train())
        yield served
    finally:
        stack.down()


def test_check_target_refuses_a_gateway_model_that_serves_another_registered_model(served: Served) -> None:
    """Regression: check_target never compared the gateway's registered_model with the DAG's model."""
    assert check_target(served.gateway, "iris", "challenger", "canary", "iris")["registered_model"] == "iris"
    with pytest.raises(ServingError, match=r"serves registered model 'iris', not 'wine'"):
        check_target(served.gateway, "iris", "challenger", "canary", "wine")


def test_rollback_without_before_version_restores_the_last_known_good(served: Served) -> None:
    """Regression: before_version=None removed the alias and left the failed version serving."""
    good = served.versions[1]
    record_known_good(served.registry, "iris", "challenger", good)
    failed = served.train()
    served.release("challenger", failed)
    result = rollback(served.registry, served.gateway, RollbackConf(model="iris", alias="challenger"))
    assert (result["restored"], result["known_good"], result["alias_was"]) == (good, good, failed)
    assert served.registry.alias_version("iris", "challenger").version == good
    replicas = served.gateway.status("iris")["replicas"]
    assert all(r["versions"]["challenger"] == good for r in replicas if r["alive"])


def test_rollback_with_nothing_to_restore_takes_the_failed_variant_out_of_traffic(served: Served) -> None:
    """No before_version and no other known-good version: the alias goes, and so does the traffic."""
    failed = served.train()
    served.registry.set_model_tag("iris", known_good_tag("challenger"), failed)  # nothing older is known
    served.release("challenger", failed)
    result = rollback(served.registry, served.gateway, RollbackConf(model="iris", alias="challenger"))
    assert result["restored"] is None and result["alias_was"] == failed
    assert "challenger" in result["serving"] and "gets no traffic" in result["serving"]
    assert served.registry.alias_version("iris", "challenger") is None
    assert served.gateway.status("iris")["weights"] == {"champion": 100, "challenger": 0}
    assert served.served_versions() == {served.versions[0]}
