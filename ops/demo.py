"""`make demo`: the whole loop on the local stack, twice: first version → champion, second → challenger
under the canary, with Airflow running ml_train_register_and_reload (dag.test, SQLite under .stack/).
Prints each step with its duration, then versions per alias, weights, a prediction from each variant,
the Slack messages and the URLs. The stack stays up."""

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from ops.airflow.home import AirflowHome, write_env_file
from ops.stack import Stack, StackSettings
from ops.stack.slack_sink import read_messages

DAG_ID = "ml_train_register_and_reload"
RUNS = (
    ("first version → champion", {"alias": "champion", "strategy": "canary"}),
    (
        "second version → challenger under the canary",
        {
            "alias": "challenger",
            "strategy": "canary",
            "overrides": {"hyperparameters": {"C": 0.5, "max_iter": 500}},
        },
    ),
)


# One request per example type the gateway serves (serving/examples/local.yaml), with named columns as
# pyfunc takes them; the image is the first of scikit-learn's 8x8 digits (pixels 0..16).
EXAMPLES = {
    "tabular": (
        "iris",
        ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"],
        [5.1, 3.5, 1.4, 0.2],
    ),
    "text": ("topics", ["text"], ["the striker scored a late goal in the final match"]),
    "image": ("digits", [f"pixel_{i}" for i in range(64)], None),
}
TYPE_MODELS = {"topics": "text.json", "digits": "digits.json"}


def say(text: str) -> None:
    print(text, flush=True)


class Progress(threading.Thread):
    """Prints each task of the running DAG run as it finishes (polls the metadata DB)."""

    def __init__(self, dag_id: str, since: float) -> None:
        super().__init__(daemon=True)
        self.dag_id, self.since, self.seen, self.stop = dag_id, since, set(), threading.Event()

    def poll(self) -> None:
        from airflow.models.taskinstance import TaskInstance
        from airflow.settings import Session
        from sqlalchemy import select

        session = Session()
        try:
            rows = session.scalars(
                select(TaskInstance).where(
                    TaskInstance.dag_id == self.dag_id, TaskInstance.end_date.is_not(None)
                )
            ).all()
            for ti in sorted(rows, key=lambda t: t.end_date):
                key = (ti.run_id, ti.task_id, ti.try_number)
                if key in self.seen or ti.end_date.timestamp() < self.since or ti.state is None:
                    continue
                self.seen.add(key)
                seconds = (ti.end_date - ti.start_date).total_seconds() if ti.start_date else 0.0
                say(f"    {ti.state!s:<16} {ti.task_id:<24} {seconds:6.1f}s")
        finally:
            session.close()

    def run(self) -> None:
        while not self.stop.wait(0.5):
            with contextlib.suppress(Exception):
                self.poll()

    def finish(self) -> None:
        self.stop.set()
        self.join(timeout=5)
        self.poll()


def timed(label: str, work):
    started = time.perf_counter()
    say(f"==> {label}")
    result = work()
    say(f"    done in {time.perf_counter() - started:.1f}s")
    return result


