"""The processes of the local stack: how each is started and how its health is checked."""

import sys
from dataclasses import dataclass, field
from pathlib import Path

from ops.local.stack.settings import StackSettings


@dataclass(frozen=True)
class Service:
    """A background process of the stack with an HTTP health check: health_url answers below 500 or,
    with health_key, its JSON reports that component `healthy` (Airflow's /api/v2/monitor/health).
    `endpoint` is what `make status` shows (default: health_url without its last segment)."""

    name: str
    argv: list[str]
    health_url: str
    env: dict[str, str] = field(default_factory=dict)
    health_key: str | None = None
    endpoint: str | None = None

    def log_file(self, settings: StackSettings) -> Path:
        return settings.logs_dir / f"{self.name}.log"

    def pid_file(self, settings: StackSettings) -> Path:
        return settings.run_dir / f"{self.name}.pid"


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def weed_ports(settings: StackSettings) -> dict[str, int]:
    """SeaweedFS listens on several ports; they are laid out from one base port."""
    base = settings.weed_base_port
    return {
        "master.port": base,
        "master.port.grpc": base + 1,
        "volume.port": base + 2,
        "volume.port.grpc": base + 3,
        "filer.port": base + 4,
        "filer.port.grpc": base + 5,
        "s3.port.grpc": base + 6,
    }


def s3_server(settings: StackSettings) -> Service:
    """SeaweedFS (master, volume, filer) with its S3 gateway, bound to loopback only."""
    data = settings.state_dir / "s3"
    data.mkdir(parents=True, exist_ok=True)
    ports = [f"-{flag}={port}" for flag, port in weed_ports(settings).items()]
    argv = [
        _bin("weed"),
        "server",
        f"-dir={data}",
        f"-ip={settings.host}",
        f"-ip.bind={settings.host}",
        "-filer",
        "-s3",
        f"-s3.port={settings.s3_port}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.volumeSizeLimitMB=256",
        "-volume.max=32",
        # A single master: elect itself on every start instead of waiting for a raft quorum it had before.
        "-master.resumeState=false",
        f"-master.peers={settings.host}:{settings.weed_base_port}",
        *ports,
    ]
    return Service("s3", argv, settings.s3_endpoint_url + "/healthz")


def mlflow_store(settings: StackSettings) -> tuple[str, str, dict[str, str]]:
    """Backend store URI, artifact destination and extra env for the mode."""
    if settings.mode == "full":
        env = {
            "MLFLOW_S3_ENDPOINT_URL": settings.s3_endpoint_url,
            "AWS_ACCESS_KEY_ID": settings.aws_access_key_id,
            "AWS_SECRET_ACCESS_KEY": settings.aws_secret_access_key,
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        return (
            f"{settings.postgres_url}/mlflow".replace("postgresql://", "postgresql+psycopg2://"),
            f"s3://{settings.s3_bucket}/artifacts",
            env,
        )
    folder = settings.state_dir / "mlflow"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}", str(folder / "artifacts"), {}


def mlflow_metrics_dir(settings: StackSettings) -> Path:
    """Where the tracking server's workers keep their Prometheus metrics (emptied at each start)."""
    return settings.state_dir / "mlflow-metrics"


