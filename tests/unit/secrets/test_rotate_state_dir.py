"""A rotation's progress must survive `make clean` and a fresh clone: it lives outside the repository."""

from pathlib import Path

from ops.rotate.cli import build_parser
from ops.rotate.state import default_state_dir

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_default_is_outside_the_repository_and_its_stack_folder(monkeypatch) -> None:
    monkeypatch.delenv("MLOPS_ROTATE_STATE_DIR", raising=False)
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setenv("HOME", "/home/operator")
    default = default_state_dir()
    assert default == Path("/home/operator/.local/state/gitops-mlops/rotate")
    assert REPO_ROOT not in default.parents and ".stack" not in default.parts


def test_the_operator_chooses_the_path() -> None:
    assert default_state_dir({"MLOPS_ROTATE_STATE_DIR": "/srv/rotate"}) == Path("/srv/rotate")
    assert default_state_dir({"XDG_STATE_HOME": "/var/state"}) == Path("/var/state/gitops-mlops/rotate")
    assert build_parser().parse_args(["--user", "u", "--state-dir", "/x"]).state_dir == "/x"


def test_a_rotation_left_in_the_old_place_is_named_not_forgotten(tmp_path: Path, monkeypatch, capsys) -> None:
    """A rotation started by an earlier version (state in <root>/.stack/rotate) is not silently lost: the
    tool stops with one line saying where it is and how to carry it over."""
    from ops.rotate.cli import main

    old = tmp_path / "repo" / ".stack" / "rotate"
    old.mkdir(parents=True)
    (old / "trainer.json").write_text("{}")
    monkeypatch.setenv("MLOPS_ROTATE_STATE_DIR", str(tmp_path / "state"))
    assert main(["--user", "trainer", "--root", str(tmp_path / "repo"), "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: a rotation of trainer is recorded in {old / 'trainer.json'}")
    assert f"move it to {tmp_path / 'state'}/" in err and "\n" not in err
