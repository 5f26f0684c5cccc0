"""`make demo`: the whole loop on the local stack, through Airflow's front door (its REST API, as the
cluster's commit trigger uses it), with every run visible in the Airflow UI:

1. a version → `champion` (a run triggered through the REST API);
2. the commit trigger for the checkout's HEAD (`python -m commit_trigger --sha HEAD --repo .`): one
   run per config the commit affects (the first commit to trigger trains every config), or none;
3. a release that fails after the alias moved (a version registered outside Airflow that cannot score
   its own input example; `register_sensor_check` releases it, the gateway refuses it), which triggers
   `rollback_model` as its own DAG run, restoring the version that served before;
4. a backend's view: one training job through the control API, its Server-Sent Events printed as they
   stream, and its signed callback received by the local sink (`ops/local/control_demo.py`).

Each task prints a line as it finishes; each run prints its UI link. The stack stays up."""

import json
import os
import subprocess
import sys
import time
from typing import Any

import httpx

from airflow_rest import AirflowAPIError, AirflowClient, DagRun, TaskInstance
from ops.local import control_demo
from ops.local.airflow import API_USER
from ops.local.examples import example_body, predict_each_type, register_examples
from ops.local.stack import Stack, StackError, StackSettings
from ops.local.stack.settings import REPO_ROOT
from ops.local.stack.slack_sink import read_messages

TRAIN = "ml_train_register_and_reload"
SENSOR = "register_sensor_check"
ROLLBACK = "rollback_model"
DAGS = (TRAIN, SENSOR, ROLLBACK)
MODEL = "iris"


def say(text: str) -> None:
    print(text, flush=True)


def task_line(ti: TaskInstance) -> None:
    seconds = f"{ti.duration:6.1f}s" if ti.duration is not None else "      -"
    say(f"    {ti.state or '-':<16} {ti.task_id:<26} {seconds}")


class Demo:
    """The running stack, an Airflow client as the CI/API user, and what the demo did."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.settings = stack.settings
        self.env = stack.env_values()
        self.airflow = AirflowClient(self.settings.airflow_url, API_USER, self.env["AIRFLOW_API_PASSWORD"])
        self.links: list[tuple[str, str]] = []
        self.stamp = time.strftime("%Y%m%dT%H%M%S")

    def follow(self, dag_id: str, run_id: str, label: str) -> DagRun:
        link = self.airflow.ui_link(dag_id, run_id)
        self.links.append((label, link))
        say(f"    run {run_id}  {link}")
        run = self.airflow.wait(dag_id, run_id, on_task=task_line)
        took = (run.end_date - run.start_date).total_seconds() if run.start_date and run.end_date else 0.0
        say(f"    => {dag_id} {run.state} (ran {took:.1f}s)")
        return run

    def trigger(self, dag_id: str, suffix: str, conf: dict[str, Any], label: str) -> DagRun:
        run_id = f"demo-{self.stamp}-{suffix}"
        say(f"==> {label}: {dag_id} conf={json.dumps(conf)}")
        self.airflow.trigger(dag_id, run_id, conf, note=f"make demo: {label}")
        return self.follow(dag_id, run_id, label)

    def commit_trigger(self) -> list[DagRun]:
        """`python -m commit_trigger` for HEAD, as the cluster's PostSync hook runs it; follow its runs."""
        say("==> the commit trigger for the checkout's HEAD: python -m commit_trigger --sha HEAD --repo .")
        env = {
            **os.environ,
            "AIRFLOW_URL": self.settings.airflow_url,
            "AIRFLOW_API_USER": API_USER,
            "AIRFLOW_API_PASSWORD": self.env["AIRFLOW_API_PASSWORD"],
            "SLACK_WEBHOOK_URL": self.settings.slack_webhook_url,
        }
        argv = [sys.executable, "-m", "commit_trigger", "--sha", "HEAD", "--repo", str(REPO_ROOT), "--json"]
        done = subprocess.run(argv, env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
        lines = done.stdout.splitlines()
        for line in lines[:-1] if done.returncode == 0 else lines:
            say("    " + line)
        if done.returncode != 0:
            say(f"    skipped: the commit trigger exited {done.returncode}: {done.stderr.strip()[-300:]}")
            return []
        report = json.loads(lines[-1])
        runs = []
        for outcome in report["outcomes"]:
            label = f"commit {report['change']['sha'][:12]} → {outcome['config']}"
            runs.append(self.follow(report["dag_id"], outcome["run_id"], label))
        return runs

    def failure_and_rollback(self) -> tuple[DagRun, DagRun | None, str | None, str]:
        """A broken version released by register_sensor_check; the rollback_model run it triggers."""
        before = self.alias_version("challenger")
        say("==> a version that cannot score its own input example, registered outside Airflow")
        argv = [sys.executable, "-m", "ops.local.faults", self.settings.mlflow_uri, MODEL]
        done = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"could not register the broken version: {done.stderr.strip()[-500:]}")
        broken = done.stdout.split()[-1]
        say(f"    {MODEL} v{broken} registered (challenger serves v{before})")
        conf = {"model": MODEL, "alias": "challenger"}
        run = self.trigger(SENSOR, "broken", conf, "release of the broken version (fails on purpose)")
        rollback_id = self.airflow.xcom(SENSOR, run.run_id, "trigger_rollback_model", "trigger_run_id")
        if not rollback_id:
            say("    no rollback_model run was triggered")
            return run, None, before, broken
        say(f"==> {ROLLBACK}, triggered by the failed run as its own DAG run")
        rollback = self.follow(ROLLBACK, rollback_id, "rollback")
        return run, rollback, before, broken

    def alias_version(self, alias: str) -> str | None:
        response = httpx.get(
            f"{self.settings.mlflow_uri}/api/2.0/mlflow/registered-models/alias",
            params={"name": MODEL, "alias": alias},
            timeout=10,
        )
        return response.json()["model_version"]["version"] if response.status_code == 200 else None


