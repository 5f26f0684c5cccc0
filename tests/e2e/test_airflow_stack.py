"""The local Airflow as `make up` starts it: UI and REST API on its port with the three DAGs, every
component healthy in `make status`, the CI/API user may trigger but not read connections, and `make down` /
`make up` keep every DAG run."""

import httpx
import pytest

from airflow_rest import AirflowAuthError, AirflowClient
from ops.local.airflow import ADMIN_USER, API_USER, NAMES
from tests.e2e.conftest import DAGS, Loop

# Module fixtures run several DAG runs on a real scheduler: more than the default per-test timeout.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def test_ui_and_api_with_the_three_dags_and_healthy_components(loop: Loop) -> None:
    settings = loop.running.settings
    page = httpx.get(settings.airflow_url + "/", timeout=30, follow_redirects=True)
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert loop.airflow.dag_ids() == sorted(DAGS)
    health = loop.airflow.health()
    assert {health[k]["status"] for k in ("metadatabase", "scheduler", "triggerer", "dag_processor")} == {
        "healthy"
    }
    rows = {row.name: row for row in loop.running.stack.status()}
    assert all(rows[name].healthy and rows[name].pid for name in NAMES)
    assert rows["airflow-api"].endpoint == settings.airflow_url


def test_users_and_their_rights(loop: Loop) -> None:
    env = loop.running.stack.env_values()
    url = loop.running.settings.airflow_url
    admin = AirflowClient(url, ADMIN_USER, env["AIRFLOW_ADMIN_PASSWORD"])
    assert admin.request("GET", "/api/v2/connections").status_code == 200
    # The CI/API user (role `user`) triggers and reads runs, but may not read connections (their secrets).
    with pytest.raises(AirflowAuthError, match="403"):
        loop.airflow.request("GET", "/api/v2/connections")
    with pytest.raises(AirflowAuthError, match=f"refused user '{API_USER}'"):
        AirflowClient(url, API_USER, "wrong").dag_ids()


def test_down_and_up_keep_every_dag_run(loop: Loop) -> None:
    run = loop.run(
        "rollback_model", {"model": "no-such-model", "alias": "x", "reason": "restart test"}, "keep"
    )
    assert run.state == "success"
    stack = loop.running.stack
    stopped = stack.down()
    assert set(NAMES) <= set(stopped)
    assert not any(row.healthy for row in stack.status() if row.name in NAMES)
    stack.up(log=lambda _line: None)
    loop.airflow.wait_for_dags(DAGS)
    again = loop.airflow.run("rollback_model", run.run_id)
    assert again.state == "success" and again.conf["reason"] == "restart test"
