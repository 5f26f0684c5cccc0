"""Configs and profiles come from the checkout the DAGs were loaded from, and follow git-sync to each new
commit: a config commit reaches the next training with no image rebuild.

git-sync keeps each commit in its own worktree and moves the `repo` symlink atomically, then deletes the old
worktree; a long-lived process (DAG processor, triggerer, a local scheduler) imported the DAGs once."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.unit.dags.conftest import DAGS_DIR

# Imports the settings through the symlink, reads iris, flips `repo` to the next commit the way git-sync
# does, deletes the old worktree, reads iris again; prints both seeds and the profile file read.
SCRIPT = """
import json, os, shutil, sys
from mlops_dags.conf import resolve_config
from mlops_dags.profiles import load_profiles
from mlops_dags.settings import DagSettings
root, new = sys.argv[1], sys.argv[2]
settings = DagSettings()
first = resolve_config(settings.configs_dir, "iris", {})["seed"]
os.symlink(new, os.path.join(root, "repo.tmp"))
os.replace(os.path.join(root, "repo.tmp"), os.path.join(root, "repo"))
shutil.rmtree(os.path.join(root, ".worktrees", "commit-1"))
second = resolve_config(settings.configs_dir, "iris", {})["seed"]
print(json.dumps([first, second, sorted(load_profiles(settings.profiles_path)), str(settings.profiles_path)]))
"""


def _worktree(root: Path, name: str, seed: int, extra_profile: str | None) -> Path:
    tree = root / ".worktrees" / name
    shutil.copytree(DAGS_DIR, tree / "dags", ignore=shutil.ignore_patterns("__pycache__"))
    (tree / "trainer" / "configs").mkdir(parents=True)
    iris = json.loads((DAGS_DIR.parent / "trainer/configs/iris.json").read_text())
    (tree / "trainer/configs/iris.json").write_text(json.dumps({**iris, "seed": seed}))
    profiles = (DAGS_DIR.parent / "trainer/model_profiles.yaml").read_text()
    if extra_profile:
        profiles += (
            f"  {extra_profile}:\n    image: ghcr.io/gitops-mlops/trainer:0.1.0\n    command: [python]\n"
        )
    (tree / "trainer/model_profiles.yaml").write_text(profiles)
    return tree


def test_a_config_commit_reaches_the_next_run_without_an_image_rebuild(tmp_path: Path) -> None:
    """Regression: configs and profiles came from copies baked into the Airflow image."""
    first = _worktree(tmp_path, "commit-1", seed=1, extra_profile=None)
    second = _worktree(tmp_path, "commit-2", seed=2, extra_profile="tabular-highmem")
    (tmp_path / "repo").symlink_to(first)
    env = {k: v for k, v in os.environ.items() if k not in {"MODEL_PROFILES_PATH", "TRAINER_CONFIGS_DIR"}}
    env.update(PYTHONPATH=str(tmp_path / "repo" / "dags"), AIRFLOW_HOME=str(tmp_path / "airflow"))
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), str(second)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    seed_before, seed_after, profiles, profiles_path = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (seed_before, seed_after) == (1, 2)
    assert "tabular-highmem" in profiles
    assert profiles_path == str(tmp_path / "repo" / "trainer" / "model_profiles.yaml")
