"""Run conf validation (messages name the field), config resolution and the every-replica check."""

import pytest

from tests.unit.dags.conftest import REPO_ROOT


def test_conf_errors_name_the_field() -> None:
    from mlops_dags.conf import ConfError, TrainConf, parse

    with pytest.raises(ConfError, match=r"quality_threshold"):
        parse(TrainConf, {"config": "iris", "quality_threshold": "high"})
    with pytest.raises(ConfError, match=r"alias: .*not a usable alias"):
        parse(TrainConf, {"config": "iris", "quality_threshold": 0.8, "alias": "latest"})
    with pytest.raises(ConfError, match=r"strategy"):
        parse(TrainConf, {"config": "iris", "quality_threshold": 0.8, "strategy": "shadow"})
    with pytest.raises(ConfError, match=r"unknown field\(s\) \['colour'\]"):
        parse(TrainConf, {"config": "iris", "quality_threshold": 0.8, "colour": "red"})
    with pytest.raises(ConfError, match=r"overrides: not valid JSON"):
        parse(TrainConf, {"config": "iris", "quality_threshold": 0.8, "overrides": "{oops"})
    conf = parse(TrainConf, {"config": "iris", "quality_threshold": 0.8, "overrides": '{"seed": 7}'})
    assert conf.overrides == {"seed": 7} and conf.alias == "challenger"


def test_resolve_config_merges_overrides_and_names_bad_input() -> None:
    from mlops_dags.conf import ConfError, profile_name, resolve_config

    configs = REPO_ROOT / "trainer" / "configs"
    merged = resolve_config(configs, "wine", {"seed": 3})
    assert merged["seed"] == 3 and merged["dataset"] == "wine" and profile_name(merged) == "tabular"
    assert profile_name(resolve_config(configs, "digits-gpu", {})) == "image-gpu"
    inline = resolve_config(
        configs, '{"model_name": "m", "task": "text_classification", "experiment": "e"}', {}
    )
    assert profile_name(inline) == "text"
    with pytest.raises(ConfError, match=r"config: no config 'nope'.*known: \[.*'iris'"):
        resolve_config(configs, "nope", {})
    with pytest.raises(ConfError, match=r"config.task: 'poetry'"):
        resolve_config(configs, "iris", {"task": "poetry"})
    with pytest.raises(ConfError, match=r"config: '../etc/passwd' is not a config name"):
        resolve_config(configs, "../etc/passwd", {})


def test_default_profiles_match_the_trainer() -> None:
    from mlops_dags.conf import DEFAULT_PROFILE_BY_TASK

    from trainer.config import DEFAULT_PROFILE_BY_TASK as TRAINER_DEFAULTS

    assert {task.value: profile for task, profile in TRAINER_DEFAULTS.items()} == DEFAULT_PROFILE_BY_TASK


def test_dag_profiles_read_the_same_file_as_the_trainer() -> None:
    from mlops_dags.profiles import load_profiles

    from trainer.profiles import load_profiles as trainer_profiles

    ours = load_profiles(REPO_ROOT / "trainer" / "model_profiles.yaml")
    theirs = trainer_profiles().profiles
    assert set(ours) == set(theirs)
    for name, profile in ours.items():
        assert profile.image == theirs[name].image and profile.gpu == theirs[name].gpu
        assert profile.limits == theirs[name].resources.limits


def _status(replicas: list[dict]) -> dict:
    return {
        "name": "iris",
        "aliases": {"challenger": "3"},
        "variants": [
            {"name": "champion", "alias": "champion"},
            {"name": "challenger", "alias": "challenger"},
        ],
        "replicas": replicas,
    }


def test_every_alive_replica_must_serve_the_version() -> None:
    from mlops_dags.serving import replicas_behind

    fresh = {"replica_id": "a", "alive": True, "versions": {"challenger": "3", "champion": "2"}}
    stale = {"replica_id": "b", "alive": True, "versions": {"challenger": "2", "champion": "2"}}
    dead = {"replica_id": "c", "alive": False, "versions": {"challenger": "1"}}
    assert replicas_behind(_status([fresh, dead]), "challenger", "3", 1) is None
    assert "replica b serves challenger=v2, expected v3" in replicas_behind(
        _status([fresh, stale]), "challenger", "3", 1
    )
    assert "1 alive replica(s) report, 2 expected" in replicas_behind(
        _status([fresh, dead]), "challenger", "3", 2
    )
    assert "no variant with alias blue" in replicas_behind(_status([fresh]), "blue", "3", 1)


def test_git_commit_reaches_the_pod_env() -> None:
    from mlops_dags.conf import ConfError, TrainConf, parse
    from mlops_dags.pods import pod_env
    from mlops_dags.settings import DagSettings

    conf = parse(TrainConf, {"config": "iris", "quality_threshold": 0.8, "git_commit": "0d85aa5"})
    assert pod_env(DagSettings(), "http://mlflow:5000", "run-1", conf.git_commit)["GIT_COMMIT"] == "0d85aa5"
    with pytest.raises(ConfError, match=r"git_commit"):
        parse(TrainConf, {"config": "iris", "quality_threshold": 0.8, "git_commit": "main; rm -rf /"})


def test_quality_threshold_description_matches_what_the_gate_compares(dagbag) -> None:
    """Regression: the description said "for regression the maximum RMSE"; the gate compares R² (higher
    is better), the trainer's primary metric for regression."""
    from trainer.config import Task
    from trainer.metrics import primary_metric

    description = (
        dagbag.dags["ml_train_register_and_reload"].params.get_param("quality_threshold").description
    )
    shown = {"accuracy": "accuracy", "r2": "R²"}
    for task in Task:
        metric = primary_metric(task)
        assert metric.higher_is_better and shown[metric.name] in description, (task, metric)
    assert description.startswith("Minimum") and "RMSE" not in description


@pytest.mark.parametrize(
    ("current", "names", "expected"),
    [
        ({"champion": 90, "challenger": 10}, ["challenger"], {"champion": 100, "challenger": 0}),
        ({"a": 0, "b": 100}, ["b"], {"a": 100, "b": 0}),  # the others had nothing: the first takes all
        ({"a": 50, "b": 25, "c": 25}, ["a"], {"a": 0, "b": 50, "c": 50}),
        ({"a": 34, "b": 33, "c": 33}, ["c"], {"a": 51, "b": 49, "c": 0}),  # rounding goes to the first
        ({"a": 20, "b": 20, "c": 60}, ["a", "c"], {"a": 0, "b": 100, "c": 0}),
    ],
)
def test_weights_without_a_variant_keep_the_others_proportions(current, names, expected) -> None:
    from mlops_dags.release import weights_without

    weights = weights_without(current, list(current), names)
    assert weights == expected and sum(weights.values()) == 100
