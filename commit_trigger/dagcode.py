"""Start runs only once Airflow has parsed the commit's DAG code. In the cluster git-sync brings a commit to
Airflow up to its period after Argo CD synced it, so a PostSync hook could otherwise start a run of the
previous commit's DAGs. DAGs parsed from a git-sync worktree carry the tag `commit:<sha>`
(dags/mlops_dags/codeversion.py), which `GET /api/v2/dags/{dag_id}` shows: the trigger waits until that
commit is the synced one or a later one (the synced commit is its ancestor)."""

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_rest import AirflowAPIError, AirflowClient
from commit_trigger.errors import DagCodeNotReady
from commit_trigger.gitrepo import GitRepo

COMMIT_TAG_PREFIX = "commit:"
POLL_SECONDS = 5.0


def parsed_commit(dag: Mapping[str, Any]) -> str | None:
    """The commit a DAG's files were parsed from (its `commit:` tag), or None when it carries none."""
    for tag in dag.get("tags") or []:
        name = tag.get("name", "") if isinstance(tag, Mapping) else str(tag)
        if name.startswith(COMMIT_TAG_PREFIX):
            return name.removeprefix(COMMIT_TAG_PREFIX).lower()
    return None


@dataclass(frozen=True)
class DagCode:
    """What Airflow had parsed when the trigger went on: the commit (None: the DAGs do not say) and how
    long the trigger waited for it."""

    commit: str | None
    waited_seconds: float = 0.0


class CodeCheck:
    """Whether parsed DAG code includes a commit: the same commit, or a later one (with a repository to
    tell: a commit the clone lacks makes it fetch once, as git-sync may be ahead of the clone)."""

    def __init__(self, sha: str, repo: GitRepo | None) -> None:
        self.sha = sha
        self.repo = repo
        self.fetched: set[str] = set()

    def includes(self, parsed: str) -> bool:
        if parsed.startswith(self.sha) or self.sha.startswith(parsed):
            return True
        if self.repo is None:
            return False
        if not self.repo.has_commit(parsed) and parsed not in self.fetched:
            self.fetched.add(parsed)
            self.repo.fetch()
        return self.repo.has_commit(parsed) and self.repo.is_ancestor(self.sha, parsed)


def wait_for_dag_code(
    client: AirflowClient,
    dag_id: str,
    check: CodeCheck,
    *,
    timeout: float,
    require: bool,
    interval: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> DagCode:
    """Poll the DAG until its parsed commit includes `check.sha`. A DAG without a `commit:` tag (DAGs not
    from git-sync, e.g. a developer's checkout) is taken as it is unless `require`; then, like DAG code of
    an earlier or unrelated commit or a DAG Airflow does not list yet (a first sync), it is waited for
    until `timeout` and raises DagCodeNotReady."""
    interval = POLL_SECONDS if interval is None else interval
    began = clock()
    while True:
        dag = _dag_if_listed(client, dag_id)
        parsed = parsed_commit(dag) if dag is not None else None
        if dag is not None and parsed is None and not require:
            return DagCode(None)
        if parsed is not None and check.includes(parsed):
            return DagCode(parsed, clock() - began)
        if clock() - began >= timeout:
            raise DagCodeNotReady(_not_ready(dag_id, check, dag, parsed, timeout))
        sleep(min(interval, max(timeout - (clock() - began), 0.0)))


def _dag_if_listed(client: AirflowClient, dag_id: str) -> dict[str, Any] | None:
    """The DAG as Airflow lists it, None while Airflow does not know it yet (404: its file not parsed)."""
    try:
        return client.dag(dag_id)
    except AirflowAPIError as error:
        if error.status == 404:
            return None
        raise


def _not_ready(
    dag_id: str, check: CodeCheck, dag: dict[str, Any] | None, parsed: str | None, timeout: float
) -> str:
    short = check.sha[:12]
    if dag is None:
        return (
            f"Airflow does not know the DAG {dag_id} after {timeout:.0f}s: its DAG files were not parsed "
            "(is git-sync or the DAG processor failing?). Nothing was triggered; rerun to retry"
        )
    if parsed is None:
        return (
            f"Airflow's {dag_id} does not say which commit its DAG files come from (no `commit:` tag) after "
            f"{timeout:.0f}s; its DAGs must come from git-sync (or drop --require-dag-commit)"
        )
    why = "" if check.repo is not None else " (without --repo/--clone the trigger cannot tell later commits)"
    return (
        f"Airflow's {dag_id} was parsed from commit {parsed[:12]}, not {short} or a later commit, after "
        f"{timeout:.0f}s{why}: is git-sync behind or failing? Nothing was triggered; rerun to retry"
    )
