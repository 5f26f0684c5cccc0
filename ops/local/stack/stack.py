"""The local stack: start every service, wait until healthy, stop what it started, report status."""

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

# Modules, not names: ops.local.airflow imports this package's modules too (resolved at call time).
from ops.local.airflow import home as airflow_home
from ops.local.airflow import services as airflow_services
from ops.local.stack import monitoring, process
from ops.local.stack.envfile import GENERATED, read_env_file, write_env_file
from ops.local.stack.errors import StackError
from ops.local.stack.postgres import Postgres
from ops.local.stack.services import (
    Service,
    control_api,
    gateway,
    mlflow_metrics_dir,
    mlflow_schema_upgrade,
    mlflow_server,
    s3_server,
    slack_sink,
)
from ops.local.stack.settings import REPO_ROOT, StackSettings

# What `down` stops, step by step: Airflow's API clients and Prometheus (which scrapes everything), then
# the servers clients call (Airflow's API server, the control API, the gateway, Alertmanager), then what
# they all use.
STOP_ORDER: tuple[tuple[str, ...], ...] = (
    ("airflow-triggerer", "airflow-dag-processor", "airflow-scheduler", "prometheus"),
    ("airflow-api", "control", "gateway", "alertmanager"),
    ("mlflow", "s3", "slack-sink", "airflow-statsd"),
)


