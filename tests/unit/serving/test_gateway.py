"""Gateway lifecycle: stopping ends every loop, even one whose cancel got lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.unit.serving.fleet import Fleet, run

CONFIG = {
    "models": [
        {
            "name": "m",
            "registered_model": "reg",
            "strategy": "single",
            "variants": [{"name": "main", "alias": "champion", "weight": 100}],
        }
    ]
}


def test_stop_ends_a_loop_whose_cancel_was_swallowed(tmp_path: Path):
    """Defect: on Python 3.11 `asyncio.wait_for` in a store call can swallow a cancel that arrives as the
    call finishes; the loop then slept again and `stop()` waited for it forever (a hung shutdown)."""

    async def scenario() -> None:
        fleet = Fleet(CONFIG, tmp_path)
        fleet.registry.aliases[("reg", "champion")] = "1"
        gateway = await fleet.start()
        swallowed = asyncio.Event()

        async def step_that_loses_its_cancel() -> None:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                swallowed.set()  # finished "just as" the cancel came: the loop goes on to its sleep

        loop = gateway._forever("lossy", 3600.0, step_that_loses_its_cancel)
        gateway._tasks.append(asyncio.create_task(loop))
        await asyncio.sleep(0)
        fleet.replicas.pop(gateway.replica)
        await gateway.stop()
        assert swallowed.is_set() and all(task.done() for task in gateway._tasks)
        await fleet.close()

    run(scenario())
