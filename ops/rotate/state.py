"""The rotation's progress on disk, so an interrupted run can be resumed (never holds a secret)."""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ops.seal.io import write_atomic

STATE_DIR_ENV = "MLOPS_ROTATE_STATE_DIR"

CREATED = "created"  # saved before CreateAccessKey: a crash here is rolled back by --resume
SEALED = "sealed"  # the new key verified and sealed into every target; both keys active
DEACTIVATED = "deactivated"  # every consumer restarted on the new key; the old key inactive
PHASES = (CREATED, SEALED, DEACTIVATED)


def default_state_dir(environ: dict[str, str] | None = None) -> Path:
    """Where rotations keep their progress unless --state-dir says otherwise: $MLOPS_ROTATE_STATE_DIR,
    else $XDG_STATE_HOME/gitops-mlops/rotate, else ~/.local/state/gitops-mlops/rotate. Outside the
    repository on purpose: `make clean` and a fresh clone must never lose a rotation in progress."""
    env = os.environ if environ is None else environ
    if env.get(STATE_DIR_ENV):
        return Path(env[STATE_DIR_ENV]).expanduser()
    base = Path(env["XDG_STATE_HOME"]).expanduser() if env.get("XDG_STATE_HOME") else None
    return (base or Path.home() / ".local" / "state") / "gitops-mlops" / "rotate"


def legacy_state_file(root: Path, user: str) -> Path:
    """Where versions before MLOPS_ROTATE_STATE_DIR kept a rotation's progress (`make clean` deletes it)."""
    return root / ".stack" / "rotate" / f"{user}.json"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class State:
    """Where the rotation of one IAM user stands."""

    user: str
    old_key_id: str
    new_key_id: str
    phase: str
    verified_at: str
    files: list[str] = field(default_factory=list)
    branch: str | None = None
    deactivated_at: str | None = None
    # The Secrets the targets create in the clusters and their consumers (SecretConsumers fields).
    secrets: list[dict[str, Any]] = field(default_factory=list)
    # Each target's text before the rotation (SealedSecret ciphertext, as in git): a rollback writes it back.
    originals: dict[str, str] = field(default_factory=dict)

    def deactivated_time(self) -> dt.datetime | None:
        return dt.datetime.fromisoformat(self.deactivated_at) if self.deactivated_at else None


class StateStore:
    """One JSON file per IAM user under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, user: str) -> Path:
        return self.directory / f"{user}.json"

    def load(self, user: str) -> State | None:
        path = self.path(user)
        if not path.is_file():
            return None
        return State(**json.loads(path.read_text(encoding="utf-8")))

    def save(self, state: State) -> None:
        write_atomic(self.path(state.user), json.dumps(asdict(state), indent=2) + "\n", mode=0o600)

    def clear(self, user: str) -> None:
        """Forget a rotation that was rolled back (nothing of it remains in IAM or the files)."""
        self.path(user).unlink(missing_ok=True)

    def finish(self, state: State) -> None:
        """Archive the state of a finished rotation (history) and clear the in-progress file."""
        stamp = now().strftime("%Y%m%dT%H%M%SZ")
        write_atomic(
            self.directory / "done" / f"{state.user}-{stamp}.json",
            json.dumps({**asdict(state), "originals": {}}, indent=2),
        )
        self.path(state.user).unlink(missing_ok=True)
