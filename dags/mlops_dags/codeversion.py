"""Which commit the DAG files were parsed from, as a DAG tag `commit:<sha>` that Airflow's UI and REST API
show (`GET /api/v2/dags/{dag_id}`). The commit trigger reads it to start runs only once Airflow has parsed
the synced commit's DAGs: in the cluster git-sync brings a commit up to its period after Argo CD synced it.

git-sync (v4, the official chart's) links the DAGs folder through `--link` to a worktree folder, and "the
basename of the target of the link is the current hash" (git-sync's documented contract): the repository
root of these files, resolved through that link, is named by the commit. A developer's checkout is not, and
its files may differ from any commit: no tag."""

import re
from pathlib import Path

from mlops_dags.settings import REPO_ROOT

COMMIT_TAG_PREFIX = "commit:"
FULL_SHA = re.compile(r"[0-9a-f]{40}")


def dags_commit(repo_root: Path = REPO_ROOT) -> str | None:
    """The commit of git-sync's worktree these files were read from, else None."""
    name = repo_root.resolve().name
    return name if FULL_SHA.fullmatch(name) else None


def dag_tags(*tags: str, repo_root: Path = REPO_ROOT) -> list[str]:
    """A DAG's tags plus `commit:<sha>` when the files come from a git-sync worktree."""
    commit = dags_commit(repo_root)
    return [*tags, f"{COMMIT_TAG_PREFIX}{commit}"] if commit else list(tags)
