"""ml_train_register_and_reload: train (pod) → gate → register (pod) → READY → alias → reload → verify."""

from datetime import datetime
from typing import Any

from airflow.sdk import Param, dag, get_current_context, task
from mlops_dags import connections, notify
from mlops_dags.codeversion import dag_tags
from mlops_dags.conf import TrainConf, parse, profile_name, resolve_config
from mlops_dags.explore import logs_text
from mlops_dags.pods import plan_register_pod, plan_train_pod, pod_task
from mlops_dags.profiles import get_profile
from mlops_dags.release import check_target
from mlops_dags.settings import DagSettings
from mlops_dags.tasks import default_args, ready_sensor, release_chain

SETTINGS = DagSettings()

DOC = """
### Train, register and serve a model

1. **validate_conf** checks the trigger form (the message names the bad field), resolves the training
   config (`trainer/configs/<config>.json` or inline JSON, plus `overrides`) and checks that the gateway
   serves the model with the strategy and alias asked for.
2. **train** runs `python -m trainer train` in a pod built from the KubernetesPodOperator pod template and
   `trainer/model_profiles.yaml` (`MLOPS_RUNTIME=kubernetes`, deferrable), or runs that same pod's container
   as a subprocess under the pod's contract (`local`). Configs and profiles come from the checkout the DAGs
   were loaded from (git-sync in the cluster).
3. **quality_gate**: the primary metric must reach `quality_threshold` and must not be worse than the
   `champion_alias` version's by more than `max_regression`. A failed gate ends the run; nothing moves.
4. **register** (pod) → **wait_ready** (sensor, reschedule mode, timeout) → **record_before_version** →
   **set_alias** → **reload** (`POST /variant/{alias}/reload`) → **verify** (every alive replica serves the
   version) → **start_experiment** (canary / A/B / blue-green) → **summary** (Slack).
5. Any failure after `before_version` was recorded triggers **rollback_model** as its own DAG run
   (`TriggerDagRunOperator`, deferrable, waits for it) in both runtimes.

Docs: `docs/dags.md`.
"""

PARAMS = {
    "config": Param(
        "iris",
        type="string",
        minLength=1,
        title="Training config",
        description="Name of a file in trainer/configs/ (iris, wine, diabetes, text, digits, digits-gpu) "
        "or a whole config as inline JSON.",
    ),
    "overrides": Param(
        {},
        type="object",
        title="Config overrides",
        description='Top-level keys merged into the config, e.g. {"hyperparameters": {"C": 0.5}, "seed": 7}.',
    ),
    "strategy": Param(
        "canary",
        type="string",
        enum=["canary", "ab", "bluegreen"],
        title="Experiment strategy",
        description="Must match the gateway's config for the model (set in Git).",
    ),
    "alias": Param(
        "challenger",
        type="string",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        title="Target alias",
        description="MLflow alias the new version gets and the gateway reloads (champion, challenger...).",
    ),
    "quality_threshold": Param(
        0.8,
        type="number",
        title="Quality threshold",
        description="Minimum primary metric: accuracy for classification, R² for regression (higher is "
        "better for both; a metric the trainer marks lower-is-better gates as a maximum).",
    ),
    "max_regression": Param(
        0.02,
        type="number",
        minimum=0,
        title="Allowed regression vs champion",
        description="How much worse than the champion's primary metric the new version may be.",
    ),
    "champion_alias": Param("champion", type="string", description="Alias the gate compares against."),
    "serving_model": Param(
        None, type=["null", "string"], description="Model name in the gateway (default: the registered name)."
    ),
    "ab_weight": Param(
        50, type="integer", minimum=0, maximum=100, description="A/B: weight of the new version."
    ),
    "min_replicas": Param(
        1, type="integer", minimum=1, description="Replicas that must report the new version."
    ),
    "verify_timeout_seconds": Param(60, type="number", minimum=1, description="How long verify waits."),
    "git_commit": Param(
        None,
        type=["null", "string"],
        description="Commit that triggered the run (CI passes it); recorded on the MLflow run and version.",
    ),
}


