"""From a commit to DAG runs: what changed (against the last commit that triggered training), which
configs that trains, and one run per config with a run id derived from the commit (409: already there)."""

import re
from dataclasses import asdict, dataclass, field
from urllib.parse import quote

from airflow_rest import AirflowClient
from commit_trigger.errors import TriggerInputError
from commit_trigger.gitrepo import GitRepo
from commit_trigger.rules import Rules

RUN_PREFIX = "commit-"
SHA = re.compile(r"^[0-9a-f]{7,40}$")


def run_id_for(sha: str, config: str) -> str:
    """The DAG run id of a commit's training of one config (the same call twice gives the same id)."""
    return f"{RUN_PREFIX}{sha}-{config}"


def check_sha(sha: str) -> str:
    sha = sha.strip().lower()
    if not SHA.match(sha):
        raise TriggerInputError(f"--sha {sha!r} is not a commit SHA (7 to 40 hex digits)")
    return sha


@dataclass(frozen=True)
class Change:
    """What a commit changed: paths against `base`, or `first` (no earlier commit trained: all configs)."""

    sha: str
    paths: list[str]
    base: str | None = None
    first: bool = False


@dataclass(frozen=True)
class Outcome:
    """One config's run: started now (created) or found (already triggered)."""

    config: str
    run_id: str
    created: bool
    state: str
    link: str
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Report:
    """Everything one trigger call did (printed, posted to Slack, returned as JSON)."""

    dag_id: str
    change: Change
    outcomes: list[Outcome]
    paused: bool = False

    @property
    def started(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.created]

    def as_dict(self) -> dict:
        return {**asdict(self), "started": [o.run_id for o in self.started]}


def previous_commits(client: AirflowClient, dag_id: str) -> list[str]:
    """Commits that triggered training before, newest first (from the runs' conf or run id)."""
    seen: list[str] = []
    for run in client.runs(dag_id, run_id_prefix=RUN_PREFIX, limit=200):
        sha = str(run.conf.get("git_commit") or run.run_id[len(RUN_PREFIX) :].split("-", 1)[0]).lower()
        if SHA.match(sha) and sha not in seen:
            seen.append(sha)
    return seen


def find_change(repo: GitRepo, client: AirflowClient, dag_id: str, sha: str, base: str | None) -> Change:
    """Changed paths of `sha` against `base`, else against the newest earlier commit that triggered
    training and is an ancestor (commits Argo CD skipped are covered), else its first parent; no such
    commit at all (a first sync): every config."""
    if base is not None:
        base_sha = repo.resolve(base)
        return Change(sha, repo.changed_paths(base_sha, sha), base_sha)
    earlier = [s for s in previous_commits(client, dag_id) if not sha.startswith(s) and not s.startswith(sha)]
    for candidate in earlier:
        if repo.has_commit(candidate) and repo.is_ancestor(candidate, sha):
            return Change(sha, repo.changed_paths(candidate, sha), candidate)
    parent = repo.first_parent(sha)
    if earlier and parent:
        return Change(sha, repo.changed_paths(parent, sha), parent)
    return Change(sha, repo.all_paths(sha), None, first=True)


def plan(rules: Rules, change: Change) -> dict[str, list[str]]:
    """Config → why it trains."""
    if change.first:
        return {name: ["no commit has triggered training yet: every config trains"] for name in rules.configs}
    return rules.affected(change.paths)


def trigger(
    client: AirflowClient, rules: Rules, change: Change, planned: dict[str, list[str]], ui_base: str
) -> Report:
    """One run per planned config: created now, or already there (a repeated call starts nothing)."""
    outcomes = []
    for config, reasons in planned.items():
        run_id = run_id_for(change.sha, config)
        conf = {**rules.configs[config].run_conf(change.first), "config": config, "git_commit": change.sha}
        note = f"Triggered by commit {change.sha[:12]}: {', '.join(reasons)[:500]}"
        done = client.trigger(rules.dag_id, run_id, conf, note=note)
        link = f"{ui_base}/dags/{quote(rules.dag_id, safe='')}/runs/{quote(run_id, safe='')}"
        outcomes.append(Outcome(config, run_id, done.created, done.run.state, link, reasons))
    paused = bool(outcomes) and bool(client.dag(rules.dag_id).get("is_paused"))
    return Report(rules.dag_id, change, outcomes, paused)


def summary_lines(report: Report) -> list[str]:
    """What the trigger did, for people (stdout and Slack)."""
    change, short = report.change, report.change.sha[:12]
    if change.first:
        scope = "first commit-triggered training"
    elif change.base:
        scope = f"{len(change.paths)} changed path(s) since {change.base[:12]}"
    else:
        scope = f"{len(change.paths)} changed path(s)"
    if not report.outcomes:
        return [f"commit {short}: nothing to train ({scope}; none matches the rules)"]
    lines = [f"commit {short} ({scope}): {report.dag_id}"]
    for o in report.outcomes:
        verb = "started" if o.created else f"already triggered ({o.state})"
        lines.append(f"  {o.config}: {verb} run {o.run_id}  {o.link}  [{', '.join(o.reasons)[:200]}]")
    if report.paused:
        lines.append(f"  WARNING: {report.dag_id} is paused in Airflow: the runs wait until it is unpaused")
    return lines
