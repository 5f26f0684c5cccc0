"""ops.image_tags on a copy of the repository's values: set, promote, refuse what CI never builds."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ops.image_tags.__main__ import main
from ops.image_tags.fields import FIELDS, TagError, promote, read, set_tags, tags, write

REPO = Path(__file__).resolve().parents[3]
SHA_A = "a" * 40
SHA_B = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for field in FIELDS:
        for env in ("dev", "prod"):
            rel = field.file.format(env=env)
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / rel, tmp_path / rel)
    return tmp_path


def test_set_changes_every_tag_of_one_env_and_keeps_comments(repo: Path) -> None:
    before = {f: (repo / f.file.format(env="prod")).read_text() for f in FIELDS}
    changed = set_tags(repo, "dev", SHA_A)
    assert changed and all("/dev.yaml" in c for c in changed)
    assert set(tags(repo, "dev").values()) == {SHA_A}
    assert {f: (repo / f.file.format(env="prod")).read_text() for f in FIELDS} == before
    text = (repo / "charts/airflow/values/dev.yaml").read_text()
    assert "# The trainer (and trainer-gpu) image tag" in text


def test_promote_copies_dev_to_prod(repo: Path) -> None:
    set_tags(repo, "dev", SHA_B)
    tag, changed = promote(repo, "dev", "prod")
    assert tag == SHA_B and all("/prod.yaml" in c for c in changed)
    assert set(tags(repo, "prod").values()) == {SHA_B}


def test_promote_refuses_an_env_of_mixed_builds(repo: Path) -> None:
    path = repo / "charts/serving/values/dev.yaml"
    path.write_text(write(path.read_text(), "image.tag", SHA_B))
    set_tags(repo, "prod", SHA_A)
    with pytest.raises(TagError, match="several builds"):
        promote(repo, "dev", "prod")


def test_a_tag_ci_never_pushes_is_refused_with_exit_2(repo: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--repo", str(repo), "set", "--env", "dev", "--tag", "0.1.0"]) == 2
    assert "not a commit SHA" in capsys.readouterr().err


def test_a_values_file_without_the_field_names_it(repo: Path, capsys: pytest.CaptureFixture) -> None:
    path = repo / "charts/airflow/values/dev.yaml"
    path.write_text(path.read_text().replace("TRAINER_IMAGE_TAG", "OTHER"))
    assert main(["--repo", str(repo), "set", "--env", "dev", "--tag", SHA_A]) == 2
    assert "charts/airflow/values/dev.yaml:env:TRAINER_IMAGE_TAG: no single" in capsys.readouterr().err


def test_write_touches_only_the_nested_key() -> None:
    text = 'image:\n  repository: x\n  tag: "1"\nother:\n  tag: "2"\n'
    new = write(text, "image.tag", SHA_A)
    assert read(new, "image.tag") == SHA_A and read(new, "other.tag") == "2"


def test_the_repository_runs_one_build_per_environment() -> None:
    for env in ("dev", "prod"):
        found = set(tags(REPO, env).values())
        assert len(found) == 1 and len(found.pop()) == 40
