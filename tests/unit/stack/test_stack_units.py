"""Local stack pieces that need no server: env file, Slack sink decoding, service commands."""

from pathlib import Path

from ops.local.stack.envfile import read_env_file, write_env_file
from ops.local.stack.services import mlflow_server, s3_server, weed_ports
from ops.local.stack.settings import StackSettings
from ops.local.stack.slack_sink import decode_payload


def test_env_file_keeps_generated_key(tmp_path: Path) -> None:
    path = tmp_path / "env"
    first = write_env_file(path, {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"})
    second = write_env_file(path, {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5001"})
    assert len(first["INTERNAL_API_KEY"]) >= 32
    assert first["INTERNAL_API_KEY"] == second["INTERNAL_API_KEY"]
    assert read_env_file(path)["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5001"
    assert "export INTERNAL_API_KEY=" in path.read_text()
    assert path.stat().st_mode & 0o077 == 0


def test_slack_payload_decoding() -> None:
    assert decode_payload(b'{"text": "hi"}', "application/json") == {"text": "hi"}
    assert decode_payload(b"payload=%7B%22text%22%3A%22x%22%7D", "application/x-www-form-urlencoded") == {
        "text": "x"
    }
    assert decode_payload(b"not json", "application/json") is None
    assert decode_payload(b"[1]", "application/json") is None


def test_embedded_and_full_mlflow_commands(tmp_path: Path) -> None:
    embedded = mlflow_server(StackSettings(MLOPS_STACK="embedded", MLOPS_STACK_DIR=tmp_path))
    assert "--serve-artifacts" in embedded.argv
    assert any(a.startswith("sqlite:///") for a in embedded.argv)
    full = mlflow_server(StackSettings(MLOPS_STACK="full", MLOPS_STACK_DIR=tmp_path, S3_PORT=9999))
    assert any(a.startswith("postgresql+psycopg2://") for a in full.argv)
    assert "s3://mlflow/artifacts" in full.argv
    assert full.env["MLFLOW_S3_ENDPOINT_URL"] == "http://127.0.0.1:9999"
    for server in (embedded, full):  # /metrics (scrape job `mlflow`) in both modes
        flag = server.argv.index("--expose-prometheus")
        assert server.argv[flag + 1] == str(tmp_path / "mlflow-metrics")


def test_s3_server_binds_loopback_on_distinct_ports(tmp_path: Path) -> None:
    settings = StackSettings(MLOPS_STACK="full", MLOPS_STACK_DIR=tmp_path, WEED_BASE_PORT=21000)
    argv = s3_server(settings).argv
    assert "-ip.bind=127.0.0.1" in argv
    ports = [*list(weed_ports(settings).values()), settings.s3_port]
    assert len(set(ports)) == len(ports)


def test_pid_files_ignore_a_reused_pid(tmp_path: Path) -> None:
    import os

    from ops.local.stack.process import read_pid, start_time

    pid_file = tmp_path / "svc.pid"
    pid_file.write_text(f"{os.getpid()} {start_time(os.getpid())}\n")
    assert read_pid(pid_file) == os.getpid()
    pid_file.write_text(f"{os.getpid()} 1\n")  # same pid, another process's start time
    assert read_pid(pid_file) is None
    pid_file.write_text(f"{os.getpid()}\n")  # pid files of older versions carry the pid only
    assert read_pid(pid_file) == os.getpid()


def test_a_restarted_component_is_healthy_by_its_own_heartbeat(monkeypatch) -> None:
    from datetime import UTC, datetime, timedelta

    import httpx

    from ops.local.stack import stack as stack_module
    from ops.local.stack.services import Service

    started = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    beat = {"value": started - timedelta(seconds=5)}  # the killed scheduler's last heartbeat

    def health(url: str, timeout: float) -> httpx.Response:
        body = {"scheduler": {"status": "healthy", "latest_scheduler_heartbeat": beat["value"].isoformat()}}
        return httpx.Response(200, json=body)

    monkeypatch.setattr(stack_module.httpx, "get", health)
    scheduler = Service("airflow-scheduler", [], "http://airflow.test/api/v2/monitor/health", {}, "scheduler")
    assert stack_module.service_healthy(scheduler)  # `make status`: healthy by the recent heartbeat
    assert not stack_module.service_healthy(scheduler, since=started)  # `make up` waits for the new one
    beat["value"] = started + timedelta(seconds=2)
    assert stack_module.service_healthy(scheduler, since=started)
