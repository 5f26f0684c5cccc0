"""The commit trigger's decisions against a real git repository and an in-process Airflow API: what
changed since the last commit that trained, one run per affected config, a repeat starts nothing."""

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from airflow_rest import AirflowAPIError, AirflowAuthError, AirflowClient, AirflowUnreachable
from commit_trigger import cli
from commit_trigger.rules import parse_rules
from commit_trigger.slack import message
from commit_trigger.trigger import find_change, plan, run_id_for, trigger
from tests.support.fake_airflow import FakeAirflow
from tests.unit.commit_trigger.conftest import RULES, Repo, copy_configs

DAG = "ml_train_register_and_reload"


def run_cli(monkeypatch: pytest.MonkeyPatch, fake: FakeAirflow, *argv: str) -> int:
    """The CLI with its AirflowClient talking to the fake."""
    monkeypatch.setenv("AIRFLOW_URL", "http://airflow.test")
    monkeypatch.setenv("AIRFLOW_API_PASSWORD", "secret")
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    real = AirflowClient.__init__

    def with_fake(self, *args, **kwargs):
        real(self, *args, **{**kwargs, "transport": fake.transport()})

    monkeypatch.setattr(AirflowClient, "__init__", with_fake)
    return cli.main(list(argv))


def test_first_trigger_trains_every_config_then_only_what_changed(
    repo: Repo, fake: FakeAirflow, client: Callable[[], AirflowClient]
) -> None:
    rules = parse_rules(RULES, "rules")
    first = repo.commit("README.md")
    change = find_change(repo.git, client(), DAG, first, None)
    assert change.first and plan(rules, change).keys() == {"iris", "wine"}
    report = trigger(client(), rules, change, plan(rules, change), "http://ui")
    assert [o.run_id for o in report.started] == [run_id_for(first, "iris"), run_id_for(first, "wine")]
    # The first training of a config uses first_conf over conf: that version becomes the champion.
    assert fake.runs[(DAG, run_id_for(first, "iris"))]["conf"] == {
        "alias": "champion",
        "strategy": "canary",
        "config": "iris",
        "git_commit": first,
    }

    docs = repo.commit("docs/readme.md")
    change = find_change(repo.git, client(), DAG, docs, None)
    assert (change.base, change.paths) == (first, ["docs/readme.md"])
    assert plan(rules, change) == {}

    # Commits Argo CD never synced on their own still count: the diff starts at the last trained commit.
    repo.commit("trainer/configs/wine.json")
    head = repo.commit("docs/other.md")
    change = find_change(repo.git, client(), DAG, head, None)
    assert change.base == first and plan(rules, change) == {"wine": ["trainer/configs/wine.json"]}

    tuned = repo.commit("trainer/configs/iris.json")
    change = find_change(repo.git, client(), DAG, tuned, None)
    trigger(client(), rules, change, plan(rules, change), "http://ui")
    assert fake.runs[(DAG, run_id_for(tuned, "iris"))]["conf"]["alias"] == "challenger"


def test_a_repeated_trigger_starts_nothing(
    repo: Repo, fake: FakeAirflow, client: Callable[[], AirflowClient]
) -> None:
    rules = parse_rules(RULES, "rules")
    repo.commit("README.md")
    sha = repo.commit("trainer/cli.py")
    reports = []
    for _ in range(2):
        change = find_change(repo.git, client(), DAG, sha, None)
        reports.append(trigger(client(), rules, change, plan(rules, change), "http://ui"))
    assert len(reports[0].started) == 2 and reports[1].started == []
    assert [o.created for o in reports[1].outcomes] == [False, False]
    assert sorted(fake.created()) == sorted(run_id_for(sha, c) for c in ("iris", "wine"))
    assert "already triggered (queued)" in message(reports[1])


