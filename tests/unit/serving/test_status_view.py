"""Status view on an in-process fleet: readiness lets the first release happen and says what it waits for."""

from __future__ import annotations

import contextlib
from pathlib import Path

from serving.errors import Unavailable
from tests.unit.serving.fleet import Fleet, run

CONFIG = {
    "models": [
        {
            "name": "m",
            "registered_model": "reg",
            "strategy": "canary",
            "variants": [
                {"name": "champion", "alias": "champion", "weight": 90},
                {"name": "challenger", "alias": "challenger", "weight": 10},
            ],
            "canary": {"steps": [50, 100]},
        }
    ],
}


def test_a_missing_alias_waits_without_blocking_and_a_store_outage_only_degrades(tmp_path: Path):
    async def scenario() -> None:
        fleet = Fleet(CONFIG, tmp_path)
        fleet.registry.aliases[("reg", "champion")] = "1"  # no challenger yet: the first release
        gateway = await fleet.start()
        await fleet.step(1.0)
        body = gateway.view.readiness()
        assert (body["ready"], body["missing"], body["degraded"]) == (True, [], False)
        assert [w.split(":")[0] for w in body["waiting"]] == ["m/challenger (alias challenger)"]
        assert gateway.missing("m") == []

        fleet.store_down = True
        await fleet.step(1.0)
        body = gateway.view.readiness()
        assert (body["ready"], body["degraded"]) == (True, True), body
        assert "state store" in body["degraded_reason"]

        fleet.store_down = False
        await fleet.step(1.0)
        fleet.registry.aliases[("reg", "challenger")] = "2"
        fleet.registry.broken.add(("reg", "2"))
        with contextlib.suppress(Unavailable):  # recorded for the fleet, then the load fails
            await gateway.admin.reload("challenger", "m", "ops")
        await fleet.step(1.0)
        assert fleet.record("m").aliases.get("challenger") == "2"
        missing = gateway.missing("m")
        assert len(missing) == 1 and missing[0].startswith("m/challenger (alias challenger): "), missing
        assert gateway.view.readiness()["ready"] is False
        await fleet.close()

    run(scenario())
