"""Models added at runtime (by the control API), stored next to the rollout records.

Git declares the gateway's models in its config file; a model added over the admin API is a row of
`serving_runtime_model` (its spec: the same document as one entry of the config's `models`, validated
by the same rules). Every replica serves the Git models plus these rows (`serving.catalog` applies
them), so a runtime model survives restarts and is served by every replica.

Writing a spec whose variants changed replaces the model's rollout record in the same transaction
(with a higher revision, so a replica still acting on the old spec loses its compare-and-set);
deleting the row deletes the record too.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from loguru import logger
from pydantic import ValidationError
from sqlalchemy import JSON, Column, Float, Integer, String, Table, delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from serving.config import ModelConfig, ServingConfig
from serving.errors import Conflict, Invalid
from serving.rollout import initial_record
from serving.store import metadata, rollout

runtime_models = Table(
    "serving_runtime_model",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("generation", Integer, nullable=False),
    Column("spec", JSON, nullable=False),
    Column("actor", String(255)),
    Column("updated_at", Float, nullable=False),
)


@dataclass(frozen=True)
class RuntimeModel:
    """One stored runtime model: its validated config and the generation of its spec."""

    config: ModelConfig
    generation: int
    actor: str | None
    updated_at: float

    def as_json(self) -> dict[str, Any]:
        """The spec as stored, with its generation."""
        return {
            "spec": spec_of(self.config),
            "generation": self.generation,
            "actor": self.actor,
            "updated_at": self.updated_at,
        }


def spec_of(config: ModelConfig) -> dict[str, Any]:
    """The JSON document of one model config (defaults included, so equal configs compare equal)."""
    return json.loads(config.model_dump_json())


def structure(config: ModelConfig) -> dict[str, Any]:
    """The spec without the variants' weights: what needs a new runtime when it changes (weights do
    not: they live in the rollout record and change with a traffic call)."""
    spec = spec_of(config)
    for variant in spec["variants"]:
        variant["weight"] = 0
    return spec


def validate(spec: object, name: str, git: ServingConfig) -> ModelConfig:
    """The spec as a model config (the config file's rules), or 422/409 with one line naming the field."""
    if not isinstance(spec, dict):
        raise Invalid("the body must be a JSON object: one model of the gateway config")
    body = {**spec, "name": spec.get("name", name)}
    if body["name"] != name:
        raise Invalid(f"name: {body['name']!r} differs from the model in the path ({name!r})")
    try:
        config = ModelConfig.model_validate(body)
    except ValidationError as error:
        raise Invalid(describe_error(error)) from None
    if git.model(name) is not None:
        raise Conflict(f"model {name!r} is managed by Git: change it in the gateway config")
    try:  # the fleet's whole config must stay valid with it
        ServingConfig.model_validate({**git.model_dump(), "models": [*git.models, config]})
    except ValidationError as error:
        raise Invalid(describe_error(error)) from None
    return config


def describe_error(error: ValidationError) -> str:
    """One line: the first bad field and what is wrong with it."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top level)"
    return f"{where}: {str(first['msg']).removeprefix('Value error, ')}"


# -- blocking store accessors (called through `Store.run`) ------------------------------------------------
def read_all(engine: Engine) -> dict[str, RuntimeModel]:
    """Every runtime model by name (a row that no longer validates is skipped, with a warning)."""
    with engine.connect() as conn:
        rows = conn.execute(select(runtime_models)).mappings().all()
    found: dict[str, RuntimeModel] = {}
    for row in rows:
        try:
            config = ModelConfig.model_validate(row["spec"])
        except ValidationError as error:  # e.g. stored by a gateway version with other rules
            logger.warning("runtime model {} not served: {}", row["name"], describe_error(error))
            continue
        found[row["name"]] = RuntimeModel(config, row["generation"], row["actor"], row["updated_at"])
    return found


def put(engine: Engine, config: ModelConfig, actor: str) -> tuple[RuntimeModel, bool, bool]:
    """Create or replace a runtime model: (stored model, changed at all, structure changed).

    A new model, or one whose variants or strategy changed, gets a fresh rollout record in the same
    transaction; a weights-only change keeps the record (the caller sets the weights through it).
    Two callers creating one model at once: the one whose insert loses updates the winner's row."""
    try:
        return _put_once(engine, config, actor)
    except IntegrityError:
        return _put_once(engine, config, actor)


def _put_once(engine: Engine, config: ModelConfig, actor: str) -> tuple[RuntimeModel, bool, bool]:
    spec, now = spec_of(config), time.time()
    with engine.begin() as conn:
        row = (
            conn.execute(select(runtime_models).where(runtime_models.c.name == config.name))
            .mappings()
            .first()
        )
        if row is not None and row["spec"] == spec:
            return RuntimeModel(config, row["generation"], row["actor"], row["updated_at"]), False, False
        reshaped = row is None or structure(ModelConfig.model_validate(row["spec"])) != structure(config)
        generation = 1 if row is None else row["generation"] + (1 if reshaped else 0)
        values = {"generation": generation, "spec": spec, "actor": actor, "updated_at": now}
        if row is None:
            conn.execute(insert(runtime_models).values(name=config.name, **values))
        else:
            conn.execute(update(runtime_models).where(runtime_models.c.name == config.name).values(**values))
        if reshaped:
            _reset_record(conn, config, now)
    return RuntimeModel(config, generation, actor, now), True, reshaped


def remove(engine: Engine, name: str) -> bool:
    """Delete a runtime model and its rollout record; False when there was none."""
    with engine.begin() as conn:
        gone = conn.execute(delete(runtime_models).where(runtime_models.c.name == name)).rowcount
        conn.execute(delete(rollout).where(rollout.c.model == name))
    return gone == 1


def _reset_record(conn: Any, config: ModelConfig, now: float) -> None:
    record = initial_record(config).as_json()
    current = conn.execute(select(rollout.c.revision).where(rollout.c.model == config.name)).scalar()
    if current is None:
        conn.execute(insert(rollout).values(model=config.name, revision=1, record=record, updated_at=now))
    else:
        statement = update(rollout).where(rollout.c.model == config.name)
        conn.execute(statement.values(revision=current + 1, record=record, updated_at=now))
