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