@dataclass(frozen=True)
class ServiceStatus:
    """One row of `make status`."""

    name: str
    pid: int | None
    healthy: bool
    endpoint: str
    log: Path


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True when the URL answers below HTTP 500."""
    try:
        return httpx.get(url, timeout=timeout).status_code < 500
    except httpx.HTTPError:
        return False


def service_healthy(service: Service, since: datetime | None = None) -> bool:
    """The service's health check: HTTP below 500, or its component `healthy` in the health JSON; with
    `since`, by a heartbeat from then on (a process killed a moment ago still looks healthy for a while
    by its last heartbeat, so the one started after it must have beaten itself)."""
    if service.health_key is None:
        return http_ok(service.health_url)
    try:
        report = httpx.get(service.health_url, timeout=2.0).json()
    except (httpx.HTTPError, ValueError):
        return False
    component = report.get(service.health_key) or {}
    if component.get("status") != "healthy":
        return False
    if since is None:
        return True
    beat = component.get(f"latest_{service.health_key}_heartbeat")
    try:
        return beat is not None and datetime.fromisoformat(beat) >= since
    except ValueError:
        return False


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


class Stack:
    """The local stack in one mode (embedded: SQLite + local files; full: PostgreSQL + S3)."""

    def __init__(self, settings: StackSettings | None = None) -> None:
        self.settings = settings or StackSettings()
        self.state_file = self.settings.state_dir / "stack.json"
        self.env_file = self.settings.state_dir / "env"
        self.postgres = Postgres(
            self.settings.state_dir / "postgres",
            self.settings.host,
            self.settings.postgres_port,
            self.settings.logs_dir / "postgres.log",
        )

    # -- what runs ---------------------------------------------------------------------------
    def api_key(self) -> str:
        """The generated admin key (read from .stack/env; generated on first use)."""
        return read_env_file(self.env_file).get("INTERNAL_API_KEY") or self.env_values()["INTERNAL_API_KEY"]

    def env_values(self) -> dict[str, str]:
        """The values `.stack/env` exports (written on each up, key kept)."""
        s = self.settings
        values = {
            "MLOPS_STACK": s.mode,
            "MLFLOW_TRACKING_URI": s.mlflow_uri,
            "SERVING_URL": s.serving_url,
            "SLACK_WEBHOOK_URL": s.slack_webhook_url,
        }
        if s.mode == "full":
            values.update(
                MLFLOW_S3_ENDPOINT_URL=s.s3_endpoint_url,
                AWS_ACCESS_KEY_ID=s.aws_access_key_id,
                AWS_SECRET_ACCESS_KEY=s.aws_secret_access_key,
            )
        if s.with_control:
            values.update(CONTROL_URL=s.control_url, CALLBACK_URL=s.callback_url)
        if s.with_airflow:
            values.update(
                AIRFLOW_URL=s.airflow_url,
                AIRFLOW_METRICS_URL=s.airflow_metrics_url,
                AIRFLOW_ADMIN_USER=airflow_home.ADMIN_USER,
                AIRFLOW_API_USER=airflow_home.API_USER,
            )
        return write_env_file(self.env_file, values, {**GENERATED, **airflow_home.LOGINS})

    def client_env(self) -> dict[str, str]:
        """Environment for processes that use the stack (trainer, Airflow tasks, tests)."""
        return {k: v for k, v in self.env_values().items() if k != "MLOPS_STACK"}

    def written_values(self) -> dict[str, str]:
        """`.stack/env` as the last `up` wrote it; written only when it lacks a generated value, so
        `make status` never rewrites it."""
        values = read_env_file(self.env_file)
        generated = {**GENERATED, **airflow_home.LOGINS}
        return values if all(values.get(name) for name in generated) else self.env_values()

    def airflow(self) -> "airflow_home.AirflowHome":
        """The stack's Airflow (its home, users, keys and environment)."""
        return airflow_home.AirflowHome(self.settings, self.written_values())

    def services(self) -> list[Service]:
        """The HTTP services of this mode, in start order."""
        s = self.settings
        ordered = [slack_sink(s)]
        if s.mode == "full":
            ordered.append(s3_server(s))
        ordered.append(mlflow_server(s))
        if s.with_gateway:
            ordered.append(gateway(s, self.api_key()))
        if s.with_control:
            ordered.append(control_api(s, self.written_values()))
        if s.with_airflow:
            ordered.extend(airflow_services.airflow_services(s, self.airflow().env()))
        if s.monitoring:
            # Alertmanager first: Prometheus sends to it from its first rule evaluation on.
            ordered.extend([monitoring.alertmanager_server(s), monitoring.prometheus_server(s)])
        return ordered

    # -- lifecycle ---------------------------------------------------------------------------
    def _check_mode(self) -> None:
        if not self.state_file.exists():
            return
        recorded = json.loads(self.state_file.read_text()).get("mode")
        running = any(process.read_pid(svc.pid_file(self.settings)) for svc in self._all_known_services())
        if recorded and recorded != self.settings.mode and (running or self.postgres.running()):
            raise StackError(
                f"the stack in {self.settings.state_dir} is running in {recorded} mode; "
                f"run `make down` before starting it in {self.settings.mode} mode"
            )

    def _all_known_services(self) -> list[Service]:
        return [Service(name, [], "") for step in STOP_ORDER for name in step]

    def _start_service(self, service: Service) -> bool:
        """Start the service unless its process runs (a busy one is waited for, never restarted). What a
        killed process left running (its workers finishing tasks) is left to finish and stopped by down."""
        s = self.settings
        if process.read_pid(service.pid_file(s)):
            return False
        process.keep_leftovers(service.pid_file(s))
        if service.name == "mlflow":  # metrics files of the last run's workers would add to this run's
            shutil.rmtree(mlflow_metrics_dir(s), ignore_errors=True)
        process.start(service.argv, service.env, service.log_file(s), service.pid_file(s), REPO_ROOT)
        return True

    def upgrade_mlflow_schema(self) -> None:
        """`mlflow db upgrade` before the server starts, as the chart's Sync hook does in a cluster; the
        output goes to logs/mlflow-db-upgrade.log."""
        argv, env = mlflow_schema_upgrade(self.settings)
        log_file = self.settings.logs_dir / "mlflow-db-upgrade.log"
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("a") as out:
            completed = subprocess.run(
                argv,
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=self.settings.start_timeout,
                check=False,
            )
        if completed.returncode != 0:
            raise StackError(f"mlflow db upgrade failed; see {log_file}:\n" + process.tail(log_file))

    def _wait_healthy(self, service: Service, since: datetime | None = None) -> None:
        s = self.settings
        pid_file = service.pid_file(s)

        def healthy() -> bool:
            if process.read_pid(pid_file) is None:
                raise StackError(
                    f"{service.name} exited during start; see {service.log_file(s)}:\n"
                    + process.tail(service.log_file(s))
                )
            return service_healthy(service, since)

        if not wait_until(healthy, s.start_timeout):
            raise StackError(
                f"{service.name} did not become healthy at {service.health_url} within "
                f"{s.start_timeout:.0f}s; see {service.log_file(s)}:\n" + process.tail(service.log_file(s))
            )

    def _start_postgres(self) -> None:
        self.postgres.init()
        if not self.postgres.running():
            self.postgres.start()
        if not wait_until(self.postgres.ready, self.settings.start_timeout):
            raise StackError(f"postgres is not accepting connections; see {self.postgres.log_file}")
        self.postgres.ensure_databases(extra=(self.settings.serving_database,))

    def _ensure_bucket(self) -> None:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError

        s = self.settings
        client = boto3.client(
            "s3",
            endpoint_url=s.s3_endpoint_url,
            aws_access_key_id=s.aws_access_key_id,
            aws_secret_access_key=s.aws_secret_access_key,
            region_name="us-east-1",
            config=Config(retries={"max_attempts": 1}, connect_timeout=3, read_timeout=10),
        )

        def bucket_ready() -> bool:
            try:
                client.head_bucket(Bucket=s.s3_bucket)
                return True
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
                    return False
            except BotoCoreError:
                return False
            try:
                client.create_bucket(Bucket=s.s3_bucket)
                return True
            except ClientError as error:
                return error.response.get("Error", {}).get("Code") == "BucketAlreadyOwnedByYou"
            except BotoCoreError:
                return False

        if not wait_until(bucket_ready, s.start_timeout, interval=1.0):
            raise StackError(f"could not create bucket {s.s3_bucket} in S3 at {s.s3_endpoint_url}")

    def up(self, log: Callable[[str], None] = print) -> list[str]:
        """Start whatever is not running and wait until every service is healthy; idempotent."""
        s = self.settings
        s.state_dir.mkdir(parents=True, exist_ok=True)
        self._check_mode()
        started: list[str] = []
        self.env_values()
        if s.monitoring:
            monitoring.check_installed()
            monitoring.write_configs(s)
        if s.mode == "full":
            was_running = self.postgres.running()
            self._start_postgres()
            if not was_running:
                started.append("postgres")
        services = self.services()
        airflow = [svc for svc in services if svc.name in airflow_services.NAMES]
        if airflow:
            # Airflow takes longest to start: its components start first and come up meanwhile.
            home = self.airflow()
            home.write_passwords()
            if home.migrate():
                log(f"  migrated Airflow's metadata database ({home.database_url().split(':')[0]})")
        started_at: dict[str, datetime] = {}
        for service in airflow + [svc for svc in services if svc not in airflow]:
            now = datetime.now(UTC)
            if service.name == "mlflow" and s.mode == "full" and not process.read_pid(service.pid_file(s)):
                self.upgrade_mlflow_schema()
                log("  upgraded MLflow's database schema (mlflow db upgrade)")
            if self._start_service(service):
                started.append(service.name)
                started_at[service.name] = now
                log(f"  starting {service.name} (log: {service.log_file(s)})")
            if service not in airflow:
                self._wait_healthy(service)
            if service.name == "s3":
                self._ensure_bucket()
        for service in airflow:
            self._wait_healthy(service, started_at.get(service.name))
        self.state_file.write_text(
            json.dumps({"mode": s.mode, "settings": s.model_dump(mode="json")}, indent=2)
        )
        return started

    def down(self) -> list[str]:
        """Stop the processes the stack started (pid files); keep every piece of data.

        Clients stop before the servers they call (STOP_ORDER); the services of one step stop
        concurrently, as each waits for its own workers to finish."""
        stopped: list[str] = []
        with ThreadPoolExecutor(max_workers=max(len(step) for step in STOP_ORDER)) as pool:
            for step in STOP_ORDER:
                pid_files = [Service(name, [], "").pid_file(self.settings) for name in step]
                stopped += [
                    name for name, ran in zip(step, pool.map(process.stop, pid_files), strict=True) if ran
                ]
        if self.postgres.stop():
            stopped.append("postgres")
        return stopped

    def _endpoint(self, service: Service) -> str:
        if service.endpoint:
            return service.endpoint
        if service.health_key:
            return f"heartbeat ({service.health_key})"
        if service.name == "airflow-api":
            return self.settings.airflow_url
        return service.health_url.rsplit("/", 1)[0]

    def status(self) -> list[ServiceStatus]:
        s = self.settings
        rows = []
        if s.mode == "full":
            running = self.postgres.initialized() and self.postgres.running()
            rows.append(
                ServiceStatus(
                    "postgres",
                    self.postgres.pid() if running else None,
                    running and self.postgres.ready(),
                    f"{s.host}:{s.postgres_port}",
                    self.postgres.log_file,
                )
            )
        for service in self.services():
            pid = process.read_pid(service.pid_file(s))
            rows.append(
                ServiceStatus(
                    service.name,
                    pid,
                    pid is not None and service_healthy(service),
                    self._endpoint(service),
                    service.log_file(s),
                )
            )
        return rows
