"""The rollout record: one versioned document per model in the state store, the fleet's desired state.

Every replica converges to it (versions per alias, weights, active slot); only compare-and-set writes
change it (`revision` + 1), so a transition is written before it takes effect and two writers never
both win. It also carries what a crash must not lose: the alias moves a rollback walks back through,
the canary's step, and the operation (promotion, rollback) in flight with the state to restore.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any

MAX_MOVES = 20
CANARY_STATUSES = ("idle", "running", "aborted", "promoting", "promoted", "manual", "rolled_back")


@dataclass
class Move:
    """One change of an alias's version (what a rollback undoes)."""

    id: int
    alias: str
    from_version: str
    to_version: str
    kind: str
    actor: str
    at: float


@dataclass
class CanaryState:
    """Where the canary rollout stands."""

    status: str = "idle"
    step: int = 0
    step_started: float | None = None
    version: str | None = None
    reason: str | None = None
    rollout: int = 0


@dataclass
class Operation:
    """A promotion or rollback in flight: phase `mlflow` (move the alias), `converge` (the fleet loads
    it) or `compensate` (put the alias back); `restore` holds the weights, slot and canary to restore."""

    id: int
    kind: str
    alias: str
    from_version: str | None
    to_version: str
    actor: str
    started_at: float
    deadline: float
    phase: str = "mlflow"
    applied_at: float | None = None
    variant: str | None = None
    undo_move: int | None = None
    attempts: int = 0
    reason: str | None = None
    restore: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """How the last operation ended: `done` or `compensated`."""

    id: int
    kind: str
    alias: str
    from_version: str | None
    to_version: str
    result: str
    reason: str | None
    at: float


@dataclass
class RolloutRecord:
    """Desired state of one model across the fleet."""

    model: str
    weights: dict[str, int]
    revision: int = 0
    term: int = 0
    aliases: dict[str, str] = field(default_factory=dict)
    moves: list[Move] = field(default_factory=list)
    active: str | None = None
    canary: CanaryState = field(default_factory=CanaryState)
    operation: Operation | None = None
    last_operation: Outcome | None = None
    counter: int = 0

    def next_id(self) -> int:
        """A new id for a move or an operation (unique within the record)."""
        self.counter += 1
        return self.counter

    @property
    def phase(self) -> str:
        """`steady`, or the phase of the operation in flight."""
        return self.operation.phase if self.operation else "steady"

    def previous(self, alias: str) -> str | None:
        """The version the alias served before its last move (where a rollback takes it)."""
        for move in reversed(self.moves):
            if move.alias == alias:
                return move.from_version
        return None

    def push_move(
        self, alias: str, from_version: str, to_version: str, kind: str, actor: str, at: float
    ) -> Move:
        """Record a move (the oldest fall off past MAX_MOVES)."""
        move = Move(self.next_id(), alias, from_version, to_version, kind, actor, at)
        self.moves.append(move)
        del self.moves[:-MAX_MOVES]
        return move

    def copy(self) -> RolloutRecord:
        """A deep copy to change and write back."""
        return copy.deepcopy(self)

    def as_json(self) -> dict[str, Any]:
        """The stored document (revision is its own column)."""
        data = asdict(self)
        data.pop("revision")
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], revision: int) -> RolloutRecord:
        """Inverse of `as_json`."""
        operation = data.get("operation")
        outcome = data.get("last_operation")
        return cls(
            model=data["model"],
            weights={k: int(v) for k, v in data.get("weights", {}).items()},
            revision=revision,
            term=int(data.get("term", 0)),
            aliases={k: str(v) for k, v in data.get("aliases", {}).items()},
            moves=[Move(**m) for m in data.get("moves", [])],
            active=data.get("active"),
            canary=CanaryState(**data.get("canary", {})),
            operation=Operation(**operation) if operation else None,
            last_operation=Outcome(**outcome) if outcome else None,
            counter=int(data.get("counter", 0)),
        )
