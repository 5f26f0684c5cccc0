"""A real git repository with the project's rules and configs, and the in-process fake of Airflow's API."""

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_rest import AirflowClient
from commit_trigger.gitrepo import GitRepo
from tests.support.fake_airflow import FakeAirflow

REPO_ROOT = Path(__file__).resolve().parents[3]
RULES = """\
dag_id: ml_train_register_and_reload
retrain_all: ["trainer/**/*.py", "trainer/model_profiles.yaml"]
configs:
  iris: {conf: {alias: challenger, strategy: canary}, first_conf: {alias: champion}}
  wine: {conf: {alias: challenger}, paths: ["data/wine/**"]}
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


class Repo:
    """A throwaway repository: commit(paths) writes each path and returns the new SHA."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.git = GitRepo(path)
        self.counter = 0

    def commit(self, *paths: str, rules: str | None = None) -> str:
        self.counter += 1
        for rel in paths:
            file = self.path / rel
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(f"change {self.counter}\n")
        if rules is not None:
            (self.path / "trainer").mkdir(exist_ok=True)
            (self.path / "trainer" / "train-on-commit.yaml").write_text(rules)
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "--allow-empty", "-m", f"commit {self.counter}")
        return git(self.path, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "ci@example.invalid")
    git(path, "config", "user.name", "ci")
    r = Repo(path)
    r.commit("trainer/configs/iris.json", "trainer/configs/wine.json", "README.md", rules=RULES)
    return r


@pytest.fixture
def fake() -> FakeAirflow:
    return FakeAirflow()


@pytest.fixture
def client(fake: FakeAirflow) -> Callable[[], AirflowClient]:
    return lambda: AirflowClient("http://airflow.test", "ci", "secret", transport=fake.transport())


@pytest.fixture
def real_rules_text() -> str:
    return (REPO_ROOT / "trainer" / "train-on-commit.yaml").read_text()


def copy_configs(into: Path) -> None:
    shutil.copytree(REPO_ROOT / "trainer" / "configs", into / "trainer" / "configs")
