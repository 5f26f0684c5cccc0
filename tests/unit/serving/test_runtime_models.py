"""Runtime models: added, updated and deleted through one replica, served by every replica of the store,
kept across restarts (and store outages at restart); Git-declared models refused with 409."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.errors import Conflict, Invalid, NotFound, Unavailable
from tests.unit.serving.fleet import Fleet, run

GIT = {
    "models": [
        {
            "name": "iris",
            "registered_model": "iris",
            "strategy": "single",
            "variants": [{"name": "main", "alias": "champion", "weight": 100}],
        }
    ],
    "sync_interval_seconds": 0.1,
}
CHURN = {
    "registered_model": "churn",
    "strategy": "ab",
    "variants": [
        {"name": "a", "alias": "champion", "weight": 80},
        {"name": "b", "alias": "challenger", "weight": 20},
    ],
}


async def _fleet(folder: Path) -> Fleet:
    fleet = Fleet(GIT, folder)
    fleet.registry.aliases.update(
        {("iris", "champion"): "1", ("churn", "champion"): "3", ("churn", "challenger"): "4"}
    )
    for _ in range(2):
        await fleet.start()
    await fleet.step()
    return fleet


def _served(gateway, model: str) -> dict[str, str | None]:
    return {name: v.version for name, v in gateway.models[model].variants.items()}


def test_a_model_added_on_one_replica_is_served_by_every_replica_and_survives_restarts(tmp_path):
    async def scenario():
        fleet = await _fleet(tmp_path)
        first, second = fleet.replicas.values()
        status, body = await first.catalog.declare("churn", CHURN, "backend")
        assert status == 201 and body["changed"] and body["managed_by"] == "api"
        for _ in range(3):
            await fleet.step(1.0)
        for gateway in (first, second):
            assert _served(gateway, "churn") == {"a": "3", "b": "4"}
            assert gateway.models["churn"].weights == {"a": 80, "b": 20}
            assert gateway.ready() == []
        assert len(fleet.leaders("churn")) == 1

        fleet.kill(next(iter(fleet.replicas)))  # kill -9, then a new pod
        third = await fleet.start()
        await fleet.step(1.0)
        assert _served(third, "churn") == {"a": "3", "b": "4"}

        fleet.store_down = True  # a pod that starts while the store is down serves from its cache
        await fleet.stop(third.replica)
        again = await fleet.start(third.replica)
        await fleet.step(1.0)
        assert _served(again, "churn") == {"a": "3", "b": "4"}
        fleet.store_down = False
        await fleet.close()

    run(scenario())


def test_the_same_spec_twice_changes_nothing_and_weights_move_through_the_record(tmp_path):
    async def scenario():
        fleet = await _fleet(tmp_path)
        first, second = fleet.replicas.values()
        await first.catalog.declare("churn", CHURN, "backend")
        await fleet.step(1.0)
        loads = len(fleet.registry.loads)
        status, body = await second.catalog.declare("churn", CHURN, "backend")
        assert (status, body["changed"], body["generation"]) == (200, False, 1)

        shifted = {
            **CHURN,
            "variants": [{**CHURN["variants"][0], "weight": 50}, {**CHURN["variants"][1], "weight": 50}],
        }
        status, body = await second.catalog.declare("churn", shifted, "backend")
        assert (status, body["changed"], body["generation"]) == (200, True, 1)
        await fleet.step(1.0)
        assert fleet.record("churn").weights == {"a": 50, "b": 50}
        assert all(g.models["churn"].weights == {"a": 50, "b": 50} for g in fleet.replicas.values())
        assert len(fleet.registry.loads) == loads  # no version was reloaded

        single = {
            "registered_model": "churn",
            "variants": [{"name": "only", "alias": "challenger", "weight": 100}],
        }
        status, body = await first.catalog.declare("churn", single, "backend")
        assert body["generation"] == 2
        await fleet.step(1.0)
        await fleet.step(1.0)
        for gateway in fleet.replicas.values():
            assert _served(gateway, "churn") == {"only": "4"}
            assert ("churn", "champion") not in gateway.repository.slots
        assert fleet.record("churn").weights == {"only": 100}
        await fleet.close()

    run(scenario())


def test_delete_drops_the_model_everywhere_and_git_models_are_refused(tmp_path):
    async def scenario():
        fleet = await _fleet(tmp_path)
        first, second = fleet.replicas.values()
        with pytest.raises(Conflict, match="managed by Git"):
            await first.catalog.declare("iris", CHURN, "backend")
        with pytest.raises(Conflict, match="managed by Git"):
            await first.catalog.withdraw("iris", "backend")
        with pytest.raises(NotFound):
            await first.catalog.withdraw("churn", "backend")

        await first.catalog.declare("churn", CHURN, "backend")
        await fleet.step(1.0)
        assert await second.catalog.withdraw("churn", "backend") == {"name": "churn", "deleted": True}
        await fleet.step(1.0)
        for gateway in fleet.replicas.values():
            assert "churn" not in gateway.models and "churn" not in gateway.sync.records
            assert [m.name for m in gateway.config.models] == ["iris"]
            assert gateway.ready() == []
        assert fleet.record("churn") is None
        kinds = [(e["type"], e["model"]) for e in fleet.events()]
        assert ("model_declared", "churn") in kinds and ("model_deleted", "churn") in kinds
        await fleet.close()

    run(scenario())


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({**CHURN, "strategy": "blue"}, "strategy"),
        ({**CHURN, "variants": [{"name": "a", "alias": "champion", "weight": 101}]}, "variants.0.weight"),
        (
            {**CHURN, "variants": [{"name": "a", "alias": "champion", "weight": 60}]},
            "weights of the non-shadow",
        ),
        ({**CHURN, "replicas": 3}, "replicas"),
        ({**CHURN, "name": "other"}, "name"),
        ({"strategy": "single"}, "registered_model"),
    ],
)
def test_a_bad_spec_is_refused_with_one_line_naming_the_field(tmp_path, spec, field):
    async def scenario():
        fleet = await _fleet(tmp_path)
        gateway = next(iter(fleet.replicas.values()))
        with pytest.raises(Invalid) as refused:
            await gateway.catalog.declare("churn", spec, "backend")
        assert field in refused.value.message and "\n" not in refused.value.message
        assert "churn" not in gateway.models
        await fleet.close()

    run(scenario())


def test_a_declaration_needs_the_store(tmp_path):
    async def scenario():
        fleet = await _fleet(tmp_path)
        gateway = next(iter(fleet.replicas.values()))
        fleet.store_down = True
        await fleet.step(1.0)
        with pytest.raises(Unavailable):
            await gateway.catalog.declare("churn", CHURN, "backend")
        fleet.store_down = False
        await fleet.close()

    run(scenario())


def test_the_declaration_says_when_every_alive_replica_serves_the_targets(tmp_path):
    async def scenario():
        fleet = await _fleet(tmp_path)
        first, second = fleet.replicas.values()
        await first.catalog.declare("churn", CHURN, "backend")
        assert not first.catalog.describe("churn")["fleet"]["converged"]  # the second has not seen it
        for _ in range(3):
            await fleet.step(1.0)
        fleet_view = second.catalog.describe("churn")["fleet"]
        assert fleet_view["converged"] and fleet_view["serving"] == sorted(fleet.replicas)
        assert fleet_view["targets"] == {"a": "3", "b": "4"}
        assert first.catalog.describe("iris")["managed_by"] == "git"
        await fleet.close()

    run(scenario())


@pytest.mark.parametrize(
    "redeclared",
    [
        {**CHURN, "variants": [{"name": "only", "alias": "challenger", "weight": 100}], "strategy": "single"},
        {
            **CHURN,
            "variants": [{**CHURN["variants"][0], "weight": 30}, {**CHURN["variants"][1], "weight": 70}],
        },
    ],
    ids=["other-structure", "same-structure-other-weights"],
)
def test_a_model_deleted_and_declared_again_between_two_sync_rounds_is_rebuilt_everywhere(
    tmp_path, redeclared
):
    """Defect: the re-created row starts again at generation 1, and a replica that had not polled
    between the DELETE and the PUT took it for a weights-only change and kept serving the old variants."""

    async def scenario():
        fleet = await _fleet(tmp_path)
        first, second = fleet.replicas.values()
        await first.catalog.declare("churn", CHURN, "backend")
        await fleet.step(1.0)
        assert second.models["churn"].weights == {"a": 80, "b": 20}
        await first.catalog.withdraw("churn", "backend")  # a redeploy: DELETE then PUT at once
        await first.catalog.declare("churn", redeclared, "backend")
        for _ in range(3):
            await fleet.step(1.0)
        wanted = {v["name"]: v["weight"] for v in redeclared["variants"]}
        assert fleet.record("churn").weights == wanted
        for gateway in (first, second):
            assert set(gateway.models["churn"].variants) == set(wanted)
            assert gateway.models["churn"].weights == wanted

    run(scenario())


def test_a_weights_change_whose_traffic_write_fails_is_applied_when_the_call_is_repeated(tmp_path):
    """Defect: the row took the new weights before the record did; when the record's write failed (a
    503), the repeated PUT found an identical spec, answered `changed: false`, and the fleet kept the
    old weights while the declaration showed the new ones."""

    async def scenario():
        fleet = await _fleet(tmp_path)
        first = next(iter(fleet.replicas.values()))
        await first.catalog.declare("churn", CHURN, "backend")
        await fleet.step(1.0)
        shifted = {
            **CHURN,
            "variants": [{**CHURN["variants"][0], "weight": 50}, {**CHURN["variants"][1], "weight": 50}],
        }
        set_traffic = first.admin.set_traffic

        async def store_lost(*_: object) -> None:
            raise Unavailable("state store unavailable: admin changes need it; retry later")

        first.admin.set_traffic = store_lost  # the store goes down between the two writes
        with pytest.raises(Unavailable):
            await first.catalog.declare("churn", shifted, "backend")
        first.admin.set_traffic = set_traffic
        await first.catalog.declare("churn", shifted, "backend")  # the client retries the 503
        await fleet.step(1.0)
        assert fleet.record("churn").weights == {"a": 50, "b": 50}
        assert all(g.models["churn"].weights == {"a": 50, "b": 50} for g in fleet.replicas.values())
        await fleet.close()

    run(scenario())


def test_two_replicas_creating_one_model_at_once_both_succeed(tmp_path):
    """Defect: both saw no row, the second insert hit the primary key, and its caller got a 503 "state
    store unavailable" although the store was fine (two control replicas deploying one new model)."""
    from sqlalchemy import create_engine, event

    from serving import runtime_models
    from serving.config import parse_config
    from serving.store import metadata

    url = f"sqlite:///{tmp_path / 'race.db'}"
    engine, rival = create_engine(url), create_engine(url)
    metadata.create_all(engine)
    git = parse_config(GIT)
    mine = runtime_models.validate(CHURN, "churn", git)
    theirs = runtime_models.validate(
        {
            **CHURN,
            "variants": [{**CHURN["variants"][0], "weight": 50}, {**CHURN["variants"][1], "weight": 50}],
        },
        "churn",
        git,
    )
    raced: list[bool] = []

    @event.listens_for(engine, "before_cursor_execute")
    def rival_inserts_first(conn, cursor, statement, *_):
        if statement.startswith("INSERT INTO serving_runtime_model") and not raced:
            raced.append(True)
            runtime_models.put(rival, theirs, "other replica")

    stored, changed, _ = runtime_models.put(engine, mine, "backend")
    assert raced and changed and stored.config == mine
    assert runtime_models.read_all(engine)["churn"].config == mine
    engine.dispose()
    rival.dispose()
