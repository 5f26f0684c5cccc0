"""`python -m ops.local.stack up|down|status` (what `make up`, `make down` and `make status` run)."""

import argparse
import sys
import time

from pydantic import ValidationError

from ops.local.airflow import logins
from ops.local.stack import Stack, StackError, StackSettings


def airflow_login(stack: Stack) -> str:
    """Who logs in to the local Airflow: the admin (UI) and the CI/API user (REST clients)."""
    users = logins(stack.env_file)
    return (
        f"(login {users['AIRFLOW_ADMIN_USER']} / {users['AIRFLOW_ADMIN_PASSWORD']}; "
        f"API user {users['AIRFLOW_API_USER']}: $AIRFLOW_API_PASSWORD in {stack.env_file})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.local.stack", description=__doc__)
    parser.add_argument("command", choices=("up", "down", "status"))
    args = parser.parse_args(argv)
    try:
        stack = Stack(StackSettings())
        s = stack.settings
        if args.command == "up":
            began = time.monotonic()
            print(f"==> local stack ({s.mode}) in {s.state_dir}")
            started = stack.up()
            took = time.monotonic() - began
            print(f"==> {'started ' + ', '.join(started) if started else 'already running'} ({took:.1f}s)")
            print(f"    MLflow   {s.mlflow_uri}")
            if s.with_gateway:
                print(f"    gateway  {s.serving_url}")
            if s.with_control:
                print(f"    control  {s.control_url}  (X-API-Key: $CONTROL_API_KEY in {stack.env_file})")
            if s.with_airflow:
                print(f"    Airflow  {s.airflow_url}  {airflow_login(stack)}")
            if s.monitoring:
                print(f"    Prometheus   {s.prometheus_url}  (scrape {s.scrape_interval})")
                print(f"    Alertmanager {s.alertmanager_url}  (alerts to the Slack sink)")
            print(f"    Slack    {s.slack_log} (webhook {s.slack_webhook_url})")
            print(f"    env      source {stack.env_file}")
        elif args.command == "down":
            stopped = stack.down()
            print(f"==> stopped {', '.join(stopped)}" if stopped else "==> nothing was running")
            print(f"    data kept in {s.state_dir}")
        else:
            rows = stack.status()
            print(f"{'service':<22} {'pid':>8}  {'health':<8} {'endpoint':<34} log")
            for row in rows:
                health = "healthy" if row.healthy else ("DOWN" if row.pid is None else "UNHEALTHY")
                print(f"{row.name:<22} {row.pid or '-':>8}  {health:<8} {row.endpoint:<34} {row.log}")
            if s.with_airflow:
                print(f"Airflow UI {s.airflow_url}  {airflow_login(stack)}")
            return 0 if all(r.healthy for r in rows) else 1
        return 0
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        print(f"error: invalid stack setting in the environment: {problems}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
