"""Which changed paths train which configs (trainer/train-on-commit.yaml)."""

import json

import pytest
import yaml

from commit_trigger.errors import TriggerInputError
from commit_trigger.rules import matches, parse_rules
from tests.unit.commit_trigger.conftest import REPO_ROOT, RULES


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("trainer/**/*.py", "trainer/cli.py", True),
        ("trainer/**/*.py", "trainer/sub/deep/x.py", True),
        ("trainer/**/*.py", "trainer/cli.pyc", False),
        ("trainer/**/*.py", "serving/trainer/x.py", False),
        ("trainer/*.py", "trainer/sub/x.py", False),
        ("trainer/data/**", "trainer/data/a/b.csv", True),
        ("trainer/model_profiles.yaml", "trainer/model_profiles.yaml", True),
        ("trainer/model_profiles.yaml", "trainer/model_profiles.yaml.bak", False),
        ("data/?.csv", "data/a.csv", True),
        ("data/?.csv", "data/ab.csv", False),
        ("a+b/(x).txt", "a+b/(x).txt", True),
    ],
)
def test_glob_matching(pattern: str, path: str, expected: bool) -> None:
    assert matches(pattern, path) is expected


def test_affected_configs_and_why() -> None:
    rules = parse_rules(RULES, "rules")
    assert rules.affected(["docs/x.md", "serving/app.py"]) == {}
    assert rules.affected(["trainer/configs/iris.json", "trainer/configs/text.json"]) == {
        "iris": ["trainer/configs/iris.json"]
    }
    assert rules.affected(["data/wine/red.csv"]) == {"wine": ["data/wine/red.csv"]}
    everything = rules.affected(["trainer/train.py", "trainer/configs/iris.json"])
    assert everything == {
        "iris": ["trainer/configs/iris.json", "trainer/train.py"],
        "wine": ["trainer/train.py"],
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("configs: [", "not valid YAML"),
        ("retrain_all: []\n", "configs: Field required"),
        ("configs: {iris: {conf: {git_commit: x}}}", "configs.iris.conf: Value error, git_commit are set by"),
        ("configs: {iris: {confs: {}}}", "configs.iris.confs: Extra inputs are not permitted"),
        ("configs: {}\nunknown: 1", "unknown: Extra inputs are not permitted"),
    ],
)
def test_bad_rules_fail_with_one_line_naming_the_field(text: str, message: str) -> None:
    with pytest.raises(TriggerInputError) as caught:
        parse_rules(text, "rules.yaml")
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_the_repository_rules_name_configs_that_exist_and_the_gateway_serves() -> None:
    rules = parse_rules((REPO_ROOT / "trainer" / "train-on-commit.yaml").read_text(), "repo rules")
    gateway = yaml.safe_load((REPO_ROOT / "serving" / "examples" / "local.yaml").read_text())
    served = {model["registered_model"] for model in gateway["models"]}
    for name in rules.configs:
        config = json.loads((REPO_ROOT / rules.config_path(name)).read_text())
        assert config["model_name"] in served, name
    assert rules.affected(["trainer/train.py"]).keys() == rules.configs.keys()
