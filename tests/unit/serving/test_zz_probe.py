from tests.unit.serving.test_runtime_models import CHURN, _fleet, _served
from tests.unit.serving.fleet import run

CANARY = {
    "registered_model": "churn",
    "strategy": "canary",
    "canary": {"steps": [10, 50, 100], "interval_seconds": 5},
    "variants": [
        {"name": "a", "alias": "champion", "weight": 90},
        {"name": "b", "alias": "challenger", "weight": 10},
    ],
}


def test_probe_delete_mid_promotion(tmp_path):
    async def scenario():
        fleet = await _fleet(tmp_path)
        first, second = fleet.replicas.values()
        await first.catalog.declare("churn", CHURN, "backend")
        for _ in range(3):
            await fleet.step(1.0)
        status, body = await second.admin.promote("churn", "ops")
        print("promote", status, body)
        await first.catalog.withdraw("churn", "backend")
        for _ in range(3):
            await fleet.step(1.0)
        print("aliases", fleet.registry.aliases)
        status, body = await second.catalog.declare("churn", CHURN, "backend")
        for _ in range(3):
            await fleet.step(1.0)
        for g in fleet.replicas.values():
            print(_served(g, "churn"), g.models["churn"].weights, g.ready())
        print(fleet.record("churn"))
        await fleet.close()

    run(scenario())
