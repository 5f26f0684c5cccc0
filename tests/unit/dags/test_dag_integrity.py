"""Every DAG file imports; every DAG documents itself and carries owner, retries, tags, params, notifiers."""

import itertools

import pytest

EXPECTED = {"ml_train_register_and_reload", "register_sensor_check", "rollback_model"}


def test_every_dag_file_imports(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == EXPECTED


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_dag_has_owner_retries_tags_doc_params(dagbag, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    assert dag.doc_md and len(dag.doc_md) > 100
    assert "mlops" in dag.tags
    assert dag.params, "the trigger form needs params"
    for name in dag.params:
        assert dag.params.get_param(name).description, f"param {name} has no description"
    assert dag.on_success_callback and dag.on_failure_callback
    for task in dag.tasks:
        assert task.owner == "ml-platform", task.task_id
        assert task.retries is not None, task.task_id
    assert dag.default_args["retries"] >= 1


def test_train_dag_order(dagbag) -> None:
    dag = dagbag.dags["ml_train_register_and_reload"]
    chain = [
        "validate_conf",
        "plan_train",
        "train",
        "quality_gate",
        "plan_register",
        "register",
        "wait_ready",
    ]
    chain += ["release_target", "record_before_version", "set_alias", "reload", "verify", "start_experiment"]
    for upstream, downstream in itertools.pairwise(chain):
        assert downstream in dag.get_task(upstream).downstream_task_ids, (upstream, downstream)
    assert dag.get_task("wait_ready").mode == "reschedule"
    assert dag.get_task("wait_ready").timeout > 0
    assert dag.get_task("needs_rollback").trigger_rule == "one_failed"
    assert set(dag.params.get_param("strategy").schema["enum"]) == {"ab", "canary", "bluegreen"}


def test_sensor_dag_shares_the_release_chain(dagbag) -> None:
    train = dagbag.dags["ml_train_register_and_reload"]
    sensor = dagbag.dags["register_sensor_check"]
    shared = {"record_before_version", "set_alias", "reload", "verify", "start_experiment", "summary"}
    assert shared <= set(train.task_ids) and shared <= set(sensor.task_ids)
    assert "wait_new_version" in sensor.task_ids
    assert sensor.get_task("wait_new_version").mode == "reschedule"


def test_kubernetes_runtime_uses_pods_and_triggers_rollback_model(dagbag) -> None:
    """Parsed with the deployment's defaults (MLOPS_RUNTIME=kubernetes): KPO tasks, triggered rollback."""
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator

    dag = dagbag.dags["ml_train_register_and_reload"]
    for task_id in ("train", "register"):
        task = dag.get_task(task_id)
        assert isinstance(task, KubernetesPodOperator)
        assert task.do_xcom_push and task.on_finish_action.value == "delete_pod"
    trigger = dag.get_task("trigger_rollback_model")
    assert isinstance(trigger, TriggerDagRunOperator) and trigger.trigger_dag_id == "rollback_model"
    assert "needs_rollback" in trigger.upstream_task_ids
    assert trigger.wait_for_completion and trigger.deferrable


def test_pod_tasks_are_deferrable_and_sensors_poke_sparingly(dagbag) -> None:
    """Regression: KPO held a worker slot for the whole training; reschedule sensors poked every 5 s, a new
    worker pod (and git-sync clone) per poke under KubernetesExecutor."""
    train = dagbag.dags["ml_train_register_and_reload"]
    for task_id in ("train", "register"):
        assert train.get_task(task_id).deferrable is True
    sensors = [
        train.get_task("wait_ready"),
        dagbag.dags["register_sensor_check"].get_task("wait_new_version"),
    ]
    for sensor in sensors:
        assert sensor.mode == "reschedule" and sensor.poke_interval >= 30


def test_a_poke_interval_under_30_s_is_refused_in_the_cluster(monkeypatch) -> None:
    from mlops_dags.settings import DagSettings
    from pydantic import ValidationError

    monkeypatch.setenv("MLOPS_SENSOR_POKE_SECONDS", "5")
    with pytest.raises(ValidationError, match="every poke of a reschedule sensor is a new worker pod"):
        DagSettings()
    monkeypatch.setenv("MLOPS_RUNTIME", "local")
    assert DagSettings().sensor_poke_seconds == 5


def test_local_runtime_rolls_back_through_the_same_trigger(tmp_path) -> None:
    """Regression: the local runtime ran the rollback inline instead of as a rollback_model DAG run."""
    import json
    import os
    import subprocess
    import sys

    from tests.unit.dags.conftest import DAGS_DIR, REPO_ROOT

    script = (
        "import json; from airflow.dag_processing.dagbag import DagBag; "
        f"bag = DagBag(dag_folder={str(DAGS_DIR)!r}); "
        "assert not bag.import_errors, bag.import_errors; "
        "dag = bag.dags['ml_train_register_and_reload']; "
        "print(json.dumps({t.task_id: type(t).__name__ for t in dag.tasks}))"
    )
    env = {
        **os.environ,
        "MLOPS_RUNTIME": "local",
        "AIRFLOW_HOME": str(tmp_path),
        "MLOPS_ROLLBACK_MODE": "inline",
        "PYTHONPATH": str(DAGS_DIR),
    }
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    tasks = json.loads(proc.stdout.strip().splitlines()[-1])
    assert tasks["trigger_rollback_model"] == "TriggerDagRunOperator"
    assert "rollback" not in tasks
    assert tasks["train"] != "TrainerPodOperator"  # the local runtime's task, same pod contract
