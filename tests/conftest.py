"""Shared fixtures: real local stacks on free ports, the Slack sink, trainer helpers."""

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ops.local.stack import Stack
from tests.support.alerting import write_serving_config
from tests.support.stack import RunningStack, SlackSink, stack_settings, train_and_register


def _start(settings) -> Iterator[RunningStack]:
    stack = Stack(settings)
    try:
        stack.up(log=lambda _line: None)
        yield RunningStack(stack)
    finally:
        stack.down()


@pytest.fixture(scope="session")
def mlflow_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The embedded stack (MLflow on SQLite + local artifacts, Slack sink), no gateway."""
    yield from _start(stack_settings(tmp_path_factory.mktemp("stack-embedded")))


@pytest.fixture(scope="session")
def full_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The full stack: PostgreSQL + SeaweedFS S3 + MLflow on them, Slack sink, Airflow (PostgreSQL
    metadata DB, task logs to S3), Prometheus and Alertmanager, and a gateway serving only the alerting
    test's model (tests.support.alerting). That gateway keeps its state in a database of its own: the
    deployment and fleet tests' gateways share `serving`, and the models they add at runtime reach
    every replica on it (this one could not load them from its MLflow: their fleets would not converge)."""
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")) and not shutil.which("initdb"):
        pytest.fail("PostgreSQL is not installed: `make test` installs it (ci/system-deps.sh postgresql)")
    # PostgreSQL runs as the postgres user, which cannot enter pytest's private (0700) temp folders.
    state = Path(tempfile.mkdtemp(prefix="mlops-full-stack-"))
    state.chmod(0o711)
    try:
        settings = stack_settings(
            state,
            mode="full",
            with_airflow=True,
            with_gateway=True,
            serving_config=write_serving_config(state),
            serving_database="serving_alerts",
        )
        yield from _start(settings)
    finally:
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The stack as `make up` starts it: MLflow, gateway, the control API, a real Airflow (API server,
    scheduler, DAG processor, triggerer) and the Slack sink, on free ports; started once per session
    (the heaviest fixture) and shared by the end-to-end tests and the control API's integration tests."""
    state: Path = tmp_path_factory.mktemp("airflow-stack")
    yield from _start(stack_settings(state, with_gateway=True, with_airflow=True, with_control=True))


@pytest.fixture(scope="session")
def slack_sink(mlflow_stack: RunningStack) -> SlackSink:
    """The embedded stack's Slack webhook sink."""
    return SlackSink(mlflow_stack.settings.slack_webhook_url, mlflow_stack.slack_log)


@pytest.fixture(scope="session")
def register_model(
    mlflow_stack: RunningStack, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., dict]:
    """Train and register an example config on the embedded stack.

    Usage: register_model("iris", alias="champion", hyperparameters={...}).
    """
    counter = iter(range(10_000))

    def register(
        base: str = "iris", alias: str | None = None, name: str | None = None, **overrides: Any
    ) -> dict:
        folder = tmp_path_factory.mktemp(f"model-{base}-{next(counter)}")
        return train_and_register(mlflow_stack, folder, base, alias=alias, name=name, **overrides)

    return register


def _project_shared_fixtures(item: pytest.Item) -> set[str]:
    """The session- and package-scoped fixtures of this project (tests/) that the item uses."""
    fixtureinfo = getattr(item, "_fixtureinfo", None)
    shared = set()
    for name, defs in (fixtureinfo.name2fixturedefs if fixtureinfo else {}).items():
        for fixturedef in defs:
            module = getattr(fixturedef.func, "__module__", "") or ""
            if fixturedef.scope in ("session", "package") and module.startswith("tests."):
                shared.add(name)
    return shared


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with an xdist group (`make test` runs `--dist loadgroup`): the tests of one file
    and the tests that share a session or package fixture of tests/ (a started stack, one render of
    every chart) run on one worker, so nothing is started twice and a module keeps its order."""
    parent = list(range(len(items)))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    first_of: dict[str, int] = {}
    for index, item in enumerate(items):
        for key in (f"file:{item.nodeid.split('::')[0]}", *sorted(_project_shared_fixtures(item))):
            if key in first_of:
                parent[root(index)] = root(first_of[key])
            else:
                first_of[key] = index
    for index, item in enumerate(items):
        item.add_marker(pytest.mark.xdist_group(items[root(index)].nodeid.split("::")[0]))
