"""The local stack's lifecycle: idempotent up, down keeps data, clear errors when a service fails."""

from pathlib import Path

import httpx
import pytest
from mlflow import MlflowClient

from ops.local.stack import Stack, StackError
from tests.support.stack import RunningStack, stack_settings, train_and_register


def test_up_twice_is_a_noop_and_down_up_keeps_the_registry(tmp_path: Path) -> None:
    stack = Stack(stack_settings(tmp_path / "state"))
    try:
        assert set(stack.up(log=lambda _: None)) == {"slack-sink", "mlflow"}
        assert stack.up(log=lambda _: None) == []
        running = RunningStack(stack)
        result = train_and_register(running, tmp_path / "m1", "iris", alias="champion")
        train_and_register(running, tmp_path / "m2", "iris", alias="challenger")
        assert all(row.healthy for row in stack.status())

        stopped = stack.down()
        assert {"slack-sink", "mlflow"} <= set(stopped)
        assert not any(row.healthy for row in stack.status())
        with pytest.raises(httpx.HTTPError):
            httpx.get(stack.settings.mlflow_uri + "/health", timeout=2)

        stack.up(log=lambda _: None)
        client = MlflowClient(stack.settings.mlflow_uri)
        assert client.get_experiment_by_name("iris") is not None
        assert client.get_run(result["train"]["run_id"]).info.status == "FINISHED"
        assert client.get_model_version_by_alias("iris", "champion").version == "1"
        assert client.get_model_version_by_alias("iris", "challenger").version == "2"
        assert client.get_model_version("iris", "1").status == "READY"
        key = stack.api_key()
        stack.down()
        stack.up(log=lambda _: None)
        assert stack.api_key() == key
    finally:
        stack.down()


def test_a_service_that_cannot_start_is_named_with_its_log(tmp_path: Path) -> None:
    import socket

    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        stack = Stack(stack_settings(tmp_path / "state", slack_sink_port=taken, start_timeout=15.0))
        try:
            with pytest.raises(StackError) as caught:
                stack.up(log=lambda _: None)
        finally:
            stack.down()
    message = str(caught.value)
    assert "slack-sink" in message and "slack-sink.log" in message


def test_mode_switch_while_running_is_refused(tmp_path: Path) -> None:
    embedded = Stack(stack_settings(tmp_path / "state"))
    try:
        embedded.up(log=lambda _: None)
        full = Stack(stack_settings(tmp_path / "state", mode="full"))
        with pytest.raises(StackError, match="make down"):
            full.up(log=lambda _: None)
    finally:
        embedded.down()