def mlflow_server(settings: StackSettings) -> Service:
    """The MLflow tracking server with proxied artifacts (--serve-artifacts) and /metrics
    (--expose-prometheus: scrape job `mlflow`)."""
    backend, artifacts, env = mlflow_store(settings)
    # The job runner serves GenAI features (scorers, trace rollups) and adds six worker processes.
    env = {**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    argv = [
        _bin("mlflow"),
        "server",
        "--backend-store-uri",
        backend,
        "--serve-artifacts",
        "--artifacts-destination",
        artifacts,
        "--host",
        settings.host,
        "--port",
        str(settings.mlflow_port),
        "--workers",
        "2" if settings.mode == "full" else "1",
        "--expose-prometheus",
        str(mlflow_metrics_dir(settings)),
    ]
    return Service("mlflow", argv, settings.mlflow_uri + "/health", env)


def mlflow_schema_upgrade(settings: StackSettings) -> tuple[list[str], dict[str, str]]:
    """argv and env of `mlflow db upgrade` on the server's backend store: what the chart's Sync hook Job
    runs before the server rolls (charts/mlflow/templates/db-upgrade-job.yaml)."""
    backend, _, env = mlflow_store(settings)
    return [_bin("mlflow"), "db", "upgrade", backend], env


def slack_sink(settings: StackSettings) -> Service:
    """The local Slack webhook sink writing .stack/slack.jsonl."""
    argv = [
        sys.executable,
        "-m",
        "ops.local.stack.slack_sink",
        "--host",
        settings.host,
        "--port",
        str(settings.slack_sink_port),
        "--file",
        str(settings.slack_log),
        "--callbacks-file",
        str(settings.callbacks_log),
    ]
    return Service("slack-sink", argv, f"http://{settings.host}:{settings.slack_sink_port}/")


def database_url(settings: StackSettings, name: str, sqlite_file: str) -> str:
    """A service's own database: on the stack's PostgreSQL (full), else a SQLite file in its folder."""
    if settings.mode == "full":
        return settings.postgres_url.replace("postgresql://", "postgresql+psycopg2://") + f"/{name}"
    folder = settings.state_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / sqlite_file}"


def serving_state_url(settings: StackSettings) -> str:
    return database_url(settings, settings.serving_database, "state.db")


def gateway(settings: StackSettings, api_key: str) -> Service:
    """The serving gateway with the demo config, its state store and the Slack sink."""
    env = {
        "SERVING_CONFIG": str(settings.serving_config),
        "SERVING_HOST": settings.host,
        "SERVING_PORT": str(settings.serving_port),
        "MLFLOW_TRACKING_URI": settings.mlflow_uri,
        "SERVING_STATE_URL": serving_state_url(settings),
        "INTERNAL_API_KEY": api_key,
        "SLACK_WEBHOOK_URL": settings.slack_webhook_url,
        "LOG_DIR": str(settings.logs_dir / "serving"),
    }
    return Service("gateway", [sys.executable, "-m", "serving"], settings.serving_url + "/healthz", env)


def control_api(settings: StackSettings, values: dict[str, str]) -> Service:
    """The control API: its database, Airflow as the CI/API user, MLflow, the gateway's admin key, the
    keys from `.stack/env`, callbacks allowed to loopback only (the sink's /callbacks/ receiver)."""
    env = {
        "CONTROL_HOST": settings.host,
        "CONTROL_PORT": str(settings.control_port),
        "CONTROL_DATABASE_URL": database_url(settings, "control", "control.db"),
        "CONTROL_REPLICA_ID": "control-local",
        "CONTROL_API_KEYS": f"local:{values['CONTROL_API_KEY']}",
        "AIRFLOW_URL": settings.airflow_url,
        "AIRFLOW_API_USER": values.get("AIRFLOW_API_USER", "ci"),
        "AIRFLOW_API_PASSWORD": values.get("AIRFLOW_API_PASSWORD", ""),
        "MLFLOW_TRACKING_URI": settings.mlflow_uri,
        "SERVING_URL": settings.serving_url,
        "INTERNAL_API_KEY": values["INTERNAL_API_KEY"],
        "CALLBACK_SIGNING_SECRETS": values["CALLBACK_SIGNING_SECRET"],
        "CALLBACK_ALLOWED_HOSTS": f"{settings.host},localhost",
        # One machine: retry a callback at least every 10 s, take over a dead replica's lease in 10 s.
        "CALLBACK_BACKOFF_MAX_SECONDS": "10",
        "CONTROL_LEASE_SECONDS": "10",
        "LOG_DIR": str(settings.logs_dir / "control"),
    }
    return Service("control", [sys.executable, "-m", "control"], settings.control_url + "/readyz", env)
