"""Stateful: commits land on main (each touching some paths) and the trigger runs for the newest one,
possibly again. Whatever the order, no change that trains a config is lost, nothing trains without a
reason, and no (commit, config) ever gets a second run."""

import subprocess
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from airflow_rest import AirflowClient
from commit_trigger.gitrepo import GitRepo
from commit_trigger.rules import parse_rules
from commit_trigger.trigger import find_change, plan, run_id_for, trigger
from tests.support.fake_airflow import FakeAirflow
from tests.unit.commit_trigger.conftest import RULES

DAG = "ml_train_register_and_reload"
RULESET = parse_rules(RULES, "rules")
PATHS = [
    "trainer/configs/iris.json",
    "trainer/configs/wine.json",
    "data/wine/a.csv",
    "trainer/x.py",
    "docs/a.md",
]


def trains(path: str) -> set[str]:
    return set(RULESET.affected([path]))


class CommitTrigger(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.path = Path(tempfile.mkdtemp(prefix="trigger-state-"))
        self._git("init", "-q", "-b", "main")
        self._git("config", "user.email", "ci@example.invalid")
        self._git("config", "user.name", "ci")
        self.repo = GitRepo(self.path)
        self.fake = FakeAirflow()
        self.commits: list[tuple[str, set[str]]] = []  # (sha, configs its paths train)
        self.triggered_upto = -1  # index of the newest commit the trigger ran for
        self.counter = 0

    def _git(self, *args: str) -> None:
        subprocess.run(["git", "-C", str(self.path), *args], capture_output=True, check=True)

    def teardown(self) -> None:
        subprocess.run(["rm", "-rf", str(self.path)], check=False)

    @rule(paths=st.sets(st.sampled_from(PATHS), max_size=3))
    def land_commit(self, paths: set[str]) -> None:
        self.counter += 1
        for rel in paths:
            file = self.path / rel
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(f"{self.counter}\n")
        self._git("add", "-A")
        self._git("commit", "-q", "--allow-empty", "-m", f"c{self.counter}")
        sha = subprocess.run(
            ["git", "-C", str(self.path), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        self.commits.append((sha, set().union(*(trains(p) for p in paths))))

    @precondition(lambda self: self.commits)
    @rule(again=st.booleans())
    def trigger_newest(self, again: bool) -> None:
        index = len(self.commits) - 1
        sha = self.commits[index][0]
        before = set(self.fake.created())
        client = AirflowClient("http://airflow.test", "ci", "secret", transport=self.fake.transport())
        rounds = 2 if again else 1
        for round_ in range(rounds):
            change = find_change(self.repo, client, DAG, sha, None)
            report = trigger(client, RULESET, change, plan(RULESET, change), "http://ui")
            if round_ == 1:
                assert report.started == [], "a repeated trigger started a run"
        new = set(self.fake.created()) - before
        assert all(run_id.startswith(f"commit-{sha}-") for run_id in new)
        self.triggered_upto = index

    @invariant()
    def no_change_is_lost(self) -> None:
        """Every commit up to the newest triggered one: each config its paths train has a run at that
        commit or a later triggered one."""
        created = set(self.fake.created())
        for i, (_sha, configs) in enumerate(self.commits[: self.triggered_upto + 1]):
            for config in configs:
                later = [sha for sha, _ in self.commits[i : self.triggered_upto + 1]]
                assert any(run_id_for(s, config) in created for s in later), (i, config)

    @invariant()
    def nothing_trains_without_a_reason(self) -> None:
        """A run exists only for the first commit that triggered, or when some commit up to it trains
        that config."""
        created = self.fake.created()
        first = min((r.split("-")[1] for r in created), key=self._index, default=None)
        for run_id in created:
            sha, config = run_id.split("-", 2)[1:]
            if sha == first:
                continue
            upto = self._index(sha)
            assert any(config in configs for _, configs in self.commits[: upto + 1]), run_id

    def _index(self, sha: str) -> int:
        return next(i for i, (s, _) in enumerate(self.commits) if s == sha)


CommitTrigger.TestCase.settings = settings(max_examples=20, stateful_step_count=10, deadline=None)
TestCommitTrigger = CommitTrigger.TestCase
