"""Fixtures of the gateway integration tests: example models in the shared MLflow, gateway processes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.serving.corpus import GATEWAYS, Entry, digits_entry, log_corpus, text_entry
from tests.integration.serving.support import GatewayProcess, start_gateway

MODEL = "gw-iris"
CORPUS_START_SECONDS = 600
# the corpus gateways' body deadline: short enough for test_hardening to trickle past it
BODY_TIMEOUT_SECONDS = 8.0


@dataclass
class Versions:
    """Registered model `gw-iris`: v_a and v_b are trained iris models, faulty is a pyfunc that raises."""

    tracking_uri: str
    name: str
    v_a: str
    v_b: str
    faulty: str

    def client(self) -> Any:
        from mlflow.tracking import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def set_alias(self, alias: str, version: str) -> None:
        self.client().set_registered_model_alias(self.name, alias, version)

    def alias(self, alias: str) -> str:
        return str(self.client().get_model_version_by_alias(self.name, alias).version)


IRIS_COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


def _register_pyfunc(
    tracking_uri: str, name: str, python_model: Any, columns: list[str] = IRIS_COLUMNS
) -> str:
    """Log a pyfunc model (its module pickled by value) with a double-column signature; its version."""
    import sys

    import cloudpickle
    import mlflow
    import pandas as pd
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    cloudpickle.register_pickle_by_value(sys.modules[type(python_model).__module__])
    example = pd.DataFrame(
        [[5.1, 3.5, 1.4, 0.2][: len(columns)], [6.2, 2.9, 4.3, 1.3][: len(columns)]], columns=columns
    )
    signature = ModelSignature(Schema([ColSpec("double", c) for c in columns]), Schema([ColSpec("long")]))
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("gw-pyfunc")
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=python_model,
            signature=signature,
            input_example=example,
            pip_requirements=["mlflow", "pandas"],  # skips inferring them in a subprocess
            registered_model_name=name,
        )
    return str(info.registered_model_version)


def _register_faulty(tracking_uri: str, name: str) -> str:
    from tests.integration.serving import faulty_model

    return _register_pyfunc(tracking_uri, name, faulty_model.FaultyModel())


@pytest.fixture(scope="session")
def versions(mlflow_stack: Any, register_model: Callable[..., dict]) -> Versions:
    """Two trained versions and one faulty version of `gw-iris` in the shared MLflow."""
    first = register_model("iris", name=MODEL)
    second = register_model("iris", name=MODEL, hyperparameters={"C": 0.02, "max_iter": 500})
    faulty = _register_faulty(mlflow_stack.tracking_uri, MODEL)
    return Versions(
        mlflow_stack.tracking_uri,
        MODEL,
        str(first["register"]["version"]),
        str(second["register"]["version"]),
        faulty,
    )


@dataclass
class Misfits:
    """Versions of `gw-iris` that misbehave: slow to load, slow to answer, a different signature."""

    slow_load: str
    slow_predict: str
    other_columns: str


@pytest.fixture(scope="session")
def misfits(versions: Versions) -> Misfits:
    """Registered once per session (only tests that need them pay for them)."""
    from tests.integration.serving import pyfunc_models as models

    return Misfits(
        slow_load=_register_pyfunc(versions.tracking_uri, versions.name, models.SlowLoadModel()),
        slow_predict=_register_pyfunc(versions.tracking_uri, versions.name, models.SlowPredictModel()),
        other_columns=_register_pyfunc(
            versions.tracking_uri,
            versions.name,
            models.OtherColumnsModel(),
            [*IRIS_COLUMNS[:3], "petal colour"],
        ),
    )


@pytest.fixture(scope="session")
def spare(versions: Versions, register_model: Callable[..., dict]) -> str:
    """One more trained version of `gw-iris`, for tests that make its artifacts unreadable for a while."""
    return str(register_model("iris", name=versions.name)["register"]["version"])


@pytest.fixture
def gateways(tmp_path: Path) -> Iterator[Callable[..., GatewayProcess]]:
    """Start gateways for one test; all are stopped at its end."""
    started: list[GatewayProcess] = []

    def start(config: dict[str, Any], tracking_uri: str, **kwargs: Any) -> GatewayProcess:
        folder = kwargs.pop("folder", tmp_path)
        gateway = start_gateway(folder, config, tracking_uri, **kwargs)
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


def single(alias: str, model: str = "iris", **extra: Any) -> dict[str, Any]:
    """Config of one model with one variant."""
    return {
        "models": [
            {
                "name": model,
                "registered_model": MODEL,
                "strategy": "single",
                "variants": [{"name": "main", "alias": alias, "weight": 100}],
                **extra,
            }
        ]
    }


@pytest.fixture(scope="session")
def corpus(mlflow_stack: Any, register_model: Callable[..., dict]) -> list[Entry]:
    """Every corpus model registered in the shared MLflow with alias `champion` on its version."""
    from concurrent.futures import ThreadPoolExecutor

    from mlflow.tracking import MlflowClient

    with ThreadPoolExecutor(2) as pool:  # the trainer runs in subprocesses while this process logs
        text_job = pool.submit(register_model, "text", name="eq-text")
        digits_job = pool.submit(register_model, "digits", name="eq-digits")
        entries = log_corpus(mlflow_stack.tracking_uri, "eq-")
        text, digits = text_job.result(), digits_job.result()
    entries += [
        text_entry("eq-text", str(text["register"]["version"])),
        digits_entry("eq-digits", str(digits["register"]["version"])),
    ]
    client = MlflowClient(tracking_uri=mlflow_stack.tracking_uri, registry_uri=mlflow_stack.tracking_uri)
    for entry in entries:
        client.set_registered_model_alias(entry.name, "champion", entry.version)
    return entries


@pytest.fixture(scope="session")
def corpus_gateways(
    corpus: list[Entry], mlflow_stack: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, GatewayProcess]]:
    """Corpus model name → the gateway serving it: two processes (`corpus.GATEWAYS`), started together."""
    folder = tmp_path_factory.mktemp("corpus-gateways")
    served = {entry.name for entry in corpus}
    started: dict[str, GatewayProcess] = {}
    try:
        for group, names in GATEWAYS.items():
            assert served.issuperset(names), f"{group}: {set(names) - served} not in the corpus"
            config = {
                "default_model": names[0],
                "body_timeout_seconds": BODY_TIMEOUT_SECONDS,
                "models": [
                    {
                        "name": name,
                        "registered_model": name,
                        "strategy": "single",
                        "variants": [{"name": "main", "alias": "champion", "weight": 100}],
                    }
                    for name in names
                ],
            }
            gateway = start_gateway(folder / group, config, mlflow_stack.tracking_uri, wait_healthy=False)
            started.update(dict.fromkeys(names, gateway))
        # they start together and share the cores: one deadline for all, generous for a busy machine
        deadline = time.monotonic() + CORPUS_START_SECONDS
        for gateway in set(started.values()):
            gateway.wait_ready(timeout=max(30.0, deadline - time.monotonic()))
        yield started
    finally:
        for gateway in set(started.values()):
            gateway.stop()


@pytest.fixture(scope="module")
def gateways_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., GatewayProcess]]:
    """Start ready gateways shared by one test module; all are stopped at its end."""
    started: list[GatewayProcess] = []
    folder = tmp_path_factory.mktemp("module-gateways")

    def start(config: dict[str, Any], tracking_uri: str, **kwargs: Any) -> GatewayProcess:
        gateway = start_gateway(folder / str(len(started)), config, tracking_uri, **kwargs)
        started.append(gateway)
        gateway.wait_ready(timeout=120)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()