def main() -> int:
    """The demo; a service that fails or stops answering ends it with one line saying what to do."""
    try:
        return run_demo()
    except (StackError, AirflowAPIError, TimeoutError, httpx.HTTPError) as error:
        print(f"error: {error}", file=sys.stderr)
        print("  `make status` shows what is down; `make up` restarts it", file=sys.stderr)
        return 1


def run_demo() -> int:
    stack = Stack(StackSettings())
    began = time.monotonic()
    say("==> local stack (MLflow, gateway, control API, Airflow, Slack sink)")
    stack.up(log=lambda line: say("  " + line))
    say(f"    up in {time.monotonic() - began:.1f}s")
    demo = Demo(stack)
    demo.airflow.wait_for_dags(list(DAGS))
    mark = len(read_messages(stack.settings.slack_log))
    commit_runs = demo.commit_trigger()
    conf = {"alias": "challenger", "strategy": "canary", "overrides": {"hyperparameters": {"C": 0.5}}}
    challenger = demo.trigger(TRAIN, "challenger", conf, "a new version → challenger under the canary")
    failed, rollback, before, broken = demo.failure_and_rollback()
    restored = demo.alias_version("challenger")
    say("==> text and image examples (trainer CLI → MLflow → gateway)")
    register_examples(stack, say)
    summary(demo, mark, before, broken, restored)
    through_api = control_demo.run(stack, say) if stack.settings.with_control else True
    ok = (
        all(r.state == "success" for r in commit_runs)
        and challenger.state == "success"
        and failed.state == "failed"
        and rollback is not None
        and rollback.state == "success"
        and restored == before
        and through_api
    )
    say("==> demo " + ("done" if ok else "FAILED (see the runs above and .stack/logs/)"))
    return 0 if ok else 1


def summary(demo: Demo, mark: int, before: str | None, broken: str, restored: str | None) -> None:
    settings = demo.settings
    gateway = settings.serving_url
    status = httpx.get(f"{gateway}/v1/models/{MODEL}", timeout=10).json()
    say("\n================ summary ================")
    say(
        f"failed release of v{broken}: challenger back on v{restored} "
        f"({'restored' if restored == before else f'expected v{before}'})"
    )
    say("versions per alias (gateway): " + ", ".join(f"{a}=v{v}" for a, v in status["aliases"].items()))
    say(f"weights: {status['weights']}")
    canary = status.get("canary") or {}
    say(f"canary: {canary.get('status')} v{canary.get('version')} at {canary.get('weight')}%")
    for variant in status["variants"]:
        response = httpx.post(
            f"{gateway}/v1/models/{MODEL}/predict",
            json=example_body("tabular"),
            headers={"X-API-Key": demo.env["INTERNAL_API_KEY"], "X-Variant": variant["name"]},
            timeout=30,
        )
        body = response.json()
        predictions = body.get("predictions", body)
        say(f"prediction from {variant['name']}: {predictions} (version {body.get('version')})")
    predict_each_type(gateway, say)
    say(f"Slack messages ({settings.slack_log}):")
    for message in read_messages(settings.slack_log)[mark:]:
        say("  " + (message.get("text") or json.dumps(message))[:240].replace("\n", " | "))
    say("Airflow runs (UI):")
    for label, link in demo.links:
        say(f"  {label:<34} {link}")
    say(f"Airflow UI: {settings.airflow_url}  (login admin / {demo.env['AIRFLOW_ADMIN_PASSWORD']})")
    say(f"MLflow:     {settings.mlflow_uri}")
    say(f"gateway:    {gateway}  (GET /v1/models/{MODEL}, POST /v1/models/{MODEL}/predict, docs at /docs)")
    say(
        f"  curl -s {gateway}/v1/models/{MODEL}/predict -H 'Content-Type: application/json' "
        f"-H 'X-Routing-Key: user-42' -d '{json.dumps(example_body('tabular'))}'"
    )
    say("the stack stays up: `make status`, `make down`")


if __name__ == "__main__":
    sys.exit(main())
