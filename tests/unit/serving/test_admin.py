"""Admin service on an in-process fleet: a reload is recorded for the fleet before it takes effect."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from serving.errors import Unavailable
from tests.unit.serving.fleet import Fleet, run

CONFIG = {
    "resolve_interval_seconds": 600,  # the store decides what serves, not a re-resolve
    "sync_interval_seconds": 0.5,
    "models": [
        {
            "name": "m",
            "registered_model": "reg",
            "strategy": "ab",
            "variants": [
                {"name": "a", "alias": "a", "weight": 50},
                {"name": "b", "alias": "b", "weight": 50},
            ],
        }
    ],
}


def test_a_reload_whose_store_write_fails_changes_nothing_and_a_later_one_sticks(tmp_path: Path):
    """Defect: a failed store write during a reload was only logged: the replica served the new version,
    the store kept the old one, and the next sync loaded the older version again."""

    async def scenario() -> None:
        fleet = Fleet(CONFIG, tmp_path)
        fleet.registry.aliases.update({("reg", "a"): "1", ("reg", "b"): "1"})
        one, two = await fleet.start(), await fleet.start()
        await fleet.step(1.0)
        fleet.registry.aliases[("reg", "a")] = "2"

        def refused(*_: object) -> None:
            raise OperationalError("UPDATE rollout", {}, ConnectionResetError("connection reset"))

        write = one.store.write
        one.store.write = refused  # reads still work: only the write of the new version fails
        with pytest.raises(Unavailable, match="state store"):
            await one.admin.reload("a", "m", "ops")
        assert ("reg", "2") not in fleet.registry.loads, "loaded a version the fleet never recorded"
        assert fleet.record("m").aliases["a"] == "1"
        for _ in range(3):
            await fleet.step(1.0)
        assert [g.repository.slots[("m", "a")].served for g in (one, two)] == ["1", "1"]

        one.store.write = write
        answer = await one.admin.reload("a", "m", "ops")
        assert (answer["version"], answer["changed"]) == ("2", True)
        for _ in range(3):
            await fleet.step(1.0)
        assert fleet.record("m").aliases["a"] == "2"
        assert [g.repository.slots[("m", "a")].served for g in (one, two)] == ["2", "2"]
        moves = [(m.alias, m.from_version, m.to_version) for m in fleet.record("m").moves]
        assert moves == [("a", "1", "2")]
        await fleet.close()

    run(scenario())