def test_cli_over_git_prints_runs_and_json(
    repo: Repo, fake: FakeAirflow, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sha = repo.commit("trainer/configs/iris.json")
    assert run_cli(monkeypatch, fake, "--sha", "HEAD", "--repo", str(repo.path), "--json") == 0
    out = capsys.readouterr().out.splitlines()
    report = json.loads(out[-1])
    assert report["change"]["sha"] == sha and report["change"]["first"] is True
    assert report["started"] == [run_id_for(sha, "iris"), run_id_for(sha, "wine")]
    assert out[0].startswith(f"commit {sha[:12]} (first commit-triggered training)")
    assert f"http://airflow.test/dags/{DAG}/runs/commit-{sha}-iris" in out[1]
    assert run_cli(monkeypatch, fake, "--sha", sha[:10], "--repo", str(repo.path)) == 0
    assert "iris: already triggered (queued)" in capsys.readouterr().out


def test_cli_with_changed_paths_and_a_paused_dag(
    tmp_path: Path, fake: FakeAirflow, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "trainer").mkdir()
    (tmp_path / "trainer" / "train-on-commit.yaml").write_text(RULES)
    copy_configs(tmp_path)
    fake.dags[DAG] = True
    changed = ("./trainer/configs/iris.json", ".github/workflows/ci.yml")
    argv = ("--sha", "ABCDEF1", "--root", str(tmp_path), "--json", "--changed", *changed)
    assert run_cli(monkeypatch, fake, *argv) == 0
    out = capsys.readouterr().out
    assert fake.created() == ["commit-abcdef1-iris"]
    paths = json.loads(out.splitlines()[-1])["change"]["paths"]
    assert paths == [".github/workflows/ci.yml", "trainer/configs/iris.json"]
    assert "is paused in Airflow" in out
    argv = ("--sha", "abcdef2", "--root", str(tmp_path), "--changed", "docs/x.md")
    assert run_cli(monkeypatch, fake, *argv) == 0
    assert "nothing to train" in capsys.readouterr().out and len(fake.created()) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--sha", "not-a-sha", "--changed", "a"), "is not a commit SHA"),
        (("--sha", "nope", "--repo", "{repo}"), "'nope' is not a commit"),
        (("--sha", "HEAD", "--repo", "{repo}", "--rules", "missing.yaml"), "has no rules file missing.yaml"),
        (("--sha", "abcdef1", "--root", "{repo}", "--changed", "a"), "names configs that do not exist"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    repo: Repo,
    fake: FakeAirflow,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: tuple[str, ...],
    message: str,
) -> None:
    (repo.path / "trainer" / "configs" / "wine.json").unlink()  # the worktree lacks it; the commit has it
    args = [a.replace("{repo}", str(repo.path)) for a in argv]
    assert run_cli(monkeypatch, fake, *args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err and "Traceback" not in err


def test_rules_naming_a_config_the_commit_lacks_exit_2(
    repo: Repo, fake: FakeAirflow, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.commit(rules=RULES + "  text: {}\n")
    assert run_cli(monkeypatch, fake, "--sha", "HEAD", "--repo", str(repo.path)) == 2
    assert "names configs the commit lacks: text" in capsys.readouterr().err


def test_missing_password_and_refused_login_and_unreachable_airflow(
    repo: Repo, fake: FakeAirflow, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AIRFLOW_API_PASSWORD", raising=False)
    assert cli.main(["--sha", "HEAD", "--repo", str(repo.path)]) == 2
    assert "set AIRFLOW_API_PASSWORD" in capsys.readouterr().err
    fake.users["ci"] = "other"
    assert run_cli(monkeypatch, fake, "--sha", "HEAD", "--repo", str(repo.path)) == 3
    assert "refused user 'ci': Invalid credentials" in capsys.readouterr().err


def test_client_renews_an_expired_token_once(fake: FakeAirflow, client: Callable[[], AirflowClient]) -> None:
    c = client()
    c.trigger(DAG, "r1", {})
    fake.expire_tokens()
    assert c.run(DAG, "r1").run_id == "r1"
    assert [p for m, p in fake.calls if p == "/auth/token"] == ["/auth/token"] * 2


def test_client_errors_say_what_and_where(fake: FakeAirflow) -> None:
    bad = AirflowClient("http://airflow.test", "ci", "wrong", transport=fake.transport())
    with pytest.raises(AirflowAuthError, match="refused user 'ci'"):
        bad.dag_ids()

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    down = AirflowClient("http://127.0.0.1:9", "ci", "secret", transport=httpx.MockTransport(refuse))
    with pytest.raises(
        AirflowUnreachable, match=r"Airflow at http://127.0.0.1:9 did not answer POST /auth/token"
    ):
        down.run(DAG, "x")
    ok = AirflowClient("http://airflow.test/", "ci", "secret", transport=fake.transport())
    assert ok.ui_link(DAG, "manual__2026-01-01T00:00:00+00:00") == (
        f"http://airflow.test/dags/{DAG}/runs/manual__2026-01-01T00%3A00%3A00%2B00%3A00"
    )
    with pytest.raises(AirflowAPIError, match="answered 404: The DagRun"):
        ok.run(DAG, "missing")


def test_cli_clones_the_repository_as_the_cluster_hook_does(
    repo: Repo, fake: FakeAirflow, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sha = repo.commit("trainer/configs/iris.json")
    url = f"file://{repo.path}"
    assert run_cli(monkeypatch, fake, "--sha", sha, "--clone", url, "--json") == 0
    report = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert report["started"] == [run_id_for(sha, "iris"), run_id_for(sha, "wine")]
    assert run_cli(monkeypatch, fake, "--sha", sha, "--clone", "file:///nowhere/repo") == 2
    assert "git clone file:///nowhere/repo failed" in capsys.readouterr().err
