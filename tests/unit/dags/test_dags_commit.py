"""DAGs parsed from a git-sync worktree carry the commit as a tag (`commit:<sha>`) that the commit trigger
reads through Airflow's REST API; DAGs parsed from a developer's checkout carry none."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.unit.dags.conftest import DAGS_DIR, REPO_ROOT

SHA = "0123456789abcdef0123456789abcdef01234567"
PARSE = """
import json, sys
from pathlib import Path
from airflow.dag_processing.dagbag import BundleDagBag
# As the DAG processor parses the dags-folder bundle (the bundle's path on sys.path).
bag = BundleDagBag(dag_folder=sys.argv[1], bundle_path=Path(sys.argv[1]))
errors = {k: str(v)[-500:] for k, v in bag.import_errors.items()}
print(json.dumps({"errors": errors, "tags": {d: sorted(dag.tags) for d, dag in bag.dags.items()}}))
"""


def git_sync_volume(root: Path) -> Path:
    """What git-sync v4 leaves in the official chart's DAGs volume: `.worktrees/<sha>` holding the
    repository at that commit, and the link `repo` to it; the DAGs folder is `repo/dags`."""
    worktree = root / ".worktrees" / SHA
    shutil.copytree(DAGS_DIR, worktree / "dags", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO_ROOT / "trainer" / "configs", worktree / "trainer" / "configs")
    shutil.copy(REPO_ROOT / "trainer" / "model_profiles.yaml", worktree / "trainer")
    (root / "repo").symlink_to(Path(".worktrees") / SHA)  # relative, as git-sync links it
    return root / "repo" / "dags"


def test_dags_from_a_git_sync_worktree_carry_its_commit(tmp_path: Path) -> None:
    folder = git_sync_volume(tmp_path / "dags-volume")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "MLOPS_RUNTIME": "kubernetes",
    }
    done = subprocess.run(
        [sys.executable, "-c", PARSE, str(folder)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    parsed = json.loads(done.stdout.splitlines()[-1])
    assert parsed["errors"] == {}
    assert len(parsed["tags"]) == 3
    assert all(f"commit:{SHA}" in tags and "mlops" in tags for tags in parsed["tags"].values()), parsed


def test_dags_from_a_checkout_carry_no_commit(dagbag) -> None:
    from mlops_dags.codeversion import dags_commit

    assert dags_commit() is None
    for dag in dagbag.dags.values():
        assert not [t for t in dag.tags if t.startswith("commit:")], dag.dag_id