def register_examples(stack: Stack) -> None:
    """Train and register the text and image examples (trainer CLI), alias champion, reload the gateway."""
    env = {**os.environ, **stack.client_env()}
    root = Path(__file__).resolve().parents[1]
    headers = {"X-API-Key": stack.api_key()}
    with tempfile.TemporaryDirectory() as folder:
        for model, config in TYPE_MODELS.items():
            result = Path(folder) / f"{model}.json"

            def trainer(*args: str, out: Path = result) -> dict[str, Any]:
                subprocess.run(
                    [sys.executable, "-m", "trainer", *args, "--result-file", str(out)],
                    cwd=root,
                    env=env,
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
                return json.loads(out.read_text())

            trained = trainer("train", "--config", str(root / "trainer" / "configs" / config))
            registered = trainer(
                "register", "--run-id", trained["run_id"], "--name", model, "--alias", "champion"
            )
            answer = httpx.post(
                f"{stack.settings.serving_url}/variant/champion/reload",
                params={"model": model},
                headers=headers,
                timeout=120,
            )
            say(f"    {model}: version {registered['version']} → alias champion, gateway {answer.json()}")


def main() -> int:
    stack = Stack(StackSettings())
    timed("local stack (MLflow, gateway, Slack sink)", lambda: stack.up(log=lambda line: say("  " + line)))
    settings = stack.settings
    airflow = AirflowHome(settings.state_dir / "airflow", stack.client_env(), stack.api_key())
    env = {**airflow.env(), "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR"}
    os.environ.update(env)
    write_env_file(airflow.home / "env", airflow.env())
    timed("Airflow metadata DB (SQLite, .stack/airflow)", airflow.migrate)
    mark = len(read_messages(settings.slack_log))

    from ops.airflow.run import describe, load_dags

    timed("parse dags/", load_dags)
    results = []
    for label, conf in RUNS:
        dag = load_dags()[DAG_ID]  # fresh per run: a run's conf updates the parsed params in place
        say(f"==> {DAG_ID}: {label}  conf={json.dumps(conf)}")
        triggered = time.time()
        progress = Progress(DAG_ID, triggered)
        progress.start()
        dag_run = dag.test(run_conf=conf)
        progress.finish()
        result = describe(dag_run)
        verify = result["tasks"].get("verify", {})
        serving_after = (
            (verify["end"] - triggered) if verify.get("end") and verify["state"] == "success" else None
        )
        results.append((label, result, time.time() - triggered, serving_after))
        say(
            f"    run {result['state']} in {time.time() - triggered:.1f}s"
            + (
                f"; trigger → new version serving on every replica: {serving_after:.1f}s"
                if serving_after
                else ""
            )
        )
        if result["state"] != "success":
            say(f"    the run failed; task logs: {airflow.home / 'logs'}")
            break
    timed("text and image examples (trainer CLI → MLflow → gateway)", lambda: register_examples(stack))
    summary(stack, results, mark)
    return 0 if all(r[1]["state"] == "success" for r in results) and len(results) == len(RUNS) else 1


def summary(stack: Stack, results: list[tuple[str, dict[str, Any], float, float | None]], mark: int) -> None:
    settings = stack.settings
    gateway = settings.serving_url
    status = httpx.get(f"{gateway}/v1/models/iris", timeout=10).json()
    say("\n================ summary ================")
    for label, result, seconds, serving_after in results:
        version = (result["tasks"].get("summary", {}).get("value") or {}).get("version")
        line = f"  {label}: {result['state']}, v{version}, run {seconds:.1f}s"
        say(line + (f", trigger → serving {serving_after:.1f}s" if serving_after else ""))
    say("versions per alias (gateway): " + ", ".join(f"{a}=v{v}" for a, v in status["aliases"].items()))
    say(f"weights: {status['weights']}")
    canary = status.get("canary") or {}
    say(
        f"canary: {canary.get('status')} v{canary.get('version')} at {canary.get('weight')}% "
        f"(steps {canary.get('steps')})"
    )
    headers = {"X-API-Key": stack.api_key()}
    for variant in status["variants"]:
        response = httpx.post(
            f"{gateway}/v1/models/iris/predict",
            json={"dataframe_split": {"columns": EXAMPLES["tabular"][1], "data": [EXAMPLES["tabular"][2]]}},
            headers={**headers, "X-Variant": variant["name"]},
            timeout=30,
        )
        body = response.json()
        say(
            f"prediction from {variant['name']}: {body.get('predictions', body)} "
            f"(version {body.get('version')})"
        )
    from sklearn.datasets import load_digits

    for kind, (model, columns, row) in EXAMPLES.items():
        row = row or load_digits().data[0].tolist()
        body = {"dataframe_split": {"columns": columns, "data": [row]}}
        answer = httpx.post(f"{gateway}/v1/models/{model}/predict", json=body, timeout=30).json()
        predictions = answer.get("predictions", answer)
        say(f"{kind} prediction ({model}): {predictions} (version {answer.get('version')})")
    say("Slack messages (.stack/slack.jsonl):")
    for message in read_messages(settings.slack_log)[mark:]:
        say("  " + (message.get("text") or json.dumps(message))[:300])
    say(f"MLflow:   {settings.mlflow_uri}")
    say(f"gateway:  {gateway}  (GET /v1/models/iris, POST /v1/models/iris/predict, docs at /docs)")
    say("try it (X-Routing-Key keeps a caller on one variant):")
    say(
        f"  curl -s {gateway}/v1/models/iris/predict -H 'Content-Type: application/json' "
        '-H \'X-Routing-Key: user-42\' -d \'{"dataframe_records": [{"sepal length (cm)": 5.1, '
        '"sepal width (cm)": 3.5, "petal length (cm)": 1.4, "petal width (cm)": 0.2}]}\''
    )
    say(
        f"Airflow UI: source {settings.state_dir / 'airflow' / 'env'} && airflow standalone  "
        "(http://localhost:8080, login and password printed at start; stop with Ctrl-C)"
    )
    say("the stack stays up: `make status`, `make down`")


if __name__ == "__main__":
    sys.exit(main())
