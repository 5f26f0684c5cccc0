"""The local Airflow as `make up` starts it: UI and REST API on its port with the three DAGs, every
component healthy in `make status`, the CI/API user may trigger but not read connections, and `make down` /
`make up` keep every DAG run."""

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from airflow_rest import AirflowAuthError, AirflowClient
from commit_trigger.dagcode import parsed_commit
from ops.local.airflow import ADMIN_USER, API_USER, NAMES
from ops.local.stack import process
from tests.e2e.conftest import DAGS, Loop

TRAIN = "ml_train_register_and_reload"

# Module fixtures run several DAG runs on a real scheduler: more than the default per-test timeout.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def test_ui_and_api_with_the_three_dags_and_healthy_components(loop: Loop) -> None:
    settings = loop.running.settings
    page = httpx.get(settings.airflow_url + "/", timeout=30, follow_redirects=True)
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert loop.airflow.dag_ids() == sorted(DAGS)
    # Tags as the commit trigger reads them; DAGs parsed from a checkout (not git-sync) name no commit.
    tags = loop.airflow.dag(TRAIN)["tags"]
    assert {"mlops", "training"} <= {t["name"] for t in tags} and parsed_commit({"tags": tags}) is None
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


def test_concurrent_triggers_of_one_run_id_start_one_run(loop: Loop) -> None:
    """Two hooks or CI jobs triggering the same commit at once: Airflow creates the run once, the others
    are told it exists (409), as the commit trigger reports "already triggered"."""
    conf = {"model": "no-such-model", "alias": "race", "reason": "race test"}

    def trigger(_: int) -> bool:
        with loop.running.airflow() as client:
            return client.trigger("rollback_model", "race-1", conf).created

    with ThreadPoolExecutor(max_workers=4) as pool:
        created = list(pool.map(trigger, range(4)))
    assert sorted(created) == [False, False, False, True]
    assert [r.run_id for r in loop.airflow.runs("rollback_model", run_id_prefix="race-")] == ["race-1"]
    assert loop.result("rollback_model", "race-1").state == "success"


def test_kill_9_of_the_scheduler_mid_run_then_down_and_up_keep_every_run(loop: Loop) -> None:
    """kill -9 of the scheduler while a task runs: `make up` restarts only the scheduler, the run ends
    well, `make down` also stops the executor workers the killed scheduler left, `make up` keeps the run."""
    stack = loop.running.stack
    pid_file = stack.settings.run_dir / "airflow-scheduler.pid"
    # Training with a gate nothing passes: a task that runs a while, and nothing registered or moved.
    conf = {"config": "iris", "alias": "challenger", "quality_threshold": 0.999}
    assert loop.airflow.trigger(TRAIN, "kill-9-scheduler", conf, note="kill test").created
    deadline = time.monotonic() + 600
    while not any(ti.state == "running" for ti in loop.airflow.task_instances(TRAIN, "kill-9-scheduler")):
        assert time.monotonic() < deadline, "no task of the run started"
        time.sleep(0.5)
    killed = process.read_pid(pid_file)
    assert killed is not None
    os.kill(killed, signal.SIGKILL)
    while process.read_pid(pid_file) is not None:  # as `make status` shows it: DOWN
        time.sleep(0.1)
    assert stack.up(log=lambda _line: None) == ["airflow-scheduler"]
    run = loop.result(TRAIN, "kill-9-scheduler")
    assert run.state == "success" and run.task_state("train") == "success"
    assert run.task_state("register") == "skipped"  # the gate held: nothing registered
    stopped = stack.down()
    assert set(NAMES) <= set(stopped)
    assert not process.group_alive(killed), "make down left the killed scheduler's workers running"
    assert not any(row.healthy for row in stack.status() if row.name in NAMES)
    stack.up(log=lambda _line: None)
    loop.airflow.wait_for_dags(DAGS)
    again = loop.airflow.run(TRAIN, "kill-9-scheduler")
    assert again.state == "success" and again.conf["quality_threshold"] == 0.999 and again.note == "kill test"
