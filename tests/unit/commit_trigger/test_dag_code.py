"""The trigger starts runs only once Airflow has parsed the DAGs of the commit or a later one (their
`commit:` tag under git-sync), so a hook that runs before git-sync caught up never starts a run of the
previous commit's DAGs; stale DAG code past the timeout is exit 4 with one line and no run."""

import subprocess
from pathlib import Path

import httpx
import pytest

from commit_trigger import dagcode
from commit_trigger.dagcode import CodeCheck, parsed_commit
from commit_trigger.gitrepo import GitRepo
from commit_trigger.trigger import run_id_for
from tests.support.fake_airflow import FakeAirflow
from tests.unit.commit_trigger.conftest import Repo, git
from tests.unit.commit_trigger.test_trigger import DAG, run_cli


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dagcode, "POLL_SECONDS", 0.01)


def dag_reads_before_the_first_run(fake: FakeAirflow) -> int:
    calls = [(m, p) for m, p in fake.calls if p != "/auth/token"]
    first_post = next(i for i, (m, p) in enumerate(calls) if m == "POST" and p.endswith("/dagRuns"))
    return sum(1 for m, p in calls[:first_post] if m == "GET" and p == f"/api/v2/dags/{DAG}")


def test_waits_until_airflow_parsed_the_commit(
    repo: Repo, fake: FakeAirflow, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = repo.commit("README.md")
    sha = repo.commit("trainer/configs/iris.json")
    # git-sync is behind: the DAG processor still has the previous commit's files for two more reads.
    fake.tag_updates[DAG] = [["mlops", f"commit:{before}"]] * 2 + [["mlops", f"commit:{sha}"]]
    argv = ("--sha", sha, "--repo", str(repo.path), "--require-dag-commit", "--dag-code-timeout", "60")
    assert run_cli(monkeypatch, fake, *argv) == 0
    assert dag_reads_before_the_first_run(fake) == 3
    assert run_id_for(sha, "iris") in fake.created()
    assert f"Airflow parsed the DAGs of commit {sha[:12]}" in capsys.readouterr().out


def test_dags_of_a_later_commit_do(repo: Repo, fake: FakeAirflow, monkeypatch: pytest.MonkeyPatch) -> None:
    sha = repo.commit("trainer/configs/iris.json")
    later = repo.commit("docs/later.md")
    fake.tags[DAG] = [f"commit:{later}"]
    assert run_cli(monkeypatch, fake, "--sha", sha, "--repo", str(repo.path), "--require-dag-commit") == 0
    assert dag_reads_before_the_first_run(fake) == 1 and run_id_for(sha, "iris") in fake.created()


def test_stale_dag_code_ends_with_exit_4_and_no_run(
    repo: Repo, fake: FakeAirflow, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = repo.commit("README.md")
    sha = repo.commit("trainer/configs/iris.json")
    fake.tags[DAG] = [f"commit:{before}"]
    argv = ("--sha", sha, "--repo", str(repo.path), "--dag-code-timeout", "0.3")
    assert run_cli(monkeypatch, fake, *argv) == 4
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: Airflow's {DAG} was parsed from commit {before[:12]}, not {sha[:12]}")
    assert "\n" not in err and fake.created() == []


def test_untagged_dags_are_taken_as_they_are_unless_required(
    repo: Repo, fake: FakeAirflow, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sha = repo.commit("trainer/configs/iris.json")
    argv = ("--sha", sha, "--repo", str(repo.path), "--dag-code-timeout", "0.2")
    assert run_cli(monkeypatch, fake, *argv, "--require-dag-commit") == 4
    assert "does not say which commit its DAG files come from" in capsys.readouterr().err
    assert fake.created() == []
    assert run_cli(monkeypatch, fake, *argv) == 0  # a developer's checkout: no tag, no wait
    assert run_id_for(sha, "iris") in fake.created()


def test_with_changed_paths_only_the_same_commit_counts(
    tmp_path: Path, fake: FakeAirflow, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.unit.commit_trigger.conftest import RULES, copy_configs

    (tmp_path / "trainer").mkdir()
    (tmp_path / "trainer" / "train-on-commit.yaml").write_text(RULES)
    copy_configs(tmp_path)
    sha = "abcdef1" + "0" * 33
    base = ("--root", str(tmp_path), "--dag-code-timeout", "0.2", "--changed", "trainer/configs/iris.json")
    fake.tags[DAG] = [f"commit:{'9' * 40}"]
    assert run_cli(monkeypatch, fake, "--sha", "abcdef1", *base) == 4
    assert "without --repo/--clone the trigger cannot tell later commits" in capsys.readouterr().err
    fake.tags[DAG] = [f"commit:{sha}"]
    assert run_cli(monkeypatch, fake, "--sha", "abcdef1", *base) == 0
    assert fake.created() == ["commit-abcdef1-iris"]


@pytest.mark.parametrize("blobless", [True, False])
def test_a_commit_git_sync_has_and_the_clone_lacks_counts(repo: Repo, tmp_path: Path, blobless: bool) -> None:
    """The hook's blobless clone asks its remote for a commit it lacks; a full checkout (--repo) fetches."""
    sha = repo.commit("trainer/configs/iris.json")
    if blobless:
        clone = GitRepo.clone(f"file://{repo.path}", tmp_path / "clone")
    else:
        subprocess.run(["git", "clone", "-q", str(repo.path), str(tmp_path / "clone")], check=True)
        clone = GitRepo(tmp_path / "clone")
    pushed = repo.commit("docs/after-the-clone.md")  # git-sync syncs it before the trigger looks
    check = CodeCheck(sha, clone)
    assert check.includes(pushed) and check.includes(sha)
    unrelated = git(repo.path, "commit-tree", "-m", "orphan", git(repo.path, "rev-parse", "HEAD^{tree}"))
    assert not check.includes(unrelated) and not check.includes("f" * 40)


def test_parsed_commit_reads_the_tag_as_airflow_lists_it() -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    dag = {"tags": [{"name": "mlops", "dag_id": DAG}, {"name": f"commit:{sha}", "dag_id": DAG}]}
    assert parsed_commit(dag) == sha
    assert parsed_commit({"tags": [{"name": "mlops", "dag_id": DAG}]}) is None
    assert parsed_commit({}) is None


def test_a_dag_airflow_does_not_list_yet_is_waited_for(
    repo: Repo, fake: FakeAirflow, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A first sync: the hook runs before the DAG processor parsed any DAG file (404), then it appears."""
    sha = repo.commit("trainer/configs/iris.json")
    fake.dags.pop(DAG)
    argv = ("--sha", sha, "--repo", str(repo.path), "--dag-code-timeout", "0.3")
    assert run_cli(monkeypatch, fake, *argv) == 4
    assert f"Airflow does not know the DAG {DAG} after 0s" in capsys.readouterr().err
    reads = iter(range(1000))

    def parse_on_third_read(request: httpx.Request) -> httpx.Response:
        if request.url.path == f"/api/v2/dags/{DAG}" and next(reads) == 2:
            fake.dags[DAG] = False
            fake.tags[DAG] = [f"commit:{sha}"]
        return fake.handle(request)

    monkeypatch.setattr(fake, "transport", lambda: httpx.MockTransport(parse_on_third_read))
    assert run_cli(monkeypatch, fake, *argv[:-1], "60") == 0
    assert run_id_for(sha, "iris") in fake.created()
