"""`train`: fit the configured model, evaluate on a held-out split and log everything to MLflow."""

import importlib.metadata
import importlib.util
from typing import Any

import mlflow
import mlflow.sklearn
from loguru import logger
from mlflow.models import infer_signature
from sklearn.model_selection import train_test_split

from trainer.config import Task, TrainConfig
from trainer.datasets import load_dataset
from trainer.estimators import SKOPS_TRUSTED_TYPES, build_estimator
from trainer.metrics import evaluate, primary_metric
from trainer.settings import TrainerSettings
from trainer.tracking import connect


def _cuda_available() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def pinned_requirements() -> list[str]:
    """The model's pip requirements, pinned to what trained it (skips MLflow's slow inference)."""
    packages = ("mlflow-skinny", "scikit-learn", "skops", "numpy", "pandas", "scipy", "cloudpickle")
    pins = []
    for package in packages:
        try:
            pins.append(f"{package}=={importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return pins


def _run_tags(config: TrainConfig, settings: TrainerSettings, algorithm: str) -> dict[str, str]:
    tags = {
        **config.tags,
        "model_name": config.model_name,
        "task": config.task.value,
        "dataset": config.dataset,
        "algorithm": algorithm,
        "profile": config.profile_name,
    }
    if settings.git_commit:
        tags["git_commit"] = settings.git_commit
    if settings.airflow_dag_run_id:
        tags["airflow_dag_run_id"] = settings.airflow_dag_run_id
    return tags


def _fit_cnn(config: TrainConfig, x_train, y_train, x_test):
    from trainer.cnn import train_digits_cnn

    return train_digits_cnn(config, x_train, y_train, x_test)


def train(config: TrainConfig, settings: TrainerSettings) -> dict[str, Any]:
    """Train, evaluate and log one model; return the result the orchestrator reads."""
    build_estimator(config)  # a bad hyper-parameter fails here, before a run exists in MLflow
    connect(settings.mlflow_tracking_uri)
    data = load_dataset(config.dataset)
    stratify = None if config.task is Task.TABULAR_REGRESSION else data.target
    x_train, x_test, y_train, y_test = train_test_split(
        data.features, data.target, test_size=config.test_size, random_state=config.seed, stratify=stratify
    )
    algorithm = config.algorithm
    if algorithm == "cnn" and not _cuda_available():
        logger.warning("cnn needs the trainer-gpu extra and a CUDA device; training the MLP instead")
        algorithm = "mlp"

    experiment = mlflow.set_experiment(config.experiment)
    with mlflow.start_run(experiment_id=experiment.experiment_id, run_name=config.model_name) as run:
        mlflow.set_tags(_run_tags(config, settings, algorithm))
        mlflow.log_params(
            {
                **{f"hp.{k}": v for k, v in config.hyperparameters.items()},
                "algorithm": algorithm,
                "dataset": config.dataset,
                "seed": config.seed,
                "test_size": config.test_size,
                "train_rows": len(x_train),
            }
        )
        mlflow.log_dict(config.model_dump(mode="json"), "config.json")
        if algorithm == "cnn":
            model, predictions = _fit_cnn(config, x_train, y_train, x_test)
        else:
            model = build_estimator(config, algorithm)
            logger.info(f"fitting {type(model).__name__} on {config.dataset} ({len(x_train)} rows)")
            model.fit(x_train, y_train)
            predictions = model.predict(x_test)
        metrics = evaluate(config.task, y_test, predictions)
        mlflow.log_metrics(metrics)
        example = x_test.head(5)
        signature = infer_signature(example, model.predict(example))
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=signature,
            input_example=example,
            pip_requirements=pinned_requirements(),
            skops_trusted_types=SKOPS_TRUSTED_TYPES.get(algorithm),
        )
        primary = primary_metric(config.task)
        logger.info(f"run {run.info.run_id}: {metrics}")
        return {
            "command": "train",
            "run_id": run.info.run_id,
            "experiment_id": experiment.experiment_id,
            "model_uri": info.model_uri,
            "run_model_uri": f"runs:/{run.info.run_id}/model",
            "model_name": config.model_name,
            "task": config.task.value,
            "algorithm": algorithm,
            "profile": config.profile_name,
            "metrics": metrics,
            "primary_metric": primary.name,
            "primary_metric_value": metrics[primary.name],
            "higher_is_better": primary.higher_is_better,
            "tracking_uri": settings.mlflow_tracking_uri,
        }
