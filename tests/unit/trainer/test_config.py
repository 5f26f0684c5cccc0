"""Training config validation and its one-line error messages."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trainer.config import TrainConfig, load_config, parse_config
from trainer.errors import ConfigError
from trainer.estimators import build_estimator

CONFIGS = Path(__file__).resolve().parents[3] / "trainer" / "configs"
VALID = {
    "model_name": "iris",
    "task": "tabular_classification",
    "dataset": "iris",
    "algorithm": "logistic_regression",
    "experiment": "iris",
}


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.json")), ids=lambda p: p.name)
def test_every_example_config_is_valid(path: Path) -> None:
    config = load_config(path)
    assert config.model_name
    build_estimator(config)


def test_defaults_and_profile_from_task() -> None:
    config = parse_config(VALID)
    assert config.seed == 42 and config.test_size == 0.25
    assert config.profile_name == "tabular"
    assert parse_config({**VALID, "profile": "image-gpu"}).profile_name == "image-gpu"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"task": "clustering"}, "task: Input should be"),
        ({"dataset": "mnist"}, "dataset 'mnist' is not valid for task tabular_classification"),
        ({"algorithm": "xgboost"}, "algorithm 'xgboost' is not valid"),
        ({"model_name": "bad name!"}, "model_name: String should match pattern"),
        ({"test_size": 1.5}, "test_size: Input should be less than 1"),
        ({"seed": -1}, "seed: Input should be greater than or equal to 0"),
        ({"learning_rate": 0.1}, "learning_rate: Extra inputs are not permitted"),
        ({"hyperparameters": {"C": [1, 2]}}, "hyperparameters.C"),
    ],
)
def test_bad_config_names_the_field(change: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({**VALID, **change})
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_field_is_named() -> None:
    data = dict(VALID)
    del data["experiment"]
    with pytest.raises(ConfigError, match=r"experiment: Field required"):
        parse_config(data)


def test_unknown_hyperparameter_is_named() -> None:
    config = TrainConfig.model_validate({**VALID, "hyperparameters": {"depth": 3}})
    with pytest.raises(ConfigError, match=r"hyperparameters.depth: not a parameter of LogisticRegression"):
        build_estimator(config)


def test_non_object_and_bad_json(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected a JSON object"):
        parse_config([1, 2])
    broken = tmp_path / "broken.json"
    broken.write_text("{ not json")
    with pytest.raises(ConfigError, match="is not valid JSON"):
        load_config(broken)
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.json")


def test_cli_bad_config_exits_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**VALID, "dataset": "mnist"}))
    result = subprocess.run(
        [sys.executable, "-m", "trainer", "train", "--config", str(bad)], capture_output=True, text=True
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "dataset 'mnist'" in lines[0]
    assert "Traceback" not in result.stderr


def test_cli_usage_error_exits_2() -> None:
    result = subprocess.run([sys.executable, "-m", "trainer", "register"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "--run-id" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("hyperparameters", "expected"),
    [
        ({"C": -1}, "'C' parameter of LogisticRegression must be a float in the range (0.0, inf]"),
        ({"max_iter": "many"}, "'max_iter' parameter of LogisticRegression"),
    ],
)
def test_bad_hyperparameter_values_fail_before_any_run(hyperparameters: dict, expected: str) -> None:
    config = TrainConfig.model_validate({**VALID, "hyperparameters": hyperparameters})
    with pytest.raises(ConfigError) as caught:
        build_estimator(config)
    assert expected in str(caught.value)


@pytest.mark.parametrize("ngram_max", ["", None, 0, True, 2.5])
def test_a_bad_ngram_max_is_named_not_a_traceback(ngram_max: object) -> None:
    """Found by the control API's differential test: `int('')` escaped as a ValueError (exit 1, a
    traceback) instead of a config error."""
    text = json.loads((Path(__file__).resolve().parents[3] / "trainer/configs/text.json").read_text())
    text["hyperparameters"]["ngram_max"] = ngram_max
    with pytest.raises(ConfigError, match="ngram_max must be a positive integer"):
        build_estimator(TrainConfig.model_validate(text))


def test_cli_validate_rejects_bad_values_without_mlflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**VALID, "hyperparameters": {"C": -1}}))
    for command in ("validate", "train"):
        result = subprocess.run(
            [sys.executable, "-m", "trainer", command, "--config", str(bad)],
            capture_output=True,
            text=True,
            env={**os.environ, "MLFLOW_TRACKING_URI": "http://127.0.0.1:9"},
        )
        assert result.returncode == 2, result.stderr
        assert "hyperparameters" in result.stderr and "Traceback" not in result.stderr


def test_cli_validate_reports_the_profile() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "trainer", "validate", "--config", str(CONFIGS / "digits-gpu.json")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout)["profile"] == "image-gpu"


def test_train_accepts_a_profile_only_the_repository_knows(tmp_path: Path) -> None:
    """Regression: `train` checked the profile against the model_profiles.yaml baked into the trainer image,
    so a profile added by a config commit failed until the image was rebuilt. The DAG checks the profile
    against the repository's file and picks the pod; the trainer only records the name."""
    config = tmp_path / "new-profile.json"
    config.write_text(json.dumps({**VALID, "profile": "tabular-highmem"}))
    result = subprocess.run(
        [sys.executable, "-m", "trainer", "train", "--config", str(config)],
        capture_output=True,
        text=True,
        env={**os.environ, "MLFLOW_TRACKING_URI": "http://127.0.0.1:9"},
        timeout=300,
    )
    assert "unknown profile" not in result.stderr
    assert result.returncode == 3, result.stderr  # it got as far as MLflow (unreachable here)