@dag(
    dag_id="ml_train_register_and_reload",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=dag_tags("mlops", "training", "serving"),
    doc_md=DOC,
    params=PARAMS,
    default_args=default_args(SETTINGS),
    **notify.dag_notifiers(SETTINGS),
)
def ml_train_register_and_reload() -> None:
    @task(retries=0)
    def validate_conf() -> dict[str, Any]:
        """Trigger form → run plan; fails with one line naming the bad field."""
        context = get_current_context()
        conf = parse(TrainConf, dict(context["params"]))
        config = resolve_config(SETTINGS.configs_dir, conf.config, conf.overrides)
        profile = profile_name(config)
        get_profile(SETTINGS.profiles_path, profile)
        serving_model = conf.serving_model or config["model_name"]
        check_target(
            connections.gateway(SETTINGS), serving_model, conf.alias, conf.strategy, config["model_name"]
        )
        return {
            **conf.model_dump(),
            "config": config,
            "profile": profile,
            "model": config["model_name"],
            "serving_model": serving_model,
        }

    @task(retries=0)
    def plan_train(plan: dict[str, Any]) -> dict[str, Any]:
        """The train pod: profile, argv, env."""
        context = get_current_context()
        mlflow = connections.mlflow_uri(SETTINGS)
        run_id, dag_id = context["run_id"], context["dag"].dag_id
        return plan_train_pod(SETTINGS, plan["config"], mlflow, run_id, plan["git_commit"], dag_id)

    @task.short_circuit(retries=0)
    def quality_gate(plan: dict[str, Any], trained: dict[str, Any]) -> dict[str, Any] | bool:
        """Threshold and champion comparison; a rejection posts to Slack and skips everything after."""
        context = get_current_context()
        name, value = trained["primary_metric"], float(trained["primary_metric_value"])
        higher = bool(trained["higher_is_better"])
        threshold, margin = plan["quality_threshold"], plan["max_regression"]
        reasons = []
        if (value < threshold) if higher else (value > threshold):
            reasons.append(f"{name}={value:.4g} {'<' if higher else '>'} threshold {threshold}")
        champion = connections.registry(SETTINGS).alias_version(plan["model"], plan["champion_alias"])
        champion_value = champion.metric(name) if champion else None
        if champion_value is not None:
            worse = (champion_value - value) if higher else (value - champion_value)
            if worse > margin:
                reasons.append(
                    f"{name}={value:.4g} is {worse:.4g} worse than {plan['champion_alias']} "
                    f"v{champion.version} ({champion_value:.4g}); allowed {margin}"
                )
        if reasons:
            notify.post(
                SETTINGS,
                f":no_entry: quality gate rejected {plan['model']} run {trained['run_id']}: "
                f"{'; '.join(reasons)}. Nothing was registered or moved. "
                + SETTINGS.run_link(context["dag"].dag_id, context["run_id"])
                + logs_text(SETTINGS, context),
                context,
            )
            return False
        return {"metric": name, "value": value, "champion_value": champion_value}

    @task(retries=0)
    def plan_register(plan: dict[str, Any], trained: dict[str, Any], gate: dict[str, Any]) -> dict[str, Any]:
        """The register pod: `python -m trainer register` for the trained run."""
        context = get_current_context()
        tags = {
            "airflow_dag_id": context["dag"].dag_id,
            "quality_gate": f"{gate['metric']}={gate['value']:.4g}",
        }
        mlflow = connections.mlflow_uri(SETTINGS)
        return plan_register_pod(
            SETTINGS,
            plan["config"],
            trained["run_id"],
            tags,
            mlflow,
            context["run_id"],
            plan["git_commit"],
            context["dag"].dag_id,
        )

    @task(retries=0)
    def release_target(
        plan: dict[str, Any], trained: dict[str, Any], ready: dict[str, Any]
    ) -> dict[str, Any]:
        """What the release chain moves: this version to the conf's alias."""
        keys = ("serving_model", "alias", "strategy", "ab_weight", "min_replicas", "verify_timeout_seconds")
        return {
            **{k: plan[k] for k in keys},
            "model": ready["name"],
            "version": str(ready["version"]),
            "metrics": trained["metrics"],
            "run_id": trained["run_id"],
        }

    plan = validate_conf()
    trained = pod_task("train", plan_train(plan), SETTINGS)
    gate = quality_gate(plan, trained)
    registered = pod_task("register", plan_register(plan, trained, gate), SETTINGS)
    ready = ready_sensor(SETTINGS, registered)
    release_chain(SETTINGS, release_target(plan, trained, ready))


ml_train_register_and_reload()
